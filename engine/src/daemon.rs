//! Daemon wiring: prepare the data root, bind the API socket safely, serve the Docker API over a
//! [`Backend`] until SIGTERM/SIGINT, then shut down cleanly (streams ended, socket removed).

use std::fs::{self, DirBuilder, Permissions};
use std::future::Future;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, UnixAddr, bind, listen, socket,
};
use std::os::fd::AsRawFd;
use tokio::net::UnixListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::api::server::app_with_shutdown;
use crate::backend::Backend;
use crate::config::DaemonConfig;

/// Mode of the API socket: owner and group may connect.
pub const SOCKET_MODE: u32 = 0o660;
/// Mode of a socket directory the daemon creates: only root lists it, others may traverse.
pub const SOCKET_DIR_MODE: u32 = 0o711;
/// Mode of the data root.
pub const DATA_ROOT_MODE: u32 = 0o700;

/// Failures of starting or running the daemon.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// A directory could not be created or restricted.
    #[error("cannot prepare directory {path}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Another engine already serves on the socket.
    #[error("another engine is already listening on {path}")]
    SocketInUse {
        /// The socket path.
        path: PathBuf,
    },
    /// Something that is not a socket sits at the socket path.
    #[error("{path} exists and is not a socket; refusing to replace it")]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// Creating, binding or listening on the socket failed.
    #[error("cannot {step} API socket {path}")]
    Socket {
        /// `create`, `bind`, `chmod`, `listen` or `remove`.
        step: &'static str,
        /// The socket path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Installing signal handlers failed.
    #[error("cannot install signal handlers")]
    Signals(#[source] io::Error),
    /// The HTTP server stopped with an error.
    #[error("API server failed")]
    Serve(#[source] io::Error),
}

/// Creates the data root if missing and restricts it to 0700.
pub fn prepare_data_root(path: &Path) -> Result<(), DaemonError> {
    let err = |source| DaemonError::Dir {
        path: path.to_owned(),
        source,
    };
    DirBuilder::new()
        .recursive(true)
        .mode(DATA_ROOT_MODE)
        .create(path)
        .map_err(err)?;
    fs::set_permissions(path, Permissions::from_mode(DATA_ROOT_MODE)).map_err(err)
}

/// Binds a filesystem unix socket at `path` with mode 0660, set before `listen` so no client
/// can connect while it is more open. A missing parent directory is created 0711; a stale
/// socket from a dead daemon is replaced; a live one is an error.
pub fn bind_socket(path: &Path) -> Result<UnixListener, DaemonError> {
    let sock_err = |step| {
        move |source| DaemonError::Socket {
            step,
            path: path.to_owned(),
            source,
        }
    };
    if let Some(parent) = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty() && !p.exists())
    {
        let err = |source| DaemonError::Dir {
            path: parent.to_owned(),
            source,
        };
        DirBuilder::new()
            .recursive(true)
            .mode(SOCKET_DIR_MODE)
            .create(parent)
            .map_err(err)?;
        fs::set_permissions(parent, Permissions::from_mode(SOCKET_DIR_MODE)).map_err(err)?;
    }
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(DaemonError::SocketInUse {
                    path: path.to_owned(),
                });
            }
            fs::remove_file(path).map_err(sock_err("remove"))?;
        }
        Ok(_) => {
            return Err(DaemonError::NotASocket {
                path: path.to_owned(),
            });
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(sock_err("inspect")(e)),
    }
    let errno = |step| move |e: nix::errno::Errno| sock_err(step)(io::Error::from(e));
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )
    .map_err(errno("create"))?;
    let addr = UnixAddr::new(path).map_err(errno("bind"))?;
    bind(fd.as_raw_fd(), &addr).map_err(errno("bind"))?;
    fs::set_permissions(path, Permissions::from_mode(SOCKET_MODE)).map_err(sock_err("chmod"))?;
    listen(&fd, Backlog::new(1024).map_err(errno("listen"))?).map_err(errno("listen"))?;
    UnixListener::from_std(std::os::unix::net::UnixListener::from(fd)).map_err(sock_err("listen"))
}

/// Serves the API over `backend` on `listener` until `shutdown` completes; then ends streaming
/// answers, lets requests in flight finish and returns.
pub async fn serve<B: Backend>(
    listener: UnixListener,
    backend: Arc<B>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), DaemonError> {
    let (tx, rx) = watch::channel(false);
    let router = app_with_shutdown(backend, rx);
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down API server");
            tx.send_replace(true);
        })
        .await
        .map_err(DaemonError::Serve)
}

/// Runs the daemon until SIGTERM or SIGINT: see [`run_until`].
pub async fn run<B: Backend>(config: &DaemonConfig, backend: B) -> Result<(), DaemonError> {
    let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?;
    let stop = async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    };
    run_until(config, backend, stop).await
}

/// Prepares the data root, binds the socket from `config`, serves `backend` until `stop`
/// completes, then removes the socket.
pub async fn run_until<B: Backend>(
    config: &DaemonConfig,
    backend: B,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<(), DaemonError> {
    prepare_data_root(&config.data_root)?;
    let listener = bind_socket(&config.socket)?;
    tracing::info!(
        socket = %config.socket.display(),
        data_root = %config.data_root.display(),
        "engine API listening"
    );
    let served = serve(listener, Arc::new(backend), stop).await;
    let removed = match fs::remove_file(&config.socket) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(DaemonError::Socket {
            step: "remove",
            path: config.socket.clone(),
            source: e,
        }),
        _ => Ok(()),
    };
    served.and(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[tokio::test]
    async fn socket_is_0660_in_a_0711_parent_and_stale_sockets_are_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/berth/api.sock");
        let listener = bind_socket(&path).unwrap();
        assert_eq!(mode(&path), 0o660);
        assert_eq!(mode(path.parent().unwrap()), 0o711);
        assert!(matches!(
            bind_socket(&path),
            Err(DaemonError::SocketInUse { .. })
        ));
        drop(listener);
        let again = bind_socket(&path).unwrap();
        assert_eq!(mode(&path), 0o660);
        drop(again);
    }

    #[tokio::test]
    async fn a_regular_file_at_the_socket_path_is_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file.sock");
        fs::write(&path, b"keep").unwrap();
        assert!(matches!(
            bind_socket(&path),
            Err(DaemonError::NotASocket { .. })
        ));
        assert_eq!(fs::read(&path).unwrap(), b"keep");
    }

    #[test]
    fn data_root_is_created_0700() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data/root");
        prepare_data_root(&root).unwrap();
        assert_eq!(mode(&root), 0o700);
        fs::set_permissions(&root, Permissions::from_mode(0o755)).unwrap();
        prepare_data_root(&root).unwrap();
        assert_eq!(mode(&root), 0o700);
    }

    #[tokio::test]
    async fn run_until_creates_the_data_root_serves_and_removes_the_socket_on_stop() {
        let dir = tempfile::tempdir().unwrap();
        let config = DaemonConfig {
            data_root: dir.path().join("lib/berth"),
            socket: dir.path().join("run/berth/berth.sock"),
            ..DaemonConfig::default()
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let daemon = tokio::spawn({
            let config = config.clone();
            async move {
                let backend = crate::fake::FakeBackend::new(&config.data_root.to_string_lossy());
                run_until(&config, backend, async move {
                    // A dropped sender also means stop.
                    let _ = stopped.await;
                })
                .await
            }
        });
        let client =
            crate::client::Client::new(&format!("unix://{}", config.socket.display())).unwrap();
        let mut answered = client.ping().await;
        while matches!(answered, Err(crate::client::ClientError::Connect { .. })) {
            assert!(
                !daemon.is_finished(),
                "daemon stopped early: {:?}",
                daemon.await
            );
            tokio::task::yield_now().await;
            answered = client.ping().await;
        }
        answered.unwrap();
        assert_eq!(mode(&config.data_root), 0o700);
        assert_eq!(mode(&config.socket), 0o660);
        stop.send(()).unwrap();
        daemon.await.unwrap().unwrap();
        assert!(!config.socket.exists(), "socket removed on shutdown");
    }
}
