//! Why a store could not be opened, by its real cause (issue 15): a full disk, a permission, a file that is
//! not a database, or something else. Every SQLite failure used to read "not a readable SQLite database …
//! restore it from backup" — on a full disk, advice that throws away a healthy store.
//!
//! Also the one way every store file is created: owner-only (0600) whatever the process umask, so the
//! registry and the operation history are never readable by other local users (001 §15(4), THREATS "a local
//! process on the terminal"). SQLite gives a database's `-wal` and `-shm` files the database file's own mode.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Below this many free bytes (or with no free inodes) a failure to open or write is put down to a full disk.
/// SQLite needs at least a WAL index (32 KiB) and a few pages to open a store at all.
pub const DISK_FULL_BELOW: u64 = 256 * 1024;

/// The cause of a failure to open or write a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreFault {
    /// The file system holding the store has no room left (ENOSPC / SQLITE_FULL).
    DiskFull { free: u64 },
    /// The operating system refused access (EACCES, EPERM, a read-only file system).
    Permission { detail: String },
    /// The file is not an SQLite database or its pages are damaged (SQLITE_NOTADB, SQLITE_CORRUPT).
    Corrupt { detail: String },
    /// Anything else (an I/O error, a lock held by another process…).
    Other { detail: String },
}

/// Bytes available to an unprivileged writer and whether inodes remain, on the file system holding `path`
/// (or its nearest existing ancestor).
pub fn free_space(path: &Path) -> Option<(u64, bool)> {
    let mut p = path;
    while !p.exists() {
        p = p.parent()?;
    }
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statvfs the call fills.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: see above.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let free = (st.f_bavail as u64).saturating_mul(st.f_frsize as u64);
    // Some file systems report no inode counts at all (f_files == 0): then inodes never run out.
    let inodes = st.f_files == 0 || st.f_favail > 0;
    Some((free, inodes))
}

/// Whether the file system holding `path` is (nearly) full: fewer than [`DISK_FULL_BELOW`] bytes or no inodes.
pub fn disk_full(path: &Path) -> Option<u64> {
    let (free, inodes) = free_space(path)?;
    (free < DISK_FULL_BELOW || !inodes).then_some(free)
}

/// The SQLite primary result code of a database error, if it is one.
fn sqlite_code(e: &sqlx::Error) -> Option<i32> {
    match e {
        sqlx::Error::Database(d) => d.code().and_then(|c| c.parse::<i32>().ok()).map(|c| c & 0xff),
        _ => None,
    }
}

fn io_kind(e: &sqlx::Error) -> Option<std::io::ErrorKind> {
    match e {
        sqlx::Error::Io(io) => Some(io.kind()),
        _ => None,
    }
}

/// Whether the process may read and write `path` (if it exists) and create files beside it.
fn permission_problem(path: &Path) -> Option<String> {
    let denied = |e: &std::io::Error| {
        matches!(e.kind(), std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem)
            || e.raw_os_error() == Some(libc::EROFS)
    };
    if path.exists()
        && let Err(e) = std::fs::OpenOptions::new().read(true).write(true).open(path)
        && denied(&e)
    {
        return Some(format!("{}: {e}", path.display()));
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: `c` is a valid NUL-terminated path.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
        let e = std::io::Error::last_os_error();
        if denied(&e) {
            return Some(format!("{}: {e}", dir.display()));
        }
    }
    None
}

/// Finds the cause of `e`, raised while opening or writing the store at `path`.
pub fn classify(path: &Path, e: &sqlx::Error) -> StoreFault {
    const SQLITE_PERM: i32 = 3;
    const SQLITE_READONLY: i32 = 8;
    const SQLITE_CORRUPT: i32 = 11;
    const SQLITE_FULL: i32 = 13;
    const SQLITE_NOTADB: i32 = 26;
    let code = sqlite_code(e);
    let detail = e.to_string();
    // A full disk first: it makes every other symptom, and freeing space is harmless whatever else is wrong.
    if code == Some(SQLITE_FULL) || io_kind(e) == Some(std::io::ErrorKind::StorageFull) {
        return StoreFault::DiskFull { free: free_space(path).map(|f| f.0).unwrap_or(0) };
    }
    if let Some(free) = disk_full(path) {
        return StoreFault::DiskFull { free };
    }
    if let Some(p) = permission_problem(path) {
        return StoreFault::Permission { detail: p };
    }
    if matches!(code, Some(SQLITE_PERM | SQLITE_READONLY)) || io_kind(e) == Some(std::io::ErrorKind::PermissionDenied) {
        return StoreFault::Permission { detail };
    }
    if matches!(code, Some(SQLITE_CORRUPT | SQLITE_NOTADB)) {
        return StoreFault::Corrupt { detail };
    }
    StoreFault::Other { detail }
}

/// Creates an empty store file at `path`, readable and writable by its owner only, whatever the umask; SQLite
/// then treats it as a new database and gives its `-wal` and `-shm` the same mode. Refuses an existing file.
pub fn create_private(path: &Path) -> std::io::Result<()> {
    let f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    // The umask can only take bits away from 0600 (an odd one could take the owner's write): set it exactly.
    f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    f.sync_all()?;
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Writes `bytes` to a new or replaced owner-only (0600) file, atomically: a temporary beside it, synced,
/// then renamed over `path`.
pub fn write_private_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    // A temporary left by a crash keeps its old mode through `create`; make it private in any case.
    f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_files_are_private_whatever_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        // SAFETY: umask only changes this process's file creation mask; restored below.
        let old = unsafe { libc::umask(0o000) };
        let a = dir.path().join("a.db");
        create_private(&a).unwrap();
        let b = dir.path().join("b.head");
        write_private_atomic(&b, b"x").unwrap();
        // SAFETY: as above.
        unsafe { libc::umask(old) };
        for p in [&a, &b] {
            assert_eq!(std::fs::metadata(p).unwrap().permissions().mode() & 0o777, 0o600, "{}", p.display());
        }
        assert!(create_private(&a).is_err(), "never over an existing store");
    }

    #[test]
    fn a_file_that_is_no_database_is_corrupt_not_full() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.db");
        std::fs::write(&p, b"not a database".repeat(100)).unwrap();
        let e = sqlx::Error::Database(Box::new(FakeDb("26")));
        if disk_full(&p).is_none() {
            assert!(matches!(classify(&p, &e), StoreFault::Corrupt { .. }));
        }
        let full = sqlx::Error::Database(Box::new(FakeDb("13")));
        assert!(matches!(classify(&p, &full), StoreFault::DiskFull { .. }), "SQLITE_FULL is a full disk");
    }

    #[derive(Debug)]
    struct FakeDb(&'static str);
    impl std::fmt::Display for FakeDb {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "sqlite error {}", self.0)
        }
    }
    impl std::error::Error for FakeDb {}
    impl sqlx::error::DatabaseError for FakeDb {
        fn message(&self) -> &str {
            "fake"
        }
        fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
            Some(self.0.into())
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }
}
