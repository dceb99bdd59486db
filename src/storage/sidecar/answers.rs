//! The sidecar's stored idempotent answers (DESIGN §5: kept forever), written without an insert
//! at a random key per request. Partners' keys are random, and such an insert rewrote a leaf and
//! its branch pages of an ever-growing table in every commit: about three quarters of what the
//! sidecar wrote per hold+capture pair (BENCHMARKS.md, runs 15).
//!
//! An answer is appended to the answer log (`SIDECAR_ANSWER_LOG`, kept forever) in the commit of
//! its work, and an index in memory maps its (scope, key) to its place there. A batch's answers
//! go into one log entry (a page), under the seq of its first answer: one insert per commit
//! instead of one per answer, and one contiguous write (BENCHMARKS.md, runs 16). When that index
//! holds `sidecar_answer_log_len_max` committed answers, the request that finds it full also
//! writes them, sorted, as one run of the log's index on disk (`SIDECAR_ANSWER_RUNS`: (run,
//! scope, key) → seq, written once in key order) with a Bloom filter (`SIDECAR_ANSWER_FILTERS`,
//! kept in memory), in its own commit. A lookup tries the memory index, then each run newest
//! first whose filter says "maybe", then `IDEMPOTENCY`, where a file from before schema 4 keeps
//! its answers.
//!
//! Everything here runs on the writer thread. The memory follows only what committed: a batch's
//! changes are visible to the batch at once and confirmed or undone by `Tx::on_outcome`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use redb::{ReadableTable, ReadableTableMetadata};
use serde::{Deserialize, Serialize};

use crate::storage::codec::{decode, encode};
use crate::storage::idempotency::{IdempotencyRecord, Recall};
use crate::storage::schema::{IDEMPOTENCY, SIDECAR_ANSWER_FILTERS, SIDECAR_ANSWER_LOG};
use crate::storage::sidecar::answer_filter::{AnswerFilter, PairPositions};
use crate::storage::{Reader, Store, StoreError, Tx};
use crate::vocab::limits::sidecar_answer_log_len_max;

/// (scope, key) of a stored answer.
type Pair = (String, String);

/// First byte of a log entry that holds a batch's answers (a page): then, for each answer in
/// seq order, its length (u32, little-endian) and its record. An entry written before pages
/// holds one answer, as a record, which starts with the codec's tag or `{`, never with 0.
const PAGE_TAG: u8 = 0;

/// A stored answer as the log keeps it (a run keeps only its seq).
#[derive(Debug, Serialize)]
struct LoggedAnswer<'a> {
    scope: &'a str,
    key: &'a str,
    record: &'a IdempotencyRecord,
}

#[derive(Debug, Deserialize)]
struct StoredAnswer {
    record: IdempotencyRecord,
}

/// A run as `SIDECAR_ANSWER_FILTERS` keeps it: it indexes every logged answer up to
/// `through_seq` that no earlier run indexes.
#[derive(Debug, Serialize, Deserialize)]
struct RunRecord {
    through_seq: u64,
    filter: AnswerFilter,
}

/// Only the pair, to rebuild the log's index at start.
#[derive(Debug, Deserialize)]
struct StoredPair {
    scope: String,
    key: String,
}

#[derive(Debug)]
struct Run {
    id: u64,
    filter: AnswerFilter,
}

#[derive(Debug, Default)]
struct Index {
    /// (scope, key) → log seq, of the answers committed to the log.
    logged: HashMap<Pair, u64>,
    /// The same, for the answers of the batch being written.
    pending: HashMap<Pair, u64>,
    /// Every run, oldest first; one written by the batch being written is already here.
    runs: Vec<Run>,
    /// A run is being written by the batch: its answers leave `logged` only at the commit.
    writing_run: bool,
    /// The batch's answers (seq, record), written as one page before its commit.
    page: Vec<(u64, Vec<u8>)>,
}

/// The stored answers of one sidecar's database; shared by the requests, used by the writer.
#[derive(Debug)]
pub struct Answers {
    index: Mutex<Index>,
    log_len_max: usize,
    /// Whether `IDEMPOTENCY` holds answers from before schema 4; nothing adds to it since, so a
    /// file without any never reads it.
    has_old_answers: bool,
}

impl Answers {
    /// Reads the log's pairs and the runs' filters of `store`.
    pub fn load(store: &Store) -> Result<Arc<Answers>, StoreError> {
        Answers::load_with(store, sidecar_answer_log_len_max)
    }

    /// `load` with another log length, for tests that fill the log.
    pub fn load_with(store: &Store, log_len_max: usize) -> Result<Arc<Answers>, StoreError> {
        let (index, has_old_answers) = store
            .read_blocking(|reader| Ok((load_index(reader)?, !reader.txn.open_table(IDEMPOTENCY)?.is_empty()?)))?;
        Ok(Arc::new(Answers { index: Mutex::new(index), log_len_max: log_len_max.max(1), has_old_answers }))
    }

    fn index(&self) -> MutexGuard<'_, Index> {
        // Only the writer thread locks it, and a panic there aborts the process.
        self.index.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What (scope, key) already means for a request with `fingerprint`, as of this batch.
    pub fn recall(&self, tx: &Tx<'_>, scope: &str, key: &str, fingerprint: &str) -> Result<Recall, StoreError> {
        let found = self.find(tx, scope, key)?;
        Ok(match found {
            None => Recall::Fresh,
            Some(record) if record.fingerprint == fingerprint => Recall::Replay(record),
            Some(_) => Recall::Mismatch,
        })
    }

    fn find(&self, tx: &Tx<'_>, scope: &str, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        let index = self.index();
        let pair = (scope.to_owned(), key.to_owned());
        let mut seq = index.pending.get(&pair).or_else(|| index.logged.get(&pair)).copied();
        if seq.is_none() {
            let hash = PairPositions::of(scope, key);
            for run in index.runs.iter().rev().filter(|run| run.filter.may_contain(hash)) {
                seq = tx.sidecar_answer_runs_table()?.get((run.id, scope, key))?.map(|s| s.value());
                if seq.is_some() {
                    break;
                }
            }
        }
        if let Some(seq) = seq {
            if let Some((_, bytes)) = index.page.iter().find(|(s, _)| *s == seq) {
                return Ok(Some(decode::<StoredAnswer>("sidecar_answer_log", bytes)?.record));
            }
            let missing = || StoreError::Corrupt {
                table: "sidecar_answer_log",
                detail: format!("answer {seq}, indexed for ({scope}, {key}), is missing"),
            };
            let log = tx.sidecar_answer_log_table()?;
            let entry = log.range(..=seq)?.next_back().transpose()?.ok_or_else(missing)?;
            let answers = entry_answers(entry.0.value(), entry.1.value())?;
            let (_, bytes) = answers.into_iter().find(|(s, _)| *s == seq).ok_or_else(missing)?;
            return Ok(Some(decode::<StoredAnswer>("sidecar_answer_log", bytes)?.record));
        }
        if !self.has_old_answers {
            return Ok(None);
        }
        // Answers stored before schema 4, in the table central uses.
        let old = tx.idempotency_table()?.get((scope, key))?.map(|bytes| decode("idempotency", bytes.value()));
        old.transpose()
    }

    /// Stores a final answer in the batch of the work it answers for. The caller found the key
    /// fresh (`recall`) in this batch.
    pub fn remember(
        self: &Arc<Self>,
        tx: &mut Tx<'_>,
        scope: &str,
        key: &str,
        record: &IdempotencyRecord,
    ) -> Result<(), StoreError> {
        let seq = tx.next("answer")?;
        let bytes = encode(&LoggedAnswer { scope, key, record });
        let (first_of_batch, log_full) = {
            let mut index = self.index();
            index.pending.insert((scope.to_owned(), key.to_owned()), seq);
            index.page.push((seq, bytes));
            (index.page.len() == 1, !index.writing_run && index.logged.len() >= self.log_len_max)
        };
        if first_of_batch {
            let answers = Arc::clone(self);
            tx.before_commit(move |tx| answers.write_page(tx));
            // One hook for all the batch's answers: committed, they join the log's index; and a
            // batch that failed before its page was written leaves nothing for the next.
            let answers = Arc::clone(self);
            tx.on_outcome(move |committed| {
                let mut index = answers.index();
                let Index { pending, logged, page, .. } = &mut *index;
                page.clear();
                if committed {
                    logged.extend(pending.drain());
                } else {
                    pending.clear();
                }
            });
        }
        if log_full { self.write_run(tx) } else { Ok(()) }
    }

    /// Writes the batch's answers as one page under the seq of its first (they are consecutive:
    /// only `remember` takes answer seqs).
    fn write_page(&self, tx: &mut Tx<'_>) -> Result<(), StoreError> {
        let page = std::mem::take(&mut self.index().page);
        let Some(&(first, _)) = page.first() else { return Ok(()) };
        let mut bytes = Vec::with_capacity(1 + page.iter().map(|(_, answer)| 4 + answer.len()).sum::<usize>());
        bytes.push(PAGE_TAG);
        for (_, answer) in &page {
            let len = u32::try_from(answer.len()).map_err(|_| StoreError::Corrupt {
                table: "sidecar_answer_log",
                detail: format!("an answer of {} bytes does not fit a page", answer.len()),
            })?;
            bytes.extend_from_slice(&len.to_le_bytes());
            bytes.extend_from_slice(answer);
        }
        tx.sidecar_answer_log_table()?.insert(first, bytes.as_slice())?;
        Ok(())
    }

    /// Writes the memory index of the committed answers as a new run, in key order.
    fn write_run(self: &Arc<Self>, tx: &mut Tx<'_>) -> Result<(), StoreError> {
        let run_id = tx.next("answer_run")?;
        let mut index = self.index();
        let mut moved: Vec<(Pair, u64)> = index.logged.iter().map(|(pair, seq)| (pair.clone(), *seq)).collect();
        moved.sort_unstable();
        // Every committed answer is below every answer of this batch, so the run indexes the
        // whole log up to its last one (`load_index` starts the memory index after it).
        let through_seq = moved.iter().map(|(_, seq)| *seq).max().unwrap_or_default();
        let mut filter = AnswerFilter::with_capacity(moved.len());
        {
            let mut runs = tx.sidecar_answer_runs_table()?;
            for ((scope, key), seq) in &moved {
                runs.insert((run_id, scope.as_str(), key.as_str()), *seq)?;
                filter.insert(PairPositions::of(scope, key));
            }
        }
        let record = RunRecord { through_seq, filter };
        tx.txn().open_table(SIDECAR_ANSWER_FILTERS)?.insert(run_id, encode(&record).as_slice())?;
        index.runs.push(Run { id: run_id, filter: record.filter });
        index.writing_run = true;
        drop(index);
        let answers = Arc::clone(self);
        tx.on_outcome(move |committed| {
            let mut index = answers.index();
            index.writing_run = false;
            if committed {
                for (pair, _) in moved {
                    index.logged.remove(&pair);
                }
            } else {
                index.runs.retain(|run| run.id != run_id);
            }
        });
        Ok(())
    }

    /// Answers in the memory index, and runs.
    #[cfg(test)]
    fn sizes(&self) -> (usize, usize) {
        let index = self.index();
        (index.logged.len(), index.runs.len())
    }
}

fn load_index(reader: &Reader) -> Result<Index, StoreError> {
    let mut index = Index::default();
    let mut indexed_through = 0;
    for entry in reader.txn.open_table(SIDECAR_ANSWER_FILTERS)?.iter()? {
        let (id, bytes) = entry?;
        let RunRecord { through_seq, filter } = decode("sidecar_answer_filters", bytes.value())?;
        indexed_through = indexed_through.max(through_seq);
        index.runs.push(Run { id: id.value(), filter });
    }
    let log = reader.txn.open_table(SIDECAR_ANSWER_LOG)?;
    let after = indexed_through.saturating_add(1);
    // The entry holding the first answer no run indexes may start before it.
    let start = log.range(..=after)?.next_back().transpose()?.map_or(after, |(first, _)| first.value());
    for entry in log.range(start..)? {
        let (first, bytes) = entry?;
        for (seq, answer) in entry_answers(first.value(), bytes.value())? {
            if seq > indexed_through {
                let StoredPair { scope, key } = decode("sidecar_answer_log", answer)?;
                index.logged.insert((scope, key), seq);
            }
        }
    }
    Ok(index)
}

/// The answers (seq, record) of the log entry under `first`: a page's, or the one answer an
/// entry from before pages holds.
fn entry_answers(first: u64, bytes: &[u8]) -> Result<Vec<(u64, &[u8])>, StoreError> {
    let Some((&PAGE_TAG, mut rest)) = bytes.split_first() else { return Ok(vec![(first, bytes)]) };
    let corrupt = || StoreError::Corrupt { table: "sidecar_answer_log", detail: format!("page {first} is cut short") };
    let mut answers = Vec::new();
    while !rest.is_empty() {
        let (len, tail) = rest.split_first_chunk::<4>().ok_or_else(corrupt)?;
        let len = usize::try_from(u32::from_le_bytes(*len)).map_err(|_| corrupt())?;
        let (answer, tail) = tail.split_at_checked(len).ok_or_else(corrupt)?;
        answers.push((first + answers.len() as u64, answer));
        rest = tail;
    }
    Ok(answers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StoreOptions;
    use crate::storage::sidecar::open::open_sidecar;
    use crate::vocab::json_text::JsonText;
    use crate::vocab::time::Timestamp;

    const SCOPE: &str = "company:cmp_1";

    fn record(fingerprint: &str, n: u64) -> IdempotencyRecord {
        IdempotencyRecord {
            fingerprint: fingerprint.into(),
            status: 201,
            body: JsonText::of(&serde_json::json!({"id": format!("hld_{n}")})),
            created_at: Timestamp::from_unix_ms(1_800_000_000_000),
            settled_charge: None,
        }
    }

    fn open(dir: &tempfile::TempDir, log_len_max: usize) -> (Store, Arc<Answers>) {
        let store = open_sidecar(dir.path(), &StoreOptions::default()).expect("open");
        let answers = Answers::load_with(&store, log_len_max).expect("load");
        (store, answers)
    }

    fn remember(store: &Store, answers: &Arc<Answers>, key: &str, n: u64) {
        let (answers, key) = (answers.clone(), key.to_owned());
        store
            .write_blocking(move |tx| answers.remember(tx, SCOPE, &key, &record(&format!("f{n}"), n)))
            .expect("stored");
    }

    /// What a later batch finds under `key` for the fingerprint `f{n}`: the answer's body id, or
    /// "fresh" / "mismatch".
    fn recall(store: &Store, answers: &Arc<Answers>, key: &str, n: u64) -> String {
        let (answers, key) = (answers.clone(), key.to_owned());
        let found = store.write_blocking(move |tx| answers.recall(tx, SCOPE, &key, &format!("f{n}"))).expect("read");
        match found {
            Recall::Fresh => "fresh".into(),
            Recall::Mismatch => "mismatch".into(),
            Recall::Replay(record) => record.body.to_value()["id"].as_str().unwrap_or_default().to_owned(),
        }
    }

    #[test]
    fn an_answer_is_found_in_its_batch_in_later_ones_and_after_a_reopen() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, answers) = open(&dir, 100);
        let batch = answers.clone();
        let in_batch = store
            .write_blocking(move |tx| {
                batch.remember(tx, SCOPE, "k1", &record("f1", 1))?;
                Ok(matches!(batch.recall(tx, SCOPE, "k1", "f1")?, Recall::Replay(_)))
            })
            .expect("stored");
        assert!(in_batch, "the batch that stored the answer sees it");
        assert_eq!(recall(&store, &answers, "k1", 1), "hld_1");
        assert_eq!(recall(&store, &answers, "k1", 2), "mismatch", "same key, another request");
        assert_eq!(recall(&store, &answers, "k2", 1), "fresh");
        store.close();
        let (store, answers) = open(&dir, 100);
        assert_eq!(answers.sizes(), (1, 0));
        assert_eq!(recall(&store, &answers, "k1", 1), "hld_1");
    }

    #[test]
    fn a_full_log_is_indexed_as_a_run_and_every_answer_stays_found_across_a_reopen() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, answers) = open(&dir, 4);
        // Keys out of order, so a run is written sorted from unsorted ones.
        let keys: Vec<String> = (0..11).map(|n| format!("key-{}", (n * 7) % 11)).collect();
        for (n, key) in keys.iter().enumerate() {
            remember(&store, &answers, key, n as u64);
        }
        // Runs are written when a fifth answer meets four committed ones: after answers 5 and 10.
        assert_eq!(answers.sizes(), (3, 2));
        for (n, key) in keys.iter().enumerate() {
            assert_eq!(recall(&store, &answers, key, n as u64), format!("hld_{n}"), "{key}");
        }
        assert_eq!(recall(&store, &answers, "key-99", 0), "fresh");
        store.close();
        let (store, answers) = open(&dir, 4);
        assert_eq!(answers.sizes(), (3, 2), "the runs' filters and the log after them are loaded");
        for (n, key) in keys.iter().enumerate() {
            assert_eq!(recall(&store, &answers, key, n as u64), format!("hld_{n}"), "{key}");
        }
        assert_eq!(recall(&store, &answers, keys[0].as_str(), 5), "mismatch");
    }

    #[test]
    fn a_batchs_answers_share_one_log_entry_beside_single_ones_written_before() {
        // Proves the answers of one batch are one page under its first seq, found in the batch,
        // later, through a run and after a reopen, and that an entry of one answer (as written
        // before pages) is still read.
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, _) = open(&dir, 4);
        store
            .write_blocking(|tx| {
                let seq = tx.next("answer")?;
                let old = encode(&LoggedAnswer { scope: SCOPE, key: "old", record: &record("f0", 0) });
                tx.sidecar_answer_log_table()?.insert(seq, old.as_slice())?;
                Ok(())
            })
            .expect("an answer as written before pages");
        store.close();
        let (store, answers) = open(&dir, 4);
        let batch = answers.clone();
        let seen_in_batch = store
            .write_blocking(move |tx| {
                for n in 1..=5 {
                    batch.remember(tx, SCOPE, &format!("k{n}"), &record(&format!("f{n}"), n))?;
                }
                Ok(matches!(batch.recall(tx, SCOPE, "k3", "f3")?, Recall::Replay(_)))
            })
            .expect("one batch of five");
        assert!(seen_in_batch);
        // Six committed answers fill the log: the next answer writes them as a run.
        remember(&store, &answers, "k6", 6);
        assert_eq!(answers.sizes(), (1, 1));
        let firsts = store
            .read_blocking(|r| {
                let log = r.txn.open_table(crate::storage::schema::SIDECAR_ANSWER_LOG)?;
                let mut out = Vec::new();
                for entry in log.iter()? {
                    let (seq, bytes) = entry?;
                    out.push((seq.value(), bytes.value()[0] == PAGE_TAG));
                }
                Ok(out)
            })
            .expect("log");
        assert_eq!(firsts, vec![(1, false), (2, true), (7, true)], "one entry per batch");
        let all = [("old", 0), ("k1", 1), ("k2", 2), ("k3", 3), ("k4", 4), ("k5", 5), ("k6", 6)];
        for (key, n) in all {
            assert_eq!(recall(&store, &answers, key, n), format!("hld_{n}"), "{key}");
        }
        store.close();
        let (store, answers) = open(&dir, 4);
        assert_eq!(answers.sizes(), (1, 1), "the run covers the pages before the last");
        for (key, n) in all {
            assert_eq!(recall(&store, &answers, key, n), format!("hld_{n}"), "{key} after a reopen");
        }
        assert_eq!(recall(&store, &answers, "k9", 9), "fresh");
    }

    #[test]
    fn a_page_cut_short_is_reported_as_corrupt() {
        let page = [PAGE_TAG, 9, 0, 0, 0, 1, 2];
        assert!(matches!(entry_answers(5, &page), Err(StoreError::Corrupt { .. })));
        let two = [PAGE_TAG, 1, 0, 0, 0, 7, 2, 0, 0, 0, 8, 9];
        let read = entry_answers(5, &two).expect("a whole page");
        assert_eq!(read, vec![(5, &[7u8][..]), (6, &[8u8, 9][..])]);
    }

    #[test]
    fn a_batch_that_fails_leaves_neither_its_answers_nor_its_run() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, answers) = open(&dir, 2);
        remember(&store, &answers, "a", 1);
        remember(&store, &answers, "b", 2);
        let (failing, runs_in_batch) = (answers.clone(), Arc::new(Mutex::new(None)));
        let seen = runs_in_batch.clone();
        let failed = store.write_blocking(move |tx| {
            // The log is full: this answer also writes a run, and then the batch fails.
            failing.remember(tx, SCOPE, "c", &record("f3", 3))?;
            *seen.lock().expect("not poisoned") = Some(failing.sizes().1);
            Err::<(), _>(StoreError::engine("a later job of the batch failed"))
        });
        assert!(failed.is_err());
        assert_eq!(*runs_in_batch.lock().expect("not poisoned"), Some(1), "the run is visible to its batch");
        assert_eq!(answers.sizes(), (2, 0), "the failed batch's answer and run are gone");
        assert_eq!(recall(&store, &answers, "c", 3), "fresh");
        remember(&store, &answers, "c", 3);
        assert_eq!(answers.sizes(), (1, 1));
        for (key, n) in [("a", 1), ("b", 2), ("c", 3)] {
            assert_eq!(recall(&store, &answers, key, n), format!("hld_{n}"));
        }
    }

    #[test]
    fn answers_stored_before_schema_4_are_still_found() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, _) = open(&dir, 4);
        store
            .write_blocking(|tx| crate::storage::idempotency::remember(tx, SCOPE, "old", &record("f7", 7)))
            .expect("stored the old way");
        store.close();
        // A file from before schema 4 is opened with its answers already in `idempotency`.
        let (store, answers) = open(&dir, 4);
        assert_eq!(recall(&store, &answers, "old", 7), "hld_7");
        assert_eq!(recall(&store, &answers, "old", 8), "mismatch");
    }
}
