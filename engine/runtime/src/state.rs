//! Container state on disk (`<root>/<id>/state.json`, written atomically) and the OCI state
//! document reported by `state`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Errors of the state store.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading or writing failed.
    #[error("container state {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid state JSON.
    #[error("container state {path}: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
}

/// What the runtime remembers about a container between commands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Container id.
    pub id: String,
    /// Pid of the container init, as seen from the host.
    pub pid: i32,
    /// Start time of that pid (field 22 of `/proc/<pid>/stat`), to detect pid reuse.
    pub pid_start: u64,
    /// Bundle directory.
    pub bundle: PathBuf,
    /// Cgroup path relative to the cgroup root.
    pub cgroup: PathBuf,
    /// Annotations from the spec.
    #[serde(default)]
    pub annotations: std::collections::HashMap<String, String>,
}

/// OCI container status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created, waiting for `start`.
    Created,
    /// The user process runs.
    Running,
    /// Frozen by `pause`.
    Paused,
    /// The init exited.
    Stopped,
}

/// The OCI state document (`runc state` output).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    /// OCI spec version.
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Status.
    pub status: Status,
    /// Init pid (0 once stopped).
    pub pid: i32,
    /// Bundle path.
    pub bundle: PathBuf,
    /// Annotations.
    pub annotations: std::collections::HashMap<String, String>,
}

/// Reads a record.
pub fn load(path: &Path) -> Result<Record, StateError> {
    let data = std::fs::read(path).map_err(|source| StateError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&data).map_err(|source| StateError::Corrupt {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `value` as JSON atomically against process crashes (temp file, rename), without
/// fsync: this state (a container's runtime record, its exit record) describes processes that a
/// machine crash ends anyway, and an fsync costs milliseconds on every container start and
/// exit. A record a power loss left empty reads as corrupt and is handled as missing.
pub fn save_json<T: Serialize>(path: &Path, value: &T) -> Result<(), StateError> {
    let err = |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let data = serde_json::to_vec(value).map_err(|source| StateError::Corrupt {
        path: path.to_path_buf(),
        source,
    })?;
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(&data).map_err(err)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(err)
}

/// Process state letter and start time from the contents of `/proc/<pid>/stat`.
pub fn parse_proc_stat(content: &str) -> Option<(char, u64)> {
    let rest = &content[content.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

/// State letter and start time of a live process (`None` when it is gone).
pub fn proc_stat(proc_root: &Path, pid: i32) -> Option<(char, u64)> {
    let s = std::fs::read_to_string(proc_root.join(pid.to_string()).join("stat")).ok()?;
    parse_proc_stat(&s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_fields() {
        let s = "1234 (sh (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 1000 10\n";
        assert_eq!(parse_proc_stat(s), Some(('S', 98765)));
        assert_eq!(parse_proc_stat("garbage"), None);
    }

    #[test]
    fn state_json_is_oci_shaped() {
        let st = State {
            oci_version: "1.0.2".into(),
            id: "c1".into(),
            status: Status::Created,
            pid: 42,
            bundle: "/b".into(),
            annotations: Default::default(),
        };
        let v = serde_json::to_value(&st).unwrap();
        assert_eq!(v["ociVersion"], "1.0.2");
        assert_eq!(v["status"], "created");
    }

    #[test]
    fn save_is_atomic_and_roundtrips() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state.json");
        let r = Record {
            id: "x".into(),
            pid: 1,
            pid_start: 2,
            bundle: "/b".into(),
            cgroup: "berth/x".into(),
            annotations: Default::default(),
        };
        save_json(&p, &r).unwrap();
        assert_eq!(load(&p).unwrap(), r);
        assert!(!p.with_extension("tmp").exists());
    }
}
