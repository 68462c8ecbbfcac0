//! The archive endpoints of the real backend (`docker cp`, `export`, `diff`): which root a file
//! operation works in, and the mapping of archive errors to API errors.
//!
//! A running container is seen as its processes see it: the root fd is opened on
//! `<proc>/<pid>/root`, so volumes and binds mounted in the container are part of the view (as
//! with `docker cp`). A created or stopped container is seen through its overlay rootfs under the
//! bundle, mounted for the time of the operation when it is not mounted. Everything below the
//! root fd is reached with `RESOLVE_IN_ROOT` (`archive_fs`), never by host path.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;

use super::archive_extract::{ExtractOptions, extract};
use super::archive_fs::{ArchiveError, open_in};
use super::archive_read::{ChunkWriter, Source, locate, write_tar, write_tree};
use super::body::RequestBody;
use super::{RealBackend, Record, blocking};
use crate::backend::{
    BackendError, BackendResult, ByteStream, Change, ErrorKind, PathStat, PutArchiveOptions,
};

/// The root a file operation on one container works in; unmounts the rootfs it mounted.
pub(super) struct ContainerRoot {
    fd: OwnedFd,
    mounted: Option<PathBuf>,
}

impl ContainerRoot {
    /// The root directory fd.
    pub(super) fn fd(&self) -> &OwnedFd {
        &self.fd
    }
}

impl Drop for ContainerRoot {
    fn drop(&mut self) {
        if let Some(rootfs) = self.mounted.take() {
            if let Err(e) = berth_image::snapshot::unmount(&rootfs) {
                tracing::warn!(path = %rootfs.display(), error = %e, "cannot unmount the rootfs");
            }
        }
    }
}

/// The API error of an archive failure.
pub(super) fn api_error(e: ArchiveError) -> BackendError {
    let kind = match &e {
        ArchiveError::NotFound { .. } => ErrorKind::NotFound,
        ArchiveError::NotDirectory { .. }
        | ArchiveError::Breakout { .. }
        | ArchiveError::Overwrite { .. }
        | ArchiveError::Read(_) => ErrorKind::InvalidArgument,
        ArchiveError::ReadOnly { .. } => ErrorKind::Forbidden,
        ArchiveError::Sys { .. } | ArchiveError::Write(_) => ErrorKind::Internal,
    };
    BackendError::new(kind, e.to_string()).with_source(e)
}

fn is_mountpoint(dir: &Path) -> std::io::Result<bool> {
    use std::os::unix::fs::MetadataExt as _;
    let parent = dir.parent().unwrap_or(Path::new("/"));
    Ok(std::fs::metadata(dir)?.dev() != std::fs::metadata(parent)?.dev())
}

impl RealBackend {
    /// Opens the root of `rec`'s file system: its processes' view while it runs, else its
    /// rootfs (mounted for the time of the returned guard when it is not mounted).
    pub(super) fn container_root(&self, rec: &Record) -> BackendResult<ContainerRoot> {
        let dir_flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        if rec.running && rec.pid > 0 {
            let proc_root = self.inner.paths.proc_root.join(format!("{}/root", rec.pid));
            if let Ok(fd) = open(&proc_root, dir_flags, Mode::empty()) {
                // The pid still belongs to the container when the record still says so.
                let now = self.record(&rec.id)?;
                if now.running && now.pid == rec.pid {
                    return Ok(ContainerRoot { fd, mounted: None });
                }
            }
        }
        let rootfs = self.inner.paths.container(&rec.id).join("bundle/rootfs");
        let internal = |what: &str| {
            let what = what.to_owned();
            move |e: std::io::Error| {
                BackendError::new(ErrorKind::Internal, format!("{what}: {e}")).with_source(e)
            }
        };
        let mut mounted = None;
        if !is_mountpoint(&rootfs).map_err(internal("cannot inspect the rootfs"))? {
            let mounts = self
                .inner
                .images
                .prepare_rootfs(&rec.id, &rec.image_id)
                .map_err(|e| {
                    BackendError::new(
                        ErrorKind::Internal,
                        format!("cannot prepare the rootfs: {e}"),
                    )
                })?;
            berth_image::snapshot::mount_all(&mounts, &rootfs).map_err(|e| {
                BackendError::new(ErrorKind::Internal, format!("cannot mount the rootfs: {e}"))
            })?;
            mounted = Some(rootfs.clone());
        }
        match open(&rootfs, dir_flags, Mode::empty()) {
            Ok(fd) => Ok(ContainerRoot { fd, mounted }),
            Err(e) => {
                if let Some(m) = &mounted {
                    let _ = berth_image::snapshot::unmount(m);
                }
                Err(internal("cannot open the rootfs")(e.into()))
            }
        }
    }

    /// The uid and gid of the container's configured user (`copyUIDGID`), from its
    /// `/etc/passwd` and `/etc/group`; `None` when it runs as the image default root.
    fn container_owner(&self, root: &OwnedFd, rec: &Record) -> BackendResult<Option<(u32, u32)>> {
        let mut user = rec.body.config.user.clone();
        if user.is_empty() {
            user = self
                .inner
                .images
                .image_config(&rec.image_id)
                .ok()
                .and_then(|c| c.config().clone())
                .and_then(|c| c.user().clone())
                .unwrap_or_default();
        }
        if user.is_empty() {
            return Ok(None);
        }
        let read = |path: &str| -> String {
            open_in(root, Path::new(path), OFlag::O_RDONLY | OFlag::O_NOFOLLOW)
                .ok()
                .and_then(|fd| std::io::read_to_string(std::fs::File::from(fd)).ok())
                .unwrap_or_default()
        };
        let resolved =
            berth_runtime::user::resolve(&user, &read("/etc/passwd"), &read("/etc/group"))
                .map_err(|e| {
                    BackendError::invalid(format!("cannot resolve the container user: {e}"))
                })?;
        Ok(Some((resolved.uid, resolved.gid)))
    }

    /// `PUT /containers/{id}/archive`.
    pub(super) async fn archive_put(
        &self,
        id: &str,
        opts: PutArchiveOptions,
        archive: ByteStream,
    ) -> BackendResult<()> {
        let rec = self.record(id)?;
        let body = RequestBody::new(archive);
        let (this, given) = (self.clone(), id.to_owned());
        let fd_dir = self.inner.paths.proc_root.join("self/fd");
        let rec_id = rec.id.clone();
        blocking(move || {
            body.consume(|reader| {
                let root = this.container_root(&rec)?;
                let owner = if opts.copy_uid_gid {
                    this.container_owner(root.fd(), &rec)?
                } else {
                    None
                };
                let ex = ExtractOptions {
                    no_overwrite_dir_non_dir: opts.no_overwrite_dir_non_dir,
                    owner,
                    fd_dir,
                };
                extract(root.fd(), &given, &opts.path, reader, &ex).map_err(api_error)?;
                Ok(())
            })
        })
        .await?;
        self.container_event(&rec_id, "extract-to-dir", &[]);
        Ok(())
    }

    /// `HEAD /containers/{id}/archive?path=`.
    pub(super) async fn archive_stat(&self, id: &str, path: &str) -> BackendResult<PathStat> {
        let rec = self.record(id)?;
        let (this, given, path) = (self.clone(), id.to_owned(), path.to_owned());
        blocking(move || {
            let root = this.container_root(&rec)?;
            Ok(locate(root.fd(), &given, &path).map_err(api_error)?.stat)
        })
        .await
    }

    /// `GET /containers/{id}/archive?path=`: the stat now, the tar streamed by a blocking task
    /// that holds the container's root (and its mount) until the tar is written.
    pub(super) async fn archive_get(
        &self,
        id: &str,
        path: &str,
    ) -> BackendResult<(PathStat, ByteStream)> {
        let rec = self.record(id)?;
        let (this, given, path) = (self.clone(), id.to_owned(), path.to_owned());
        let (root, src): (ContainerRoot, Source) = blocking(move || {
            let root = this.container_root(&rec)?;
            let src = locate(root.fd(), &given, &path).map_err(api_error)?;
            Ok((root, src))
        })
        .await?;
        let stat = src.stat.clone();
        let stream = tar_stream(move |out| write_tar(root.fd(), &src, out));
        Ok((stat, stream))
    }

    /// The root of `rec`'s own file system (its rootfs, without volumes, whether it runs or
    /// not), as `docker export` and `docker diff` see it.
    fn rootfs_root(&self, rec: &Record) -> BackendResult<ContainerRoot> {
        let stopped = Record {
            running: false,
            pid: 0,
            ..rec.clone()
        };
        self.container_root(&stopped)
    }

    /// `GET /containers/{id}/export`.
    pub(super) async fn archive_export(&self, id: &str) -> BackendResult<ByteStream> {
        let rec = self.record(id)?;
        let this = self.clone();
        let root = blocking(move || this.rootfs_root(&rec)).await?;
        Ok(tar_stream(move |out| write_tree(root.fd(), out)))
    }

    /// `GET /containers/{id}/changes`.
    pub(super) async fn archive_changes(&self, id: &str) -> BackendResult<Vec<Change>> {
        let rec = self.record(id)?;
        let this = self.clone();
        blocking(move || {
            let mounts = this
                .inner
                .images
                .prepare_rootfs(&rec.id, &rec.image_id)
                .map_err(|e| {
                    BackendError::new(
                        ErrorKind::Internal,
                        format!("cannot find the container's layers: {e}"),
                    )
                })?;
            let option = |key: &str| {
                mounts
                    .iter()
                    .flat_map(|m| m.options.iter())
                    .find_map(|o| o.strip_prefix(key).map(str::to_owned))
            };
            let lowers: Vec<PathBuf> = option("lowerdir=")
                .unwrap_or_default()
                .split(':')
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .collect();
            let upper = option("upperdir=").map(PathBuf::from).ok_or_else(|| {
                BackendError::new(ErrorKind::Internal, "the container has no writable layer")
            })?;
            super::archive_changes::changes(&upper, &lowers).map_err(api_error)
        })
        .await
    }
}

/// The body of a tar written by `write` on a blocking thread; a failure half-way ends the body
/// with an error (the status line is already sent).
pub(super) fn tar_stream(
    write: impl FnOnce(&mut ChunkWriter) -> Result<(), ArchiveError> + Send + 'static,
) -> ByteStream {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let mut out = ChunkWriter::new(tx);
        if let Err(e) = write(&mut out) {
            if !matches!(&e, ArchiveError::Write(_)) {
                tracing::warn!(error = %e, "archive failed half-way");
            }
            out.fail(std::io::Error::other(e.to_string()));
        }
    });
    Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}
