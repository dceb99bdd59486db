//! A batch's table writes as bytes, for its redo record: each insert or remove with its table's
//! name and the key's and value's bytes as redb stores them. Applying them again in order leaves
//! the tables as the batch left them (`kept_tables::replay`).

use crate::storage::StoreError;

const PUT_OP: u8 = 1;
const REMOVE_OP: u8 = 2;

/// The writes one batch made, in order.
#[derive(Debug, Default)]
pub struct RedoOps {
    bytes: Vec<u8>,
}

/// One write read back from a record.
#[derive(Debug, PartialEq, Eq)]
pub enum RedoOp<'a> {
    Put { table: &'a str, key: &'a [u8], value: &'a [u8] },
    Remove { table: &'a str, key: &'a [u8] },
}

impl RedoOps {
    pub fn put(&mut self, table: &str, key: &[u8], value: &[u8]) {
        self.op(PUT_OP, table, key);
        self.chunk(value);
    }

    pub fn remove(&mut self, table: &str, key: &[u8]) {
        self.op(REMOVE_OP, table, key);
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn op(&mut self, kind: u8, table: &str, key: &[u8]) {
        self.bytes.push(kind);
        self.bytes.push(u8::try_from(table.len()).expect("table names are short"));
        self.bytes.extend_from_slice(table.as_bytes());
        self.chunk(key);
    }

    fn chunk(&mut self, part: &[u8]) {
        self.bytes.extend_from_slice(&u32::try_from(part.len()).expect("a key or value under 4 GiB").to_le_bytes());
        self.bytes.extend_from_slice(part);
    }
}

/// The writes of a record's bytes, in order; an error if the bytes end inside a write.
pub fn ops_of(bytes: &[u8]) -> impl Iterator<Item = Result<RedoOp<'_>, StoreError>> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let parsed = next_op(rest);
        match parsed {
            Some((op, after)) => {
                rest = after;
                Some(Ok(op))
            }
            None => {
                rest = &[];
                Some(Err(StoreError::Corrupt { table: "redo log", detail: "a record's writes end early".into() }))
            }
        }
    })
}

fn next_op(bytes: &[u8]) -> Option<(RedoOp<'_>, &[u8])> {
    let (&kind, rest) = bytes.split_first()?;
    let (&name_len, rest) = rest.split_first()?;
    let (name, rest) = rest.split_at_checked(usize::from(name_len))?;
    let table = std::str::from_utf8(name).ok()?;
    let (key, rest) = chunk(rest)?;
    match kind {
        PUT_OP => {
            let (value, rest) = chunk(rest)?;
            Some((RedoOp::Put { table, key, value }, rest))
        }
        REMOVE_OP => Some((RedoOp::Remove { table, key }, rest)),
        _ => None,
    }
}

fn chunk(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = bytes.split_at_checked(4)?;
    let len = u32::from_le_bytes(len.try_into().ok()?) as usize;
    rest.split_at_checked(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_read_back_as_they_were_made() {
        // Proves puts and removes come back in order with their tables, keys and values, and
        // bytes cut inside a write are an error, not a shorter batch.
        let mut ops = RedoOps::default();
        ops.put("sidecar_holds", b"hold_1", b"{value}");
        ops.remove("sidecar_hold_expiry", b"\x01\x02");
        ops.put("counters", b"usage", &7u64.to_le_bytes());
        let read: Vec<RedoOp<'_>> = ops_of(ops.as_bytes()).collect::<Result<_, _>>().expect("whole");
        assert_eq!(
            read,
            vec![
                RedoOp::Put { table: "sidecar_holds", key: b"hold_1", value: b"{value}" },
                RedoOp::Remove { table: "sidecar_hold_expiry", key: b"\x01\x02" },
                RedoOp::Put { table: "counters", key: b"usage", value: &7u64.to_le_bytes() },
            ]
        );
        let cut = &ops.as_bytes()[..ops.as_bytes().len() - 1];
        assert!(ops_of(cut).any(|op| op.is_err()));
    }
}
