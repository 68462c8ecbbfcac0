//! Crash-safe writes of engine records: a record is either the old or the new version on disk,
//! never a torn mix, even if the machine loses power mid-write.
//!
//! Each fsync costs milliseconds on every container start, so a write syncs only what a crash
//! must not lose: [`write_atomic`] makes the new version and its name durable (file and
//! directory fsynced); [`replace_atomic`] syncs the file but not its directory, so after a
//! crash the file holds the old version or the new one, whole. It is for updates whose loss
//! leaves a valid earlier state (a start or an exit not recorded is what recovery handles for
//! any crash), and for a file whose directory a [`write_atomic`] in the same directory syncs
//! right after.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Failure of an atomic write, with the path being written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// `path` has no parent directory or file name.
    #[error("cannot write {path}: not a file path")]
    NotAFile {
        /// The path given.
        path: PathBuf,
    },
    /// An I/O step failed.
    #[error("cannot {step} {path}")]
    Io {
        /// What was being done (`create`, `write`, `sync`, `rename`).
        step: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The record could not be serialized.
    #[error("cannot serialize record for {path}")]
    Serialize {
        /// The record's path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
}

/// Writes `bytes` to `path` atomically: temp file in the same directory (mode 0600), fsync,
/// rename over `path`, fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    write(path, bytes, true)
}

/// Like [`write_atomic`] without the fsync of the directory: a crash may lose the rename,
/// never tear the file (see the module doc for when that is enough).
pub fn replace_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    write(path, bytes, false)
}

fn write(path: &Path, bytes: &[u8], sync_dir: bool) -> Result<(), StateError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(StateError::NotAFile {
            path: path.to_owned(),
        });
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(
        ".{}.tmp.{}.{n}",
        name.to_string_lossy(),
        std::process::id()
    ));
    fn io(step: &'static str, p: &Path) -> impl FnOnce(std::io::Error) -> StateError {
        let path = p.to_owned();
        move |source| StateError::Io { step, path, source }
    }
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io("create", &tmp))?;
        file.write_all(bytes).map_err(io("write", &tmp))?;
        file.sync_all().map_err(io("sync", &tmp))?;
        fs::rename(&tmp, path).map_err(io("rename", path))?;
        match sync_dir {
            true => File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io("sync", dir)),
            false => Ok(()),
        }
    })();
    if result.is_err() {
        // The temp file may not exist (creation failed); nothing else to undo.
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Serializes `value` as pretty JSON and writes it with [`write_atomic`].
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), StateError> {
    write_atomic(path, &to_json(path, value)?)
}

/// Serializes `value` as pretty JSON and writes it with [`replace_atomic`].
pub fn replace_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), StateError> {
    replace_atomic(path, &to_json(path, value)?)
}

fn to_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<Vec<u8>, StateError> {
    serde_json::to_vec_pretty(value).map_err(|source| StateError::Serialize {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// The names of the entries of `dir`: what a write left there.
    fn names_in(dir: &Path) -> Vec<std::ffi::OsString> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect()
    }

    #[test]
    fn write_atomic_replaces_content_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(names_in(dir.path()), ["state.json"]);
    }

    #[test]
    fn write_atomic_reports_the_path_when_the_directory_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing/state.json");
        let err = write_atomic(&path, b"x").unwrap_err();
        assert!(
            matches!(err, StateError::Io { step: "create", .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("missing"));
    }

    #[test]
    fn replace_atomic_replaces_content_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.json");
        write_atomic(&path, b"one").unwrap();
        replace_atomic(&path, b"two").unwrap();
        replace_json(&path, &serde_json::json!({"Id": "abc"})).unwrap();
        let back: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(back["Id"], "abc");
        assert_eq!(names_in(dir.path()), ["rec.json"]);
    }

    #[test]
    fn write_json_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.json");
        write_json(&path, &serde_json::json!({"Id": "abc"})).unwrap();
        let back: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(back["Id"], "abc");
    }
}
