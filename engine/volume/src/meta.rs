//! A volume's metadata record (`volumes/<name>/volume.json`), written atomically so a volume is
//! either fully known or absent after a crash, never a torn record.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, VolumeError};

/// Label Docker puts on anonymous volumes.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// What the engine knows about one volume.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Volume {
    /// Its name (64 hex digits for anonymous volumes).
    pub name: String,
    /// Always `local`.
    pub driver: String,
    /// User labels.
    pub labels: BTreeMap<String, String>,
    /// `driver_opts` (`type`, `device`, `o`).
    pub options: BTreeMap<String, String>,
    /// RFC 3339 creation time.
    pub created_at: String,
}

impl Volume {
    /// True for volumes created without a name (image `VOLUME`, `-v /path`).
    pub fn is_anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }
}

/// Writes `bytes` to `path` through a synced temp file and a rename, then syncs the directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(VolumeError::io("create", &tmp))?;
    f.write_all(bytes).map_err(VolumeError::io("write", &tmp))?;
    f.sync_all().map_err(VolumeError::io("sync", &tmp))?;
    std::fs::rename(&tmp, path).map_err(VolumeError::io("rename", path))?;
    sync_dir(dir)
}

/// Makes a directory's entries (creations, renames, removals) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(VolumeError::io("sync", dir))
}

/// Reads a record.
pub(crate) fn read(path: &Path) -> Result<Volume> {
    let data = std::fs::read(path).map_err(VolumeError::io("read", path))?;
    serde_json::from_slice(&data).map_err(|source| VolumeError::Record {
        path: path.to_owned(),
        source,
    })
}

/// Writes a record atomically.
pub(crate) fn write(path: &Path, v: &Volume) -> Result<()> {
    let data = serde_json::to_vec_pretty(v).map_err(|source| VolumeError::Record {
        path: path.to_owned(),
        source,
    })?;
    write_atomic(path, &data)
}

/// Checks Docker's volume name rule `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn valid_name(name: &str) -> bool {
    name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dockers_rule() {
        assert!(valid_name("db_data"));
        assert!(valid_name("v1.2-x"));
        assert!(!valid_name("a"));
        assert!(!valid_name("_x"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name("../etc"));
    }

    #[test]
    fn records_round_trip_atomically() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("volume.json");
        let v = Volume {
            name: "x1".into(),
            driver: "local".into(),
            ..Volume::default()
        };
        write(&p, &v).unwrap();
        assert_eq!(read(&p).unwrap(), v);
        let leftovers: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1);
    }
}
