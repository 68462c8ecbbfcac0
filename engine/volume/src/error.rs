//! Typed failures of the volume store, with the volume name or path they concern, so the engine
//! can map each to an API status (not found, conflict, invalid argument, internal) in one place.

use std::path::PathBuf;

/// What went wrong with a volume operation.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// No volume has this name.
    #[error("get {0}: no such volume")]
    NotFound(String),
    /// The name is not a valid volume name.
    #[error(
        "create {0}: \"{0}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
    )]
    InvalidName(String),
    /// The driver is not one this engine has.
    #[error("create {name}: volume driver {driver:?} is not available (only \"local\")")]
    UnknownDriver {
        /// The volume.
        name: String,
        /// The driver asked for.
        driver: String,
    },
    /// A `driver_opts` key or value the local driver does not accept.
    #[error("create {name}: {reason}")]
    InvalidOption {
        /// The volume.
        name: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A volume of this name exists with different driver options.
    #[error(
        "create {0}: a volume with this name already exists with different options; remove it first or pick another name"
    )]
    Exists(String),
    /// The volume is referenced by containers.
    #[error("remove {name}: volume is in use - [{}]", containers.join(", "))]
    InUse {
        /// The volume.
        name: String,
        /// Ids of the containers using it.
        containers: Vec<String>,
    },
    /// A filesystem operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A volume's metadata record is unreadable.
    #[error("volume record {path}: {source}")]
    Record {
        /// The record file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// Mounting or unmounting the volume's device failed.
    #[error("{op} volume {name} ({detail}): {source}")]
    Mount {
        /// `mount` or `unmount`.
        op: &'static str,
        /// The volume.
        name: String,
        /// Source and type of the mount.
        detail: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Copying the image content into the volume failed.
    #[error("copy-up into volume {name} from {path}: {source}")]
    CopyUp {
        /// The volume.
        name: String,
        /// The path (inside the image or the volume) being copied.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl VolumeError {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { op, path, source }
    }
}

/// Result of volume operations.
pub type Result<T, E = VolumeError> = std::result::Result<T, E>;
