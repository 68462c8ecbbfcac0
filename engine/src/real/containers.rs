//! Container lifecycle of the real backend: create (record, bundle, rootfs mounts), start (spawn
//! the shim, release the init), exit handling, stop/kill/wait/remove, rename. The read-only
//! Docker views of the records are in `container_views.rs`.

use std::path::Path;
use std::process::Stdio;
use std::str::FromStr as _;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, SystemTime};

use berth_runtime::spec::{self, ContainerConfig, ImageConfig};
use nix::sys::signal::Signal;
use sha2::Digest as _;
use tokio::sync::watch;

use super::record::ZERO_TIME;
use super::{Entry, Phase, RealBackend, Record, blocking, internal};
use crate::api::models::{ContainerCreateBody, ContainerCreateResponse, ContainerWaitResponse};
use crate::backend::{BackendError, BackendResult, BoxFuture, ErrorKind, WaitCondition};
use crate::state::{replace_json, write_json};

fn now() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}

fn new_id() -> String {
    let mut h = sha2::Sha256::new();
    h.update(now().as_bytes());
    h.update(std::process::id().to_le_bytes());
    let mut noise = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut noise);
    }
    h.update(noise);
    hex::encode(h.finalize())
}

/// Signal of `SIGTERM`, `TERM`, `term` or `15`.
pub(super) fn parse_signal(sig: &str) -> BackendResult<Signal> {
    if let Ok(n) = sig.parse::<i32>() {
        return Signal::try_from(n)
            .map_err(|_| BackendError::invalid(format!("Invalid signal: {sig}")));
    }
    let upper = sig.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&full).map_err(|_| BackendError::invalid(format!("Invalid signal: {sig}")))
}

fn no_such(id: &str) -> BackendError {
    BackendError::not_found(format!("No such container: {id}"))
}

fn state_err(e: crate::state::StateError) -> BackendError {
    BackendError::new(
        ErrorKind::Internal,
        format!("cannot persist container state: {e}"),
    )
}

/// The runtime spec inputs from the image config and the create request.
pub(super) fn container_config(
    rootfs: &Path,
    image: &oci_spec::image::ImageConfiguration,
    body: &ContainerCreateBody,
    id: &str,
    netns: Option<&Path>,
) -> ContainerConfig {
    let ic = image.config().clone().unwrap_or_default();
    let (c, h) = (&body.config, &body.host_config);
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    ContainerConfig {
        rootfs: rootfs.to_owned(),
        image: ImageConfig {
            entrypoint: ic.entrypoint().clone().unwrap_or_default(),
            cmd: ic.cmd().clone().unwrap_or_default(),
            env: ic.env().clone().unwrap_or_default(),
            working_dir: ic.working_dir().clone().unwrap_or_default(),
            user: ic.user().clone().unwrap_or_default(),
        },
        entrypoint: c.entrypoint.clone(),
        command: c.cmd.clone(),
        hostname: non_empty(&c.hostname).unwrap_or_else(|| id[..12].to_owned()),
        domainname: c.domainname.clone(),
        env: c.env.clone(),
        user: non_empty(&c.user),
        workdir: non_empty(&c.working_dir),
        cap_add: h.cap_add.clone(),
        cap_drop: h.cap_drop.clone(),
        privileged: h.privileged,
        read_only: h.readonly_rootfs,
        tty: c.tty,
        console_size: match h.console_size[..] {
            [height, width] if height > 0 && width > 0 => Some((height, width)),
            _ => None,
        },
        netns_path: netns.map(Path::to_owned),
        ..ContainerConfig::default()
    }
}

impl RealBackend {
    /// Finds a container by full id, name or unique id prefix.
    pub(super) fn resolve(&self, id: &str) -> BackendResult<String> {
        let map = self.lock();
        let name = id.strip_prefix('/').unwrap_or(id);
        if map.contains_key(id) {
            return Ok(id.to_owned());
        }
        if let Some(e) = map.values().find(|e| e.record.name == name) {
            return Ok(e.record.id.clone());
        }
        let mut hits = map.keys().filter(|k| !id.is_empty() && k.starts_with(id));
        match (hits.next(), hits.next()) {
            (Some(k), None) => Ok(k.clone()),
            (Some(_), Some(_)) => Err(BackendError::invalid(format!(
                "multiple IDs found with provided prefix: {id}"
            ))),
            _ => Err(no_such(id)),
        }
    }

    pub(super) fn record(&self, id: &str) -> BackendResult<Record> {
        let full = self.resolve(id)?;
        self.lock()
            .get(&full)
            .map(|e| e.record.clone())
            .ok_or_else(|| no_such(id))
    }

    /// Applies `f` to the record, persists it, then publishes it and its phase: what the API
    /// shows is on disk, so a daemon killed at any point comes back with what a client saw
    /// (`docker ps` never lists as running a start the next daemon cannot know of). Updates of
    /// one container are serialized by its write lock; the file is written outside the lock
    /// of all containers (an fsync must not hold up the others). An update of process state
    /// only ([`Record::intent`] unchanged: a start, an exit) does not sync the directory: a
    /// machine crash may lose it, leaving the previous whole record, as if the crash came first
    /// (recovery then sees no process, as after any crash). An update that changes nothing is
    /// not written (a start resetting counters that are already zero costs no fsync).
    pub(super) fn update(&self, id: &str, f: impl FnOnce(&mut Record)) -> BackendResult<Record> {
        let written = self
            .lock()
            .get(id)
            .map(|e| e.written.clone())
            .ok_or_else(|| no_such(id))?;
        let mut last = written.lock().unwrap_or_else(PoisonError::into_inner);
        let (mut record, version) = {
            let map = self.lock();
            let entry = map.get(id).ok_or_else(|| no_such(id))?;
            (entry.record.clone(), entry.version + 1)
        };
        let before = record.clone();
        f(&mut record);
        if record == before {
            return Ok(record);
        }
        let path = self.inner.paths.container(id).join("record.json");
        match record.intent() == before.intent() {
            true => replace_json(&path, &record),
            false => write_json(&path, &record),
        }
        .map_err(state_err)?;
        *last = version;
        let mut map = self.lock();
        let entry = map.get_mut(id).ok_or_else(|| no_such(id))?;
        entry.record = record.clone();
        entry.version = version;
        entry.phase.send_replace(entry.record.phase());
        Ok(record)
    }

    pub(super) fn create(
        &self,
        name: Option<String>,
        body: ContainerCreateBody,
    ) -> BackendResult<ContainerCreateResponse> {
        let id = new_id();
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => n.trim_start_matches('/').to_owned(),
            None => format!("berth_{}", &id[..12]),
        };
        let valid = name.len() >= 2
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !valid {
            return Err(BackendError::invalid(format!(
                "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        if self.lock().values().any(|e| e.record.name == name) {
            return Err(BackendError::conflict(format!(
                "Conflict. The container name \"/{name}\" is already in use"
            )));
        }
        super::restart::validate_create(&body)?;
        self.log_rotation(&body.host_config)?;
        let image_ref = body.config.image.clone();
        let images = &self.inner.images;
        let summary = images
            .resolve(&image_ref)
            .map_err(|_| BackendError::not_found(format!("No such image: {image_ref}")))?;
        let image_cfg = images.image_config(&image_ref).map_err(|e| {
            BackendError::new(
                ErrorKind::Internal,
                format!("cannot read image config: {e}"),
            )
        })?;
        let mut warnings = Vec::new();
        let (mode, netns) = self.net_mode(&body)?;
        let dir = self.inner.paths.container(&id);
        let bundle = dir.join("bundle");
        let rootfs = bundle.join("rootfs");
        std::fs::create_dir_all(&rootfs).map_err(internal("cannot create the bundle"))?;
        std::fs::File::create(dir.join("log.json")).map_err(internal("cannot create the log"))?;
        let mut cfg = container_config(&rootfs, &image_cfg, &body, &id, netns.as_deref());
        let result = (|| {
            cfg.binds.extend(self.net_binds(&dir)?);
            let host_network = mode == "host";
            warnings.extend(super::resources::apply(
                &mut cfg,
                &body.host_config,
                host_network,
            )?);
            let mounts = images.prepare_rootfs(&id, &image_ref).map_err(|e| {
                BackendError::new(
                    ErrorKind::Internal,
                    format!("cannot prepare the rootfs: {e}"),
                )
            })?;
            let auto_remove = body.host_config.auto_remove;
            super::rootfs::mount(&mounts, &rootfs, auto_remove).map_err(|e| {
                BackendError::new(ErrorKind::Internal, format!("cannot mount the rootfs: {e}"))
            })?;
            // After the mount: a named USER is looked up in the image's /etc/passwd.
            let mut spec =
                spec::generate(&cfg).map_err(|e| BackendError::invalid(e.to_string()))?;
            super::attach::annotate(&mut spec, body.config.open_stdin, body.config.stdin_once);
            spec.save(bundle.join("config.json")).map_err(|e| {
                BackendError::new(
                    ErrorKind::Internal,
                    format!("cannot write config.json: {e}"),
                )
            })?;
            self.attach_mounts(&id, &rootfs, &image_cfg, &body, &bundle)
        })();
        if let Err(e) = result {
            let _ = berth_image::snapshot::unmount(&rootfs);
            let _ = images.release(&id);
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        let created = now();
        let record = Record {
            id: id.clone(),
            name,
            created_unix: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
            created,
            image: image_ref,
            image_id: summary.id.to_string(),
            body,
            network_mode: mode,
            started_at: ZERO_TIME.to_owned(),
            finished_at: ZERO_TIME.to_owned(),
            ..Record::default()
        };
        write_json(&dir.join("record.json"), &record).map_err(state_err)?;
        let (phase, _) = watch::channel(Phase::Created);
        self.lock().insert(
            id.clone(),
            Entry {
                record,
                phase,
                version: 0,
                written: Arc::default(),
            },
        );
        self.container_event(&id, "create", &[]);
        Ok(ContainerCreateResponse { id, warnings })
    }

    pub(super) async fn start(&self, id: &str) -> BackendResult<()> {
        let rec = self.record(id)?;
        if rec.running {
            return Err(BackendError::new(
                ErrorKind::NotModified,
                "container already started",
            ));
        }
        let id = rec.id.clone();
        let dir = self.inner.paths.container(&id);
        // A previous run's runtime state and exit record must not be mistaken for this one.
        let _ = self.inner.runtime.delete(&id, true);
        let _ = std::fs::remove_file(dir.join("exit.json"));
        let shim_err = std::fs::File::create(dir.join("shim.err"))
            .map_err(internal("cannot create the shim error file"))?;
        let rotation = self.log_rotation(&rec.body.host_config)?;
        let mut child = self
            .runtime_command()
            .arg("shim")
            .arg(&id)
            .arg("--bundle")
            .arg(dir.join("bundle"))
            .arg("--log")
            .arg(dir.join("log.json"))
            .arg("--log-max-size")
            .arg(rotation.max_size.to_string())
            .arg("--log-max-files")
            .arg(rotation.max_files.to_string())
            .arg("--exit-file")
            .arg(dir.join("exit.json"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(shim_err)
            .spawn()
            .map_err(internal("cannot spawn the shim"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| BackendError::new(ErrorKind::Internal, "shim has no stdout"))?;
        let mut line = String::new();
        let mut reader = tokio::io::BufReader::new(stdout);
        let _ = tokio::io::AsyncBufReadExt::read_line(&mut reader, &mut line).await;
        let Ok(pid) = line.trim().parse::<i64>() else {
            let _ = child.wait().await;
            let why = std::fs::read_to_string(dir.join("shim.err")).unwrap_or_default();
            let why = why.trim().trim_start_matches("berth-runtime: ").to_owned();
            let _ = self.inner.runtime.delete(&id, true);
            let rec = self.update(&id, |r| {
                r.error = why.clone();
                r.exit_code = start_failure_exit_code(&why);
                r.finished_at = now();
            })?;
            // As dockerd: a container that cannot start is removed when it was created with
            // --rm (the client waits for that removal before it reports the error).
            if rec.body.host_config.auto_remove {
                let _ = self.remove(&id, true).await;
            }
            return Err(BackendError::new(
                ErrorKind::Internal,
                format!("failed to create container: {why}"),
            ));
        };
        if let Err(e) = self.net_attach(&id, pid).await {
            let _ = self.inner.runtime.delete(&id, true);
            let _ = child.wait().await;
            let _ = self.update(&id, |r| {
                r.error = e.message.clone();
                r.exit_code = 128;
                r.finished_at = now();
            });
            return Err(e);
        }
        self.connect_waiting(&id);
        self.update(&id, |r| {
            r.pid = pid;
            r.running = true;
            r.started = true;
            r.error.clear();
            r.oom_killed = false;
            r.started_at = now();
        })?;
        // A process that ends at once (`run --rm … cat`) may make the shim exit before
        // `start` has returned: its exit is recorded (and an auto-remove deletes the runtime
        // state) only once `start` is done, so `start` comes before `die` and never finds its
        // state gone.
        let (start_done, start_gate) = tokio::sync::oneshot::channel::<()>();
        let this = self.clone();
        let watch_id = id.clone();
        tokio::spawn(async move {
            let _ = child.wait().await;
            let _ = start_gate.await;
            this.on_exit(&watch_id).await;
        });
        let this = self.clone();
        let start_id = id.clone();
        let begun = blocking(move || {
            this.inner
                .runtime
                .start(&start_id)
                .map_err(|e| BackendError::new(ErrorKind::Internal, e.to_string()))
        })
        .await;
        if begun.is_ok() {
            self.started(&id);
        }
        drop(start_done);
        begun
    }

    /// Records how the container ended once its shim is gone, then auto-removes if asked.
    /// The cgroup removal and the record's fsync run on the blocking pool: many containers
    /// ending at once (a `down`) neither hold up the engine's async workers nor wait for each
    /// other's fsync (the file system commits them together).
    pub(super) async fn on_exit(&self, id: &str) {
        self.net_detach(id).await;
        let this = self.clone();
        let owned = id.to_owned();
        let recorded = blocking(move || {
            let id = owned.as_str();
            let dir = this.inner.paths.container(id);
            let exit = berth_runtime::shim::read_exit(&dir.join("exit.json")).ok();
            let _ = this.inner.runtime.delete(id, true);
            this.update(id, |r| {
                r.running = false;
                r.paused = false;
                r.pid = 0;
                r.finished_at = now();
                match &exit {
                    Some(e) => {
                        r.exit_code = i64::from(e.exit_code);
                        r.oom_killed = e.oom_killed;
                        r.finished_at = e.finished_at.clone();
                    }
                    None => r.exit_code = 255,
                }
            })
        });
        let Ok(rec) = recorded.await else {
            return;
        };
        self.exited(&rec);
        if rec.body.host_config.auto_remove {
            let anonymous = self.anonymous_volumes(id);
            if self.remove(id, true).await.is_ok() {
                self.remove_volumes_quietly(&anonymous);
            }
        }
    }

    pub(super) fn phase_rx(&self, id: &str) -> BackendResult<watch::Receiver<Phase>> {
        self.lock()
            .get(id)
            .map(|e| e.phase.subscribe())
            .ok_or_else(|| no_such(id))
    }

    pub(super) fn kill(&self, id: &str, signal: &str) -> BackendResult<()> {
        let sig = parse_signal(signal)?;
        let rec = self.record(id)?;
        if !rec.running {
            return Err(BackendError::conflict(format!(
                "Container {} is not running",
                rec.id
            )));
        }
        self.inner
            .runtime
            .kill(&rec.id, sig)
            .map_err(|e| BackendError::new(ErrorKind::Internal, e.to_string()))?;
        // A frozen container only acts on the signal once thawed (Docker does the same).
        if rec.paused && sig == Signal::SIGKILL {
            let _ = self.inner.runtime.set_paused(&rec.id, false);
            let _ = self.update(&rec.id, |r| r.paused = false);
        }
        self.container_event(&rec.id, "kill", &[("signal", (sig as i32).to_string())]);
        Ok(())
    }

    async fn until_stopped(rx: &mut watch::Receiver<Phase>) {
        let _ = rx
            .wait_for(|p| !matches!(p, Phase::Running | Phase::Created))
            .await;
    }

    pub(super) async fn stop(
        &self,
        id: &str,
        timeout: Option<i64>,
        signal: Option<String>,
    ) -> BackendResult<()> {
        let rec = self.record(id)?;
        if !rec.running {
            if rec.restarting {
                self.user_stopped(&rec.id)?;
                self.container_event(&rec.id, "stop", &[]);
                return Ok(());
            }
            return Err(BackendError::new(
                ErrorKind::NotModified,
                "container already stopped",
            ));
        }
        self.user_stopped(&rec.id)?;
        let mut rx = self.phase_rx(&rec.id)?;
        let sig = signal
            .or_else(|| rec.body.config.stop_signal.clone())
            .unwrap_or_else(|| "SIGTERM".to_owned());
        let grace = timeout.or(rec.body.config.stop_timeout).unwrap_or(10);
        let _ = self.kill(&rec.id, &sig);
        let waited = if grace < 0 {
            Self::until_stopped(&mut rx).await;
            true
        } else {
            let secs = u64::try_from(grace).unwrap_or(0);
            tokio::time::timeout(Duration::from_secs(secs), Self::until_stopped(&mut rx))
                .await
                .is_ok()
        };
        if !waited {
            let _ = self.kill(&rec.id, "SIGKILL");
            Self::until_stopped(&mut rx).await;
        }
        self.container_event(&rec.id, "stop", &[]);
        Ok(())
    }

    pub(super) fn wait(
        &self,
        id: &str,
        condition: WaitCondition,
    ) -> BackendResult<BoxFuture<BackendResult<ContainerWaitResponse>>> {
        let full = self.resolve(id)?;
        let mut rx = self.phase_rx(&full)?;
        let start = *rx.borrow_and_update();
        let last_code = self.record(&full).map(|r| r.exit_code).unwrap_or(0);
        Ok(Box::pin(async move {
            let code = |p: Phase| match p {
                Phase::Exited(c) => c,
                _ => last_code,
            };
            let done = match condition {
                WaitCondition::NotRunning if !matches!(start, Phase::Running) => start,
                WaitCondition::NotRunning | WaitCondition::NextExit => {
                    let p = rx.wait_for(|p| matches!(p, Phase::Exited(_) | Phase::Removed));
                    p.await.map(|p| *p).unwrap_or(Phase::Removed)
                }
                WaitCondition::Removed => {
                    let mut seen = last_code;
                    loop {
                        let p = *rx.borrow_and_update();
                        if let Phase::Exited(c) = p {
                            seen = c;
                        }
                        if p == Phase::Removed || rx.changed().await.is_err() {
                            break Phase::Exited(seen);
                        }
                    }
                }
            };
            Ok(ContainerWaitResponse {
                status_code: code(done),
                error: None,
            })
        }))
    }

    pub(super) async fn remove(&self, id: &str, force: bool) -> BackendResult<()> {
        let rec = self.record(id)?;
        if rec.running {
            if !force {
                return Err(BackendError::conflict(format!(
                    "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
                    rec.id
                )));
            }
            let mut rx = self.phase_rx(&rec.id)?;
            let _ = self.kill(&rec.id, "SIGKILL");
            Self::until_stopped(&mut rx).await;
        }
        self.net_detach(&rec.id).await;
        let this = self.clone();
        let id = rec.id.clone();
        blocking(move || this.remove_files(&id)).await
    }

    fn remove_files(&self, id: &str) -> BackendResult<()> {
        self.inner.supervisor.forget(id);
        self.stop_health(id);
        self.container_event(id, "destroy", &[]);
        // Under the container's write lock, so no update writes the record again after it.
        let written = self.lock().get(id).map(|e| e.written.clone());
        let guard = written
            .as_ref()
            .map(|w| w.lock().unwrap_or_else(PoisonError::into_inner));
        let Some(entry) = self.lock().remove(id) else {
            return Ok(());
        };
        // Without its record the directory is debris: a daemon killed during the rest of the
        // removal finishes it on start (recovery) instead of reviving a half-removed container.
        let _ = std::fs::remove_file(self.inner.paths.container(id).join("record.json"));
        drop(guard);
        // Also when the state cannot be read (a shim killed while it wrote it).
        self.drop_runtime_state(id);
        self.detach_mounts(id);
        let dir = self.inner.paths.container(id);
        let rootfs = dir.join("bundle/rootfs");
        berth_image::snapshot::unmount(&rootfs).map_err(|e| {
            BackendError::new(
                ErrorKind::Internal,
                format!("cannot unmount the rootfs: {e}"),
            )
        })?;
        self.inner.images.release(id).map_err(|e| {
            BackendError::new(
                ErrorKind::Internal,
                format!("cannot release the rootfs: {e}"),
            )
        })?;
        std::fs::remove_dir_all(&dir).map_err(internal("cannot remove the container directory"))?;
        entry.phase.send_replace(Phase::Removed);
        Ok(())
    }

    pub(super) fn rename(&self, id: &str, new_name: &str) -> BackendResult<()> {
        let full = self.resolve(id)?;
        let new_name = new_name.trim_start_matches('/').to_owned();
        if self.lock().values().any(|e| e.record.name == new_name) {
            return Err(BackendError::conflict(format!(
                "Conflict. The container name \"/{new_name}\" is already in use"
            )));
        }
        let old = self.record(&full)?.name;
        self.update(&full, |r| r.name = new_name)?;
        self.container_event(&full, "rename", &[("oldName", format!("/{old}"))]);
        Ok(())
    }
}

/// The exit code Docker records for a container whose process could not be started: 127 when
/// the command does not exist, 126 when it cannot be executed, 128 otherwise.
fn start_failure_exit_code(why: &str) -> i64 {
    if why.contains("executable file not found") || why.contains("no such file or directory") {
        127
    } else if why.contains("permission denied") || why.contains("is a directory") {
        126
    } else {
        128
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_by_name_and_number() {
        assert_eq!(parse_signal("SIGKILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("term").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("2").unwrap(), Signal::SIGINT);
        assert!(parse_signal("SIGNOPE").is_err());
    }

    #[test]
    fn start_failures_map_to_dockers_exit_codes() {
        let missing = r#"exec: "nope": executable file not found in $PATH"#;
        assert_eq!(start_failure_exit_code(missing), 127);
        assert_eq!(start_failure_exit_code("exec: /x: permission denied"), 126);
        assert_eq!(start_failure_exit_code("cgroup setup failed"), 128);
    }

    #[test]
    fn container_config_merges_image_and_request() {
        let image: oci_spec::image::ImageConfiguration = serde_json::from_str(
            r#"{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"],"Env":["PATH=/bin"]},
                "rootfs":{"type":"layers","diff_ids":[]}}"#,
        )
        .unwrap();
        let body: ContainerCreateBody =
            serde_json::from_str(r#"{"Image":"x","Cmd":["echo","hi"]}"#).unwrap();
        let id = "a".repeat(64);
        let cfg = container_config(Path::new("/r"), &image, &body, &id, None);
        assert_eq!(cfg.image.cmd, ["sh"]);
        assert_eq!(cfg.command.as_deref().unwrap(), ["echo", "hi"]);
        assert_eq!(cfg.hostname, "aaaaaaaaaaaa");
        assert!(cfg.netns_path.is_none());
    }
}
