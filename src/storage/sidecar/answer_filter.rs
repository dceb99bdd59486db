//! A Bloom filter over the (scope, key) pairs of one run of stored answers: "not in the run" for
//! sure, or "maybe". Positions come from SHA-256 of the pair, so a filter written by one build
//! reads the same in the next (Rust's own hasher is not stable across versions).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::vocab::limits::{answer_filter_bits_per_key, answer_filter_hashes};

/// The two 64-bit halves every position of a pair is derived from (double hashing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairPositions(u64, u64);

impl PairPositions {
    pub fn of(scope: &str, key: &str) -> PairPositions {
        // Scopes and keys are printable text, so a 0 byte cannot occur in either: the joined
        // form is unambiguous.
        let digest = Sha256::new().chain_update(scope).chain_update([0u8]).chain_update(key).finalize();
        let half = |range: std::ops::Range<usize>| {
            u64::from_le_bytes(digest[range].try_into().expect("a SHA-256 digest has 32 bytes"))
        };
        // An odd stride visits distinct positions for every power-of-two size and most others.
        PairPositions(half(0..8), half(8..16) | 1)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerFilter {
    hashes: u32,
    words: Vec<u64>,
}

impl AnswerFilter {
    /// An empty filter sized for `len` pairs.
    pub fn with_capacity(len: usize) -> AnswerFilter {
        let bits = len.max(1).saturating_mul(answer_filter_bits_per_key);
        AnswerFilter { hashes: answer_filter_hashes, words: vec![0; bits.div_ceil(64)] }
    }

    pub fn insert(&mut self, hash: PairPositions) {
        for position in self.positions(hash) {
            self.words[position / 64] |= 1 << (position % 64);
        }
    }

    /// `false` only when the pair was never inserted.
    pub fn may_contain(&self, hash: PairPositions) -> bool {
        // A stored filter is decoded from the file: an empty one answers "maybe" for every pair
        // (the run is then read, never wrongly skipped).
        self.words.is_empty()
            || self.positions(hash).all(|position| self.words[position / 64] & (1 << (position % 64)) != 0)
    }

    /// The bit positions of a pair; only called on a filter with at least one word.
    fn positions(&self, PairPositions(first, stride): PairPositions) -> impl Iterator<Item = usize> + use<> {
        let bits = self.words.len() as u64 * 64;
        (0..u64::from(self.hashes)).map(move |i| {
            usize::try_from(first.wrapping_add(i.wrapping_mul(stride)) % bits).expect("below the filter's length")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_inserted_pair_is_found_and_few_others_are() {
        let mut filter = AnswerFilter::with_capacity(1000);
        for i in 0..1000 {
            filter.insert(PairPositions::of("company:cmp_1", &format!("key-{i}")));
        }
        assert!((0..1000).all(|i| filter.may_contain(PairPositions::of("company:cmp_1", &format!("key-{i}")))));
        let false_positives = (0..10_000)
            .filter(|i| filter.may_contain(PairPositions::of("company:cmp_1", &format!("other-{i}"))))
            .count();
        // 16 bits and 11 positions per pair give about 0.05 % (5 of 10 000); 30 would mean the
        // positions cluster.
        assert!(false_positives < 30, "{false_positives} of 10 000 fresh pairs looked present");
    }

    #[test]
    fn the_scope_is_part_of_the_pair_and_the_hash_is_stable() {
        assert_ne!(PairPositions::of("company:a", "k"), PairPositions::of("company:b", "k"));
        assert_ne!(PairPositions::of("a", "bc"), PairPositions::of("ab", "c"));
        // Filters are stored: the positions of a pair must never change between builds.
        assert_eq!(PairPositions::of("company:cmp_1", "key-1"), PairPositions::of("company:cmp_1", "key-1"));
        let PairPositions(first, stride) = PairPositions::of("s", "k");
        let digest = Sha256::digest(b"s\0k");
        assert_eq!(first, u64::from_le_bytes(digest[0..8].try_into().expect("8 bytes")));
        assert_eq!(stride, u64::from_le_bytes(digest[8..16].try_into().expect("8 bytes")) | 1);
    }

    #[test]
    fn a_filter_survives_encoding_and_an_empty_one_says_maybe() {
        let mut filter = AnswerFilter::with_capacity(10);
        filter.insert(PairPositions::of("s", "k"));
        let decoded: AnswerFilter =
            crate::storage::codec::decode("filters", &crate::storage::codec::encode(&filter)).expect("decodes");
        assert_eq!(decoded, filter);
        let empty = AnswerFilter { hashes: 7, words: Vec::new() };
        assert!(empty.may_contain(PairPositions::of("s", "k")));
    }
}
