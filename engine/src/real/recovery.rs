//! Start-up recovery and live-restore: the daemon reconciles its records with the kernel when it
//! opens its state. Containers whose shim still runs are re-attached (their exit is noticed by a
//! watcher, since the new daemon is not the shim's parent); exits that happened while the daemon
//! was down are recorded; a start the dead daemon left half-done is undone; directories and
//! runtime state that belong to no container (a create or remove cut short) are removed with
//! their mounts and cgroups.
//!
//! The decision per container is pure ([`plan`]); [`RealBackend::reconcile`] applies what needs
//! no networking and keeps the rest ([`Pending`]): exits are recorded, re-attached containers
//! watched and restart policies resumed only once networking is open
//! ([`RealBackend::resume_after_recovery`]), since each of them detaches or attaches endpoints.

use std::path::Path;
use std::sync::PoisonError;
use std::time::Duration;

use berth_runtime::state::Status;

use super::{Phase, RealBackend, Record};

/// How often a re-attached container's shim is checked for an exit.
const WATCH_EVERY: Duration = Duration::from_millis(100);
/// How long a container whose init is gone may take to get its exit record written.
const EXIT_GRACE_TICKS: u32 = 20;

/// What the kernel and the shim say about one container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    /// The shim wrote an exit record.
    pub exit_recorded: bool,
    /// The runtime's status of the container, `None` when it has no state for it.
    pub runtime: Option<Status>,
}

/// What recovery leaves for the async runtime until networking is open: exits to record and
/// re-attached containers to watch. Recording an exit detaches the container's endpoints and
/// then unpins its namespace; before networking is open the endpoints are not loaded, so only
/// the namespace would go (and the veths with it) while the container is still recorded as
/// running with its endpoints, and a restart by policy would find no networking.
#[derive(Debug, Default)]
pub(super) struct Pending {
    exited: Vec<String>,
    watch: Vec<String>,
}

/// What recovery does with one recorded container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing to do.
    Keep,
    /// It ran and its exit is on disk: record it.
    RecordExit,
    /// It runs: watch its shim for the exit.
    Reattach,
    /// The record says running but neither the init nor an exit record is there: watch a
    /// little for the shim's record, then record an unknown exit.
    AwaitExit,
    /// The record says running but the init still waits to be released (the daemon died
    /// between recording the start and releasing the init): release it, then watch it.
    FinishStart,
    /// Not started as far as the record knows, yet the runtime has it (a start cut short):
    /// kill it and drop its runtime state.
    Undo,
}

/// Recovery's decision for a container recorded as `rec` and observed as `seen`.
pub fn plan(rec: &Record, seen: Observed) -> Action {
    let alive = matches!(
        seen.runtime,
        Some(Status::Running | Status::Created | Status::Paused)
    );
    match (rec.running, alive, seen.exit_recorded) {
        (true, _, true) => Action::RecordExit,
        (true, true, false) if seen.runtime == Some(Status::Created) => Action::FinishStart,
        (true, true, false) => Action::Reattach,
        (true, false, false) => Action::AwaitExit,
        (false, true, _) => Action::Undo,
        (false, false, _) => Action::Keep,
    }
}

impl RealBackend {
    fn observe(&self, id: &str) -> Observed {
        let dir = self.inner.paths.container(id);
        Observed {
            exit_recorded: dir.join("exit.json").exists(),
            runtime: self.inner.runtime.state(id).ok().map(|s| s.status),
        }
    }

    /// Removes what a create or remove cut short left behind: container directories without a
    /// record (their rootfs mount and snapshot too) and runtime state of unknown containers
    /// (its processes and cgroup too).
    fn remove_debris(&self) {
        let known: std::collections::HashSet<String> = self.lock().keys().cloned().collect();
        let paths = &self.inner.paths;
        for dir in subdirs(&paths.containers()) {
            let Some(id) = dir.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
                continue;
            };
            if known.contains(&id) {
                continue;
            }
            tracing::info!(container = %id, "removing debris of an unfinished create or remove");
            self.drop_runtime_state(&id);
            let _ = berth_image::snapshot::unmount(&dir.join("bundle/rootfs"));
            let _ = self.inner.images.release(&id);
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!(path = %dir.display(), error = %e, "cannot remove debris");
            }
        }
        for dir in subdirs(&paths.runtime_root()) {
            let Some(id) = dir.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if !known.contains(id) {
                tracing::info!(container = %id, "removing runtime state of an unknown container");
                self.drop_runtime_state(id);
            }
        }
    }

    /// Reconciles records with the kernel (see the module doc). Exits to record and containers
    /// to watch are kept for [`RealBackend::resume_after_recovery`].
    pub(super) fn reconcile(&self) {
        // Shims of containers not recorded as running are starts the dead daemon left
        // half-done. They go first, so that none of them writes runtime state after it was
        // cleaned up below.
        let recorded_running: Vec<String> = self
            .lock()
            .values()
            .filter(|e| e.record.running)
            .map(|e| e.record.id.clone())
            .collect();
        self.kill_stray_shims(&recorded_running);
        self.remove_debris();
        let records: Vec<Record> = self.lock().values().map(|e| e.record.clone()).collect();
        let mut exited = Vec::new();
        let mut watch = Vec::new();
        for rec in records {
            let id = rec.id.clone();
            match plan(&rec, self.observe(&id)) {
                Action::Keep => {
                    if self.inner.paths.runtime_root().join(&id).exists() {
                        self.drop_runtime_state(&id);
                    }
                }
                Action::RecordExit => exited.push(id),
                Action::Reattach | Action::AwaitExit => watch.push(id),
                Action::FinishStart if self.init_released(&id) => {
                    // Released, killed before the runtime removed its fifo.
                    let fifo = self.inner.paths.runtime_root().join(&id).join("exec.fifo");
                    let _ = std::fs::remove_file(fifo);
                    watch.push(id);
                }
                Action::FinishStart => match self.inner.runtime.start(&id) {
                    Ok(()) => {
                        tracing::info!(container = %id, "finished a start the previous daemon left unfinished");
                        watch.push(id);
                    }
                    Err(e) => {
                        tracing::warn!(container = %id, error = %e, "cannot finish an unfinished start");
                        self.drop_runtime_state(&id);
                        exited.push(id);
                    }
                },
                Action::Undo => {
                    tracing::info!(container = %id, "undoing a start the previous daemon left unfinished");
                    self.drop_runtime_state(&id);
                    let _ = self.update(&id, |r| r.restarting = false);
                }
            }
        }
        *self
            .inner
            .recovered
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Pending { exited, watch });
    }

    /// Runs what [`RealBackend::reconcile`] left for the async runtime, once networking is open
    /// ([`RealBackend::open_networks`] calls it last): records the exits found, watches the
    /// re-attached containers, then starts the containers their restart policy wants running.
    /// Runs once.
    pub(super) fn resume_after_recovery(&self) {
        let pending = self
            .inner
            .recovered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(Pending { exited, watch }) = pending else {
            return;
        };
        // Taken before the exits are recorded: a container whose exit recovery records is
        // restarted by its policy's back-off, not a second time here.
        let candidates = self.policy_candidates();
        let this = self.clone();
        tokio::spawn(async move {
            for id in exited {
                this.on_exit(&id).await;
            }
            for id in watch {
                tracing::info!(container = %id, "re-attached to running container");
                this.inner.supervisor.started(&id);
                let me = this.clone();
                tokio::spawn(async move { me.watch_shim(&id).await });
            }
            this.resume_policies(candidates).await;
        });
    }

    /// Deletes the runtime state of a container that is not running. When the state cannot be
    /// read (the daemon died while it was written) the container's cgroups are emptied with
    /// SIGKILL and removed by hand, then the state directory.
    pub(super) fn drop_runtime_state(&self, id: &str) {
        if self.inner.runtime.delete(id, true).is_ok() {
            return;
        }
        let paths = &self.inner.paths;
        let dir = paths.runtime_root().join(id);
        if !dir.exists() {
            return;
        }
        tracing::info!(container = %id, "removing unreadable runtime state");
        let cgroups = container_cgroups(&paths.cgroup_root, id);
        for cg in &cgroups {
            for pid in std::fs::read_to_string(cg.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.trim().parse::<i32>().ok())
            {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        for cg in &cgroups {
            // A killed process leaves its cgroup a moment after the signal.
            for _ in 0..50 {
                if std::fs::remove_dir(cg).is_ok() || !cg.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!(path = %dir.display(), error = %e, "cannot remove runtime state");
            }
            _ => {}
        }
    }

    /// Whether the init of a container the runtime reports as created has left the runtime
    /// already: an init waiting to be released still carries its shim's command line.
    fn init_released(&self, id: &str) -> bool {
        let Ok(state) = self.inner.runtime.state(id) else {
            return false;
        };
        let runtime = self.inner.paths.runtime_root();
        let cmdline = self
            .inner
            .paths
            .proc_root
            .join(state.pid.to_string())
            .join("cmdline");
        std::fs::read(cmdline)
            .is_ok_and(|c| !c.is_empty() && shim_of(&c, &runtime.to_string_lossy()) != Some(id))
    }

    /// Kills shim processes of this engine (their argv names its runtime root) whose container
    /// is not recorded as running: starts the previous daemon left half-done. Their cloned
    /// children carry the same argv until they exec, so a stuck init goes too. Waits (briefly)
    /// until they are gone.
    fn kill_stray_shims(&self, keep: &[String]) {
        let mut killed = Vec::new();
        let runtime = self.inner.paths.runtime_root();
        let runtime = runtime.to_string_lossy();
        for dir in subdirs(&self.inner.paths.proc_root) {
            let Some(pid) = dir
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.parse::<i32>().ok())
            else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(dir.join("cmdline")) else {
                continue;
            };
            if let Some(id) = shim_of(&cmdline, &runtime)
                && !keep.iter().any(|k| k == id)
            {
                tracing::info!(container = %id, pid, "killing a stray shim");
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                killed.push(dir);
            }
        }
        // A dead process (or a zombie) has an empty command line.
        let alive = |dir: &std::path::PathBuf| {
            std::fs::read(dir.join("cmdline")).is_ok_and(|c| !c.is_empty())
        };
        for _ in 0..200 {
            if !killed.iter().any(alive) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for the exit of a container whose shim this daemon did not spawn, then records it
    /// like any exit.
    async fn watch_shim(&self, id: &str) {
        let mut gone_for = 0;
        loop {
            tokio::time::sleep(WATCH_EVERY).await;
            let still_ours = self
                .lock()
                .get(id)
                .is_some_and(|e| *e.phase.borrow() == Phase::Running);
            if !still_ours {
                return;
            }
            let seen = self.observe(id);
            if seen.exit_recorded {
                break;
            }
            let alive = matches!(
                seen.runtime,
                Some(Status::Running | Status::Created | Status::Paused)
            );
            gone_for = if alive { 0 } else { gone_for + 1 };
            if gone_for >= EXIT_GRACE_TICKS {
                tracing::warn!(container = %id, "init gone without an exit record");
                break;
            }
        }
        self.on_exit(id).await;
    }
}

/// The container id of a shim command line (`… --root <runtime> … shim <id> …`).
fn shim_of<'a>(cmdline: &'a [u8], runtime: &str) -> Option<&'a str> {
    let args: Vec<&str> = cmdline
        .split(|b| *b == 0)
        .filter_map(|a| std::str::from_utf8(a).ok())
        .collect();
    if !args.contains(&runtime) {
        return None;
    }
    let at = args.iter().position(|a| *a == "shim")?;
    args.get(at + 1).copied()
}

/// The cgroup directories the runtime makes for container `id` (`berth/<id>` in the unified
/// hierarchy, or under each v1 controller).
fn container_cgroups(cgroup_root: &Path, id: &str) -> Vec<std::path::PathBuf> {
    let unified = cgroup_root.join("berth").join(id);
    let mut out: Vec<std::path::PathBuf> = subdirs(cgroup_root)
        .into_iter()
        .map(|c| c.join("berth").join(id))
        .filter(|p| p.exists())
        .collect();
    if unified.exists() {
        out.push(unified);
    }
    out
}

fn subdirs(path: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(path)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|d| d.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(running: bool) -> Record {
        Record {
            running,
            started: true,
            ..Record::default()
        }
    }

    fn seen(exit_recorded: bool, runtime: Option<Status>) -> Observed {
        Observed {
            exit_recorded,
            runtime,
        }
    }

    /// A backend opened on a fixture data root holding one container recorded as running whose
    /// shim wrote its exit record (code 3) while the daemon was down.
    fn backend_with_an_exit_while_down() -> (tempfile::TempDir, RealBackend, String) {
        let d = tempfile::tempdir().unwrap();
        let id = "ab".repeat(32);
        let dir = d.path().join("data/containers").join(&id);
        std::fs::create_dir_all(&dir).unwrap();
        let record = Record {
            id: id.clone(),
            name: "exited-while-down".into(),
            network_mode: "bridge".into(),
            pid: 4242,
            ..rec(true)
        };
        std::fs::write(
            dir.join("record.json"),
            serde_json::to_vec(&record).unwrap(),
        )
        .unwrap();
        std::fs::write(
            dir.join("exit.json"),
            r#"{"exit_code":3,"oom_killed":false,"finished_at":"2026-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        for sub in ["cgroup", "proc"] {
            std::fs::create_dir_all(d.path().join(sub)).unwrap();
        }
        let backend = RealBackend::with_paths(crate::real::Paths {
            data_root: d.path().join("data"),
            cgroup_root: d.path().join("cgroup"),
            proc_root: d.path().join("proc"),
            exe: "/nonexistent/berth".into(),
        })
        .unwrap();
        (d, backend, id)
    }

    /// Regression: recovery recorded exits (detaching endpoints, unpinning the namespace) and
    /// resumed restart policies on a task that raced with the opening of networking, so the
    /// namespace of an exited container went while networking still loaded its endpoints, and
    /// a policy's start found no networking. They now wait for `resume_after_recovery`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn recovery_records_exits_only_once_networking_is_open() {
        let (_d, backend, id) = backend_with_an_exit_while_down();
        {
            let pending = backend.inner.recovered.lock().unwrap();
            let pending = pending.as_ref().expect("recovery leaves work for later");
            assert_eq!(pending.exited, std::slice::from_ref(&id));
            assert!(pending.watch.is_empty());
        }
        tokio::task::yield_now().await;
        assert!(
            backend.record(&id).unwrap().running,
            "nothing is recorded before networking is open"
        );
        let mut phase = backend.phase_rx(&id).unwrap();
        backend.resume_after_recovery();
        let done = tokio::time::timeout(
            Duration::from_secs(30),
            phase.wait_for(|p| *p != Phase::Running),
        )
        .await
        .expect("the exit is recorded once recovery resumes")
        .map(|p| *p);
        assert_eq!(done.unwrap(), Phase::Exited(3));
        let rec = backend.record(&id).unwrap();
        assert!(!rec.running);
        assert_eq!(rec.finished_at, "2026-01-01T00:00:00Z");
        assert!(
            backend.inner.recovered.lock().unwrap().is_none(),
            "resumes once"
        );
    }

    #[test]
    fn shim_command_lines_name_their_container() {
        let line = b"/usr/bin/berth\0runtime\0--root\0/d/runtime\0shim\0abc\0--bundle\0x\0";
        assert_eq!(shim_of(line, "/d/runtime"), Some("abc"));
        assert_eq!(shim_of(line, "/other/runtime"), None);
        assert_eq!(shim_of(b"sleep\x001000\x00", "/d/runtime"), None);
    }

    #[test]
    fn recovery_plans_each_container_from_record_and_kernel() {
        use Status::{Running, Stopped};
        assert_eq!(
            plan(&rec(true), seen(true, Some(Stopped))),
            Action::RecordExit
        );
        assert_eq!(plan(&rec(true), seen(true, None)), Action::RecordExit);
        assert_eq!(
            plan(&rec(true), seen(false, Some(Running))),
            Action::Reattach
        );
        assert_eq!(
            plan(&rec(true), seen(false, Some(Status::Created))),
            Action::FinishStart,
            "recorded as started, init never released"
        );
        assert_eq!(
            plan(&rec(true), seen(false, Some(Stopped))),
            Action::AwaitExit
        );
        assert_eq!(plan(&rec(true), seen(false, None)), Action::AwaitExit);
        assert_eq!(plan(&rec(false), seen(false, Some(Running))), Action::Undo);
        assert_eq!(
            plan(&rec(false), seen(false, Some(Status::Created))),
            Action::Undo
        );
        assert_eq!(plan(&rec(false), seen(true, Some(Stopped))), Action::Keep);
        assert_eq!(plan(&rec(false), seen(false, None)), Action::Keep);
    }
}
