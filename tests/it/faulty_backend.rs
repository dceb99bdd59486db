//! A redb storage backend over a real file that fails writes, resizes and fsyncs while the test
//! says so: the one fake of the fault-injection tests. Everything else is redb's `FileBackend`.

use std::fs::OpenOptions;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use redb::StorageBackend;
use redb::backends::FileBackend;

/// Which operations fail, shared between the backend and the test; and how many failed.
#[derive(Debug, Default)]
pub struct Faults {
    writes: AtomicBool,
    set_lens: AtomicBool,
    syncs: AtomicBool,
    injected: AtomicU64,
}

impl Faults {
    /// Fails every `write` and `set_len` until `clear` (a full or broken disk).
    pub fn fail_writes(&self) {
        self.writes.store(true, Ordering::SeqCst);
        self.set_lens.store(true, Ordering::SeqCst);
    }

    /// Fails every `sync_data` until `clear`; writes still reach the file (the OS page cache).
    pub fn fail_syncs(&self) {
        self.syncs.store(true, Ordering::SeqCst);
    }

    pub fn clear(&self) {
        self.writes.store(false, Ordering::SeqCst);
        self.set_lens.store(false, Ordering::SeqCst);
        self.syncs.store(false, Ordering::SeqCst);
    }

    /// How many operations failed on purpose so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::SeqCst)
    }

    fn check(&self, switch: &AtomicBool, errno: i32) -> std::io::Result<()> {
        if switch.load(Ordering::SeqCst) {
            self.injected.fetch_add(1, Ordering::SeqCst);
            return Err(std::io::Error::from_raw_os_error(errno));
        }
        Ok(())
    }
}

const EIO: i32 = 5;
const ENOSPC: i32 = 28;

/// redb's file backend with `Faults` in front of `write`, `set_len` and `sync_data`.
#[derive(Debug)]
pub struct FaultyBackend {
    file: FileBackend,
    faults: Arc<Faults>,
}

impl FaultyBackend {
    /// Opens (creating if absent) `path` as a file backend controlled by `faults`.
    pub fn open(path: &Path, faults: Arc<Faults>) -> Self {
        let file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).expect("open the file");
        FaultyBackend { file: FileBackend::new(file).expect("a file backend"), faults }
    }
}

impl StorageBackend for FaultyBackend {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.file.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.file.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.faults.check(&self.faults.set_lens, ENOSPC)?;
        self.file.set_len(len)
    }

    fn sync_data(&self) -> Result<(), std::io::Error> {
        self.faults.check(&self.faults.syncs, EIO)?;
        self.file.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        self.faults.check(&self.faults.writes, ENOSPC)?;
        self.file.write(offset, data)
    }

    fn close(&self) -> Result<(), std::io::Error> {
        self.file.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, redb::BackendError> {
        self.file.try_lock_range(start, end)
    }

    fn try_lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, redb::BackendError> {
        self.file.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), redb::BackendError> {
        self.file.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), redb::BackendError> {
        self.file.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), redb::BackendError> {
        self.file.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, redb::BackendError> {
        self.file.query_lock_range(start, end)
    }
}
