//! The redo log: a preallocated file of checksummed records, one per write batch that redb
//! committed without a sync. A record holds the batch's table writes (`redo_ops.rs`) and its
//! number; it is synced before anyone is answered. After each durable redb commit the log starts
//! again at its first byte. At open, the records after the last durable commit are applied again
//! (docs/design.md, "The sidecar's redo log").

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::storage::StoreError;

/// Bytes the log file is given at creation, written with zeros and synced once, so that a
/// record's sync writes data only, never the file's size or block map.
pub const REDO_LOG_BYTES: u64 = 8 << 20;
/// Starts every record; a zeroed or overwritten region does not.
const RECORD_MAGIC: u32 = 0x5052_4431;
/// Records start on this boundary (a page, and a multiple of any sector): writing a record never
/// rewrites a sector that holds an earlier, acknowledged one, so a torn write can only tear the
/// record being written.
const RECORD_ALIGN: u64 = 4096;
/// magic (4) · payload length (4) · batch number (8) · CRC-32 of the database's salt, the number
/// and the payload (4).
const HEADER_LEN: usize = 20;

/// One record read back: the batch's number and its table writes.
#[derive(Debug, PartialEq, Eq)]
pub struct RedoRecord {
    pub batch: u64,
    pub ops: Vec<u8>,
}

/// The open log file and where the next record goes.
#[derive(Debug)]
pub struct RedoLog {
    file: File,
    path: PathBuf,
    /// The database's own random number, in every record's checksum: a record another database
    /// wrote (a database file replaced, the log kept) never checksums.
    salt: u64,
    /// Offset of the next record (a multiple of `RECORD_ALIGN`).
    end: u64,
    /// Offset of the last record written, for `retract`.
    last_start: u64,
}

impl RedoLog {
    /// Opens the log at `path` for the database whose salt is `salt`, creating and zero-filling
    /// it if absent or short.
    pub fn open(path: &Path, salt: u64) -> Result<RedoLog, StoreError> {
        let io = |e: std::io::Error| StoreError::engine(format!("redo log {}: {e}", path.display()));
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len < REDO_LOG_BYTES {
            file.seek(SeekFrom::Start(len)).map_err(io)?;
            let zeros = vec![0u8; 1 << 20];
            let mut left = REDO_LOG_BYTES - len;
            while left > 0 {
                let n = left.min(zeros.len() as u64) as usize;
                file.write_all(&zeros[..n]).map_err(io)?;
                left -= n as u64;
            }
            file.sync_all().map_err(io)?;
            if let Some(dir) = path.parent() {
                // The new file's name is durable too.
                File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
            }
        }
        let log = RedoLog { file, path: path.to_owned(), salt, end: 0, last_start: 0 };
        log.drop_cached_pages();
        Ok(log)
    }

    /// Asks the kernel to forget the file's cached pages (all clean here: written and synced, or
    /// only read). Pages cached from the zero-fill or a whole-file read come in large folios, and
    /// a record that dirties part of one then costs a whole folio in the kernel's accounting;
    /// pages cached by a record's own write are its size. Only a hint: failure changes nothing.
    fn drop_cached_pages(&self) {
        let _ = rustix::fs::fadvise(&self.file, 0, None, rustix::fs::Advice::DontNeed);
    }

    /// The records from the file's start whose numbers follow `durable` one by one: those made
    /// after the last durable commit. Records at or below `durable` (left from before the last
    /// restart of the log) are skipped; reading stops at the first record that is torn, does not
    /// checksum, or does not follow.
    pub fn records_after(&self, durable: u64) -> Result<Vec<RedoRecord>, StoreError> {
        let file_len = self.file.metadata().map_err(|e| self.io(e))?.len();
        let mut records = Vec::new();
        let mut at = 0u64;
        // Record by record, so a start holds only what it applies, not the whole file.
        while let Some(record) = self.read_record(at, file_len)? {
            at += span(record.ops.len());
            if record.batch <= durable && records.is_empty() {
                continue;
            }
            if record.batch != durable + 1 + records.len() as u64 {
                break;
            }
            records.push(record);
        }
        self.drop_cached_pages();
        Ok(records)
    }

    /// The record at `at`, if one is whole inside the file's `file_len` bytes and checksums with
    /// this database's salt.
    fn read_record(&self, at: u64, file_len: u64) -> Result<Option<RedoRecord>, StoreError> {
        let ops_at = at + HEADER_LEN as u64;
        if ops_at > file_len {
            return Ok(None);
        }
        let mut header = [0u8; HEADER_LEN];
        self.file.read_exact_at(&mut header, at).map_err(|e| self.io(e))?;
        let word = |from: usize| u32::from_le_bytes(header[from..from + 4].try_into().expect("4 bytes"));
        let ops_len = u64::from(word(4));
        if word(0) != RECORD_MAGIC || ops_at + ops_len > file_len {
            return Ok(None);
        }
        let mut ops = vec![0u8; ops_len as usize];
        self.file.read_exact_at(&mut ops, ops_at).map_err(|e| self.io(e))?;
        let batch = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
        Ok((checksum(self.salt, batch, &ops) == word(16)).then_some(RedoRecord { batch, ops }))
    }

    /// Whether a record of `ops_len` bytes still fits.
    pub fn fits(&self, ops_len: usize) -> bool {
        self.end + (HEADER_LEN + ops_len) as u64 <= REDO_LOG_BYTES
    }

    /// Writes batch `batch`'s record after the last one and syncs it. The caller checked `fits`.
    pub fn append(&mut self, batch: u64, ops: &[u8]) -> Result<(), StoreError> {
        let mut record = Vec::with_capacity(HEADER_LEN + ops.len());
        record.extend_from_slice(&RECORD_MAGIC.to_le_bytes());
        record.extend_from_slice(
            &u32::try_from(ops.len()).map_err(|_| StoreError::engine("redo record too long"))?.to_le_bytes(),
        );
        record.extend_from_slice(&batch.to_le_bytes());
        record.extend_from_slice(&checksum(self.salt, batch, ops).to_le_bytes());
        record.extend_from_slice(ops);
        self.file.write_all_at(&record, self.end).and_then(|()| self.file.sync_data()).map_err(|e| self.io(e))?;
        self.last_start = self.end;
        self.end += span(ops.len());
        Ok(())
    }

    /// Takes back the last record (its batch did not commit): zeroes its header and syncs.
    pub fn retract(&mut self) -> Result<(), StoreError> {
        let start = self.last_start;
        self.file
            .write_all_at(&[0u8; HEADER_LEN], start)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| self.io(e))?;
        self.end = start;
        Ok(())
    }

    /// Starts again at the first byte: everything logged is in a durable redb commit. Nothing is
    /// written; the records left behind carry numbers at or below the durable one.
    pub fn restart(&mut self) {
        self.end = 0;
    }

    fn io(&self, e: std::io::Error) -> StoreError {
        StoreError::engine(format!("redo log {}: {e}", self.path.display()))
    }
}

/// Bytes from a record's start to the next one's: the record, padded to `RECORD_ALIGN`.
fn span(ops_len: usize) -> u64 {
    ((HEADER_LEN + ops_len) as u64).next_multiple_of(RECORD_ALIGN)
}

fn checksum(salt: u64, batch: u64, ops: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&salt.to_le_bytes());
    hasher.update(&batch.to_le_bytes());
    hasher.update(ops);
    hasher.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SALT: u64 = 0x5eed;

    fn log_in(dir: &tempfile::TempDir) -> RedoLog {
        RedoLog::open(&dir.path().join("redo.log"), SALT).expect("open")
    }

    #[test]
    fn records_after_the_durable_batch_come_back_in_order() {
        // Proves appended records are read back after a reopen, only those above the durable
        // number, and the file has its full size from the start.
        let dir = tempfile::tempdir().expect("temp dir");
        let mut log = log_in(&dir);
        for batch in 1..=4 {
            log.append(batch, format!("ops of {batch}").as_bytes()).expect("append");
        }
        drop(log);
        let log = log_in(&dir);
        assert_eq!(std::fs::metadata(dir.path().join("redo.log")).expect("meta").len(), REDO_LOG_BYTES);
        let numbers: Vec<u64> = log.records_after(2).expect("read").iter().map(|r| r.batch).collect();
        assert_eq!(numbers, vec![3, 4]);
        assert_eq!(log.records_after(0).expect("read")[0].ops, b"ops of 1".to_vec());
        assert!(log.records_after(4).expect("read").is_empty());
        let other = RedoLog::open(&dir.path().join("redo.log"), SALT + 1).expect("open");
        assert!(other.records_after(0).expect("read").is_empty(), "another database's records do not checksum");
    }

    #[test]
    fn a_restarted_log_ignores_what_its_old_records_left_behind() {
        // Proves records written after a restart are read, and the longer older records beyond
        // them (lower numbers) end the read instead of being taken.
        let dir = tempfile::tempdir().expect("temp dir");
        let mut log = log_in(&dir);
        for batch in 1..=5 {
            log.append(batch, &[batch as u8; 100]).expect("append");
        }
        log.restart();
        log.append(6, b"six").expect("append");
        log.append(7, b"seven").expect("append");
        let numbers: Vec<u64> = log.records_after(5).expect("read").iter().map(|r| r.batch).collect();
        assert_eq!(numbers, vec![6, 7]);
    }

    #[test]
    fn a_torn_or_retracted_record_ends_the_log() {
        // Proves a record whose bytes do not checksum is not applied, nor anything after it,
        // and a retracted record is gone.
        let dir = tempfile::tempdir().expect("temp dir");
        let mut log = log_in(&dir);
        log.append(1, b"one").expect("append");
        log.append(2, b"two").expect("append");
        log.append(3, b"three").expect("append");
        assert_eq!(log.end, 3 * RECORD_ALIGN, "each record starts a page of its own");
        log.retract().expect("retract");
        assert_eq!(log.records_after(0).expect("read").len(), 2);
        log.file.write_all_at(b"X", RECORD_ALIGN + HEADER_LEN as u64).expect("tear");
        let numbers: Vec<u64> = log.records_after(0).expect("read").iter().map(|r| r.batch).collect();
        assert_eq!(numbers, vec![1], "the torn second record and all after it are dropped");
    }
}
