//! Types of the container archive endpoints (`docker cp`, `export`, `diff`), kept apart from the
//! [`super::Backend`] trait so the trait file stays a list of operations.

use serde::{Deserialize, Serialize};

/// Options of `PUT /containers/{id}/archive`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutArchiveOptions {
    /// The directory inside the container the archive is extracted into (must exist).
    pub path: String,
    /// Refuse to replace a directory with a non-directory and the other way round.
    pub no_overwrite_dir_non_dir: bool,
    /// Give every entry the container user's uid and gid instead of the archive's owners.
    pub copy_uid_gid: bool,
}

/// What `HEAD`/`GET /containers/{id}/archive` report about a path (Docker's
/// `X-Docker-Container-Path-Stat` header, base64 of this JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathStat {
    /// Base name of the path.
    pub name: String,
    /// Size in bytes.
    pub size: i64,
    /// Go's `os.FileMode` bits: permissions plus Go's type bits (directory `1 << 31`, …).
    pub mode: u32,
    /// Modification time, RFC 3339.
    pub mtime: String,
    /// Where the path leads when it is a symlink (resolved inside the container), else empty.
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// Go's `os.ModeDir`.
pub const GO_MODE_DIR: u32 = 1 << 31;
/// Go's `os.ModeSymlink`.
pub const GO_MODE_SYMLINK: u32 = 1 << 27;
/// Go's `os.ModeDevice`.
pub const GO_MODE_DEVICE: u32 = 1 << 26;
/// Go's `os.ModeNamedPipe`.
pub const GO_MODE_NAMED_PIPE: u32 = 1 << 25;
/// Go's `os.ModeSocket`.
pub const GO_MODE_SOCKET: u32 = 1 << 24;
/// Go's `os.ModeSetuid`.
pub const GO_MODE_SETUID: u32 = 1 << 23;
/// Go's `os.ModeSetgid`.
pub const GO_MODE_SETGID: u32 = 1 << 22;
/// Go's `os.ModeCharDevice`.
pub const GO_MODE_CHAR_DEVICE: u32 = 1 << 21;
/// Go's `os.ModeSticky`.
pub const GO_MODE_STICKY: u32 = 1 << 20;

impl PathStat {
    /// True when the Go mode bits say directory.
    pub fn is_dir(&self) -> bool {
        self.mode & GO_MODE_DIR != 0
    }

    /// True when the Go mode bits say symlink.
    pub fn is_symlink(&self) -> bool {
        self.mode & GO_MODE_SYMLINK != 0
    }
}

/// Go's `os.FileMode` of a unix `st_mode`.
pub fn go_mode(st_mode: u32) -> u32 {
    let mut m = st_mode & 0o777;
    match st_mode & 0o170000 {
        0o040000 => m |= GO_MODE_DIR,
        0o120000 => m |= GO_MODE_SYMLINK,
        0o060000 => m |= GO_MODE_DEVICE,
        0o020000 => m |= GO_MODE_DEVICE | GO_MODE_CHAR_DEVICE,
        0o010000 => m |= GO_MODE_NAMED_PIPE,
        0o140000 => m |= GO_MODE_SOCKET,
        _ => {}
    }
    if st_mode & 0o4000 != 0 {
        m |= GO_MODE_SETUID;
    }
    if st_mode & 0o2000 != 0 {
        m |= GO_MODE_SETGID;
    }
    if st_mode & 0o1000 != 0 {
        m |= GO_MODE_STICKY;
    }
    m
}

/// How a path changed in a container's writable layer (`GET /containers/{id}/changes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum ChangeKind {
    /// Changed (0, `C`).
    Modified,
    /// Added (1, `A`).
    Added,
    /// Deleted (2, `D`).
    Deleted,
}

impl From<ChangeKind> for u8 {
    fn from(k: ChangeKind) -> u8 {
        match k {
            ChangeKind::Modified => 0,
            ChangeKind::Added => 1,
            ChangeKind::Deleted => 2,
        }
    }
}

impl TryFrom<u8> for ChangeKind {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        match v {
            0 => Ok(ChangeKind::Modified),
            1 => Ok(ChangeKind::Added),
            2 => Ok(ChangeKind::Deleted),
            other => Err(format!("unknown change kind {other}")),
        }
    }
}

impl ChangeKind {
    /// The letter `docker diff` prints.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Modified => 'C',
            ChangeKind::Added => 'A',
            ChangeKind::Deleted => 'D',
        }
    }
}

/// One entry of `GET /containers/{id}/changes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Absolute path inside the container.
    #[serde(rename = "Path")]
    pub path: String,
    /// What happened to it.
    #[serde(rename = "Kind")]
    pub kind: ChangeKind,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_modes_match_docker() {
        assert_eq!(go_mode(0o040755), GO_MODE_DIR | 0o755);
        assert_eq!(go_mode(0o100644), 0o644);
        assert_eq!(go_mode(0o120777), GO_MODE_SYMLINK | 0o777);
        assert_eq!(go_mode(0o104755), GO_MODE_SETUID | 0o755);
        assert_eq!(
            go_mode(0o020666),
            GO_MODE_DEVICE | GO_MODE_CHAR_DEVICE | 0o666
        );
        let c: Vec<Change> = serde_json::from_str(r#"[{"Path":"/a","Kind":1}]"#).unwrap();
        assert_eq!(c[0].kind.letter(), 'A');
        assert_eq!(
            serde_json::to_string(&c[0]).unwrap(),
            r#"{"Path":"/a","Kind":1}"#
        );
    }
}
