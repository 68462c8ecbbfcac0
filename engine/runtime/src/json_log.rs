//! The json-file log a shim appends its container's output to, rotated as Docker's json-file
//! driver rotates it: with `max-size` set, an entry that would take the file past it first
//! moves `log.json` to `log.json.1` (and `.1` to `.2`, … up to `max-file - 1` rotated files,
//! the oldest dropped); with `max-file` 1 the file is emptied instead. Without `max-size` the
//! file grows without bound, as in Docker.
//!
//! Readers take the files oldest first ([`log_files`]) and, when following, notice a rotation
//! by the path naming a new file.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Rotation limits of a json-file log (`--log-opt max-size=…`, `max-file=…`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rotation {
    /// Bytes a file may hold before it is rotated; 0 for no limit.
    pub max_size: u64,
    /// Files kept in all, the current one included (at least 1).
    pub max_files: u32,
}

/// The `n`th rotated file of `path` (`log.json.1` is the newest).
pub fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// The files of the log at `path` that exist, oldest first: the rotated ones from the highest
/// number down, then `path` itself.
pub fn log_files(path: &Path) -> Vec<PathBuf> {
    let mut rotated_files: Vec<PathBuf> = (1..)
        .map(|n| rotated(path, n))
        .take_while(|p| p.exists())
        .collect();
    rotated_files.reverse();
    rotated_files.push(path.to_owned());
    rotated_files
}

/// An open json-file log.
#[derive(Debug)]
pub struct JsonLog {
    path: PathBuf,
    file: File,
    size: u64,
    rotation: Rotation,
}

impl JsonLog {
    /// Opens (creates) the log at `path` for appending.
    pub fn open(path: &Path, rotation: Rotation) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            path: path.to_owned(),
            file,
            size,
            rotation,
        })
    }

    /// Appends one entry (a whole JSON line), rotating first when it would take the file
    /// past `max_size`. An entry larger than `max_size` is still written whole.
    pub fn append(&mut self, entry: &[u8]) -> io::Result<()> {
        let len = entry.len() as u64;
        if self.rotation.max_size > 0 && self.size > 0 && self.size + len > self.rotation.max_size {
            self.rotate()?;
        }
        self.file.write_all(entry)?;
        self.size += len;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let keep = self.rotation.max_files.max(1);
        if keep == 1 {
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        // The oldest kept rotated file is `.{keep - 1}`: shift the others up over it.
        for n in (1..keep - 1).rev() {
            let from = rotated(&self.path, n);
            if from.exists() {
                std::fs::rename(&from, rotated(&self.path, n + 1))?;
            }
        }
        std::fs::rename(&self.path, rotated(&self.path, 1))?;
        self.file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: usize) -> Vec<u8> {
        format!("{{\"log\":\"line {i:03}\\n\"}}\n").into_bytes()
    }

    #[test]
    fn rotates_at_max_size_and_keeps_max_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.json");
        let one = entry(0).len() as u64;
        let rotation = Rotation {
            max_size: one * 3,
            max_files: 3,
        };
        let mut log = JsonLog::open(&path, rotation).unwrap();
        for i in 0..10 {
            log.append(&entry(i)).unwrap();
        }
        let files = log_files(&path);
        assert_eq!(
            files,
            [rotated(&path, 2), rotated(&path, 1), path.clone()],
            "max-file 3 keeps two rotated files"
        );
        let text: String = files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect();
        // 10 entries of which the 3 + 3 + 1 newest remain, in order.
        let kept: Vec<String> = (3..10).map(|i| format!("line {i:03}")).collect();
        for (line, want) in text.lines().zip(&kept) {
            assert!(line.contains(want.as_str()), "{text}");
        }
        assert_eq!(text.lines().count(), kept.len(), "{text}");
        for f in &files {
            assert!(std::fs::metadata(f).unwrap().len() <= one * 3);
        }
    }

    #[test]
    fn one_file_is_emptied_and_no_limit_never_rotates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.json");
        let one = entry(0).len() as u64;
        let mut log = JsonLog::open(
            &path,
            Rotation {
                max_size: one * 2,
                max_files: 1,
            },
        )
        .unwrap();
        for i in 0..5 {
            log.append(&entry(i)).unwrap();
        }
        assert_eq!(log_files(&path), std::slice::from_ref(&path));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap().lines().count(),
            1,
            "entry 4 alone after the last truncation"
        );
        let free = dir.path().join("free.json");
        let mut log = JsonLog::open(&free, Rotation::default()).unwrap();
        for i in 0..50 {
            log.append(&entry(i)).unwrap();
        }
        assert_eq!(log_files(&free), std::slice::from_ref(&free));
        assert_eq!(std::fs::read_to_string(&free).unwrap().lines().count(), 50);
    }

    #[test]
    fn reopening_keeps_counting_from_the_files_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.json");
        let one = entry(0).len() as u64;
        let rotation = Rotation {
            max_size: one * 2,
            max_files: 2,
        };
        JsonLog::open(&path, rotation)
            .unwrap()
            .append(&entry(0))
            .unwrap();
        let mut again = JsonLog::open(&path, rotation).unwrap();
        again.append(&entry(1)).unwrap();
        again.append(&entry(2)).unwrap();
        assert!(rotated(&path, 1).exists(), "the third entry rotated");
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
    }
}
