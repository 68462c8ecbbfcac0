//! Image builds in the real engine: the [`StepRunner`] that runs a Dockerfile `RUN` in a
//! container made by berth's runtime (through the same shim as `docker run`, on the build
//! network of `build_net.rs`: the default bridge unless `none`, `host` or another network is
//! asked for), and `POST /build`: unpack the tar context, run
//! `berth_build::exec::Builder` on a blocking thread, and stream its events as Docker's
//! JSON messages.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use berth_build::exec::{BuildEvent, BuildRequest, Builder, RunSpec, StepRunner};
use berth_runtime::runtime::Runtime;
use berth_runtime::spec::{self, ContainerConfig, ImageConfig};
use bytes::Bytes;
use tokio::sync::mpsc;

use super::build_net::{BuildNet, BuildNetError, SANDBOX_HOSTNAME, StepEndpoint, StepNet};
use super::{Paths, RealBackend};
use crate::api::models::{BuildAux, BuildMessage, BuildOptions};
use crate::backend::{BackendError, BackendResult, BoxStream, ErrorKind};

/// Why a RUN sandbox could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("cannot mount the build rootfs: {0}")]
    Mount(#[from] berth_image::snapshot::SnapshotError),
    #[error("cannot make the runtime spec: {0}")]
    Spec(#[from] spec::SpecError),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the build container did not start: {0}")]
    Start(String),
    #[error(transparent)]
    Network(#[from] BuildNetError),
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RunnerError {
    let path = path.to_path_buf();
    move |source| RunnerError::Io { op, path, source }
}

/// Unmounts the sandbox rootfs when dropped.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Err(e) = berth_image::snapshot::unmount(&self.0) {
            tracing::warn!(path = %self.0.display(), error = %e, "cannot unmount build rootfs");
        }
    }
}

/// Deletes the runtime state of a sandbox when dropped.
struct RuntimeState<'a>(&'a Runtime, String);

impl Drop for RuntimeState<'_> {
    fn drop(&mut self) {
        let _ = self.0.delete(&self.1, true);
    }
}

/// Runs RUN steps through the container shim.
pub struct ShimRunner<'a> {
    paths: &'a Paths,
    runtime: &'a Runtime,
    /// The engine's networking (`None` when it has none: only `none` and `host` work).
    net: Option<BuildNet>,
}

impl StepRunner for ShimRunner<'_> {
    type Error = RunnerError;

    fn run(&self, spec: &RunSpec, output: &mut dyn FnMut(&str)) -> Result<i64, RunnerError> {
        let mode = StepNet::parse(&spec.network);
        let id = format!("build-{}", spec.id);
        let mut binds = Vec::new();
        let mut netns = None;
        let mut endpoint = None;
        match &mode {
            StepNet::None => {}
            // The engine's own namespace, as for containers in `host` mode; names resolve as
            // on the host (as Docker's builder): a read-only copy of the host's resolv.conf.
            StepNet::Host => {
                netns = Some(
                    self.paths
                        .proc_root
                        .join(format!("{}/ns/net", std::process::id())),
                );
                let copy = spec.dir.join("resolv.conf");
                let text = std::fs::read(HOST_RESOLV_CONF).unwrap_or_default();
                std::fs::write(&copy, text).map_err(io("write", &copy))?;
                binds.push(berth_runtime::spec::BindMount {
                    source: copy,
                    destination: "/etc/resolv.conf".into(),
                    read_only: true,
                });
            }
            StepNet::Bridge(network) => {
                let (ep, files) =
                    StepEndpoint::prepare(self.net.as_ref(), network, &id, &spec.dir)?;
                endpoint = Some(ep);
                binds.extend(files);
            }
        }
        berth_image::snapshot::mount_all(&spec.mounts, &spec.rootfs)?;
        let _mounted = Mounted(spec.rootfs.clone());
        let bundle = spec.dir.join("bundle");
        std::fs::create_dir_all(&bundle).map_err(io("create", &bundle))?;
        let cfg = ContainerConfig {
            rootfs: spec.rootfs.clone(),
            image: ImageConfig {
                entrypoint: Vec::new(),
                cmd: spec.args.clone(),
                env: spec.env.clone(),
                working_dir: spec.workdir.clone().unwrap_or_default(),
                user: spec.user.clone().unwrap_or_default(),
            },
            hostname: SANDBOX_HOSTNAME.into(),
            netns_path: netns,
            binds,
            ..ContainerConfig::default()
        };
        let config = bundle.join("config.json");
        spec::generate(&cfg)?
            .save(&config)
            .map_err(|e| RunnerError::Start(format!("cannot write {}: {e}", config.display())))?;
        let (log, exit, err) = (
            spec.dir.join("log.json"),
            spec.dir.join("exit.json"),
            spec.dir.join("shim.err"),
        );
        let err_file = std::fs::File::create(&err).map_err(io("create", &err))?;
        let _state = RuntimeState(self.runtime, id.clone());
        let mut child = Command::new(&self.paths.exe)
            .arg("runtime")
            .arg("--root")
            .arg(self.paths.runtime_root())
            .arg("--cgroup-root")
            .arg(&self.paths.cgroup_root)
            .arg("shim")
            .arg(&id)
            .arg("--bundle")
            .arg(&bundle)
            .arg("--log")
            .arg(&log)
            .arg("--exit-file")
            .arg(&exit)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err_file)
            .spawn()
            .map_err(io("spawn the shim", &self.paths.exe))?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        let Ok(pid) = line.trim().parse::<i64>() else {
            let _ = child.wait();
            let why = std::fs::read_to_string(&err).unwrap_or_default();
            return Err(RunnerError::Start(why.trim().to_string()));
        };
        // The step's namespace exists and its command waits for `start`: join the network now.
        if let Some(ep) = endpoint.as_mut() {
            let ns = self.paths.proc_root.join(format!("{pid}/ns/net"));
            if let Err(e) = ep.attach(&ns) {
                let _ = self.runtime.kill(&id, nix::sys::signal::Signal::SIGKILL);
                let _ = child.wait();
                return Err(e.into());
            }
        }
        if let Err(e) = self.runtime.start(&id) {
            let _ = self.runtime.kill(&id, nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
            return Err(RunnerError::Start(e.to_string()));
        }
        child
            .wait()
            .map_err(io("wait for the shim", &self.paths.exe))?;
        let logged = std::fs::read_to_string(&log).unwrap_or_default();
        for l in logged.lines() {
            if let Ok(entry) = serde_json::from_str::<berth_runtime::shim::LogLine>(l) {
                output(entry.log.trim_end_matches('\n'));
            }
        }
        let record = berth_runtime::shim::read_exit(&exit).map_err(|e| {
            let why = std::fs::read_to_string(&err).unwrap_or_default();
            RunnerError::Start(format!("{e} {}", why.trim()))
        })?;
        Ok(i64::from(record.exit_code))
    }
}

/// The host's resolver configuration, handed to RUN steps on the host network.
const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";

fn short(id: &str) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex[..hex.len().min(12)].to_string()
}

/// Docker's classic builder wording of an event (`None`: nothing to show).
fn render(ev: &BuildEvent, quiet: bool) -> Option<BuildMessage> {
    if quiet {
        return match ev {
            BuildEvent::Built { id } => Some(BuildMessage::stream(format!("{id}\n"))),
            _ => None,
        };
    }
    Some(BuildMessage::stream(match ev {
        BuildEvent::Step { index, total, text } => format!("Step {index}/{total} : {text}\n"),
        BuildEvent::UsingCache => " ---> Using cache\n".into(),
        BuildEvent::Running { id } => format!(" ---> Running in {id}\n"),
        BuildEvent::Output(line) => format!("{line}\n"),
        BuildEvent::Layer { diff_id } => format!(" ---> {}\n", short(diff_id)),
        BuildEvent::Warning(w) => format!("{w}\n"),
        BuildEvent::Built { id } => format!("Successfully built {}\n", short(id)),
        BuildEvent::Tagged { name } => format!("Successfully tagged {name}\n"),
    }))
}

/// Unpacks a tar build context into `dir` (entries leaving it are refused by `tar`).
fn unpack_context(context: &[u8], dir: &Path) -> std::io::Result<()> {
    let reader = berth_image::unpack::decompress(context)?;
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_overwrite(true);
    archive.unpack(dir)
}

impl RealBackend {
    /// The build cache root (`<data root>/builder`).
    pub(super) fn builder_root(&self) -> PathBuf {
        self.inner.paths.data_root.join("builder")
    }

    pub(super) fn build(
        &self,
        opts: BuildOptions,
        context: Bytes,
    ) -> BackendResult<BoxStream<BuildMessage>> {
        let root = self.builder_root();
        let contexts = root.join("contexts");
        std::fs::create_dir_all(&contexts)
            .map_err(super::internal("cannot create the context dir"))?;
        let dir = tempfile::Builder::new()
            .prefix("ctx-")
            .tempdir_in(&contexts)
            .map_err(super::internal("cannot create the context dir"))?;
        unpack_context(&context, dir.path())
            .map_err(|e| BackendError::invalid(format!("cannot read the build context: {e}")))?;
        let df_path = dir.path().join(opts.dockerfile.trim_start_matches('/'));
        let dockerfile = std::fs::read_to_string(&df_path).map_err(|e| {
            BackendError::invalid(format!(
                "Cannot locate specified Dockerfile: {} ({e})",
                opts.dockerfile
            ))
        })?;
        let req = BuildRequest {
            context: dir.path().to_path_buf(),
            dockerfile,
            build_args: opts.build_args.clone(),
            target: opts.target.clone(),
            labels: opts.labels.clone(),
            tags: opts.tags.clone(),
            no_cache: opts.no_cache,
            network: opts.network.clone(),
            epoch: 0,
        };
        let (tx, rx) = mpsc::unbounded_channel::<BuildMessage>();
        let this = self.clone();
        let quiet = opts.quiet;
        let rt = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let _context = dir;
            let inner = &this.inner;
            let runner = ShimRunner {
                paths: &inner.paths,
                runtime: &inner.runtime,
                net: this.net().ok().map(|n| BuildNet::new(n, rt)),
            };
            let mut emit = |ev: BuildEvent| {
                if let BuildEvent::Built { id } = &ev {
                    let _ = tx.send(BuildMessage {
                        aux: Some(BuildAux { id: id.clone() }),
                        ..BuildMessage::default()
                    });
                }
                if let Some(m) = render(&ev, quiet) {
                    let _ = tx.send(m);
                }
            };
            let result =
                Builder::new(&inner.images, &runner, &root).and_then(|b| b.build(&req, &mut emit));
            if let Err(e) = result {
                let _ = tx.send(BuildMessage::error(e.to_string()));
            }
        });
        let stream =
            futures_util::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|m| (m, rx)) },
            );
        Ok(Box::pin(stream))
    }

    /// Removes the build cache; returns the bytes freed.
    pub(super) fn prune_builder(&self) -> BackendResult<u64> {
        berth_build::exec::prune(&self.builder_root())
            .map(|r| r.bytes)
            .map_err(|e| BackendError::new(ErrorKind::Internal, e.to_string()))
    }
}
