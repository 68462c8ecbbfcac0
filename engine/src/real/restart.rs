//! Restart policies exactly as dockerd's restart manager: `no`, `always`, `on-failure[:N]` and
//! `unless-stopped`, with a back-off of 100 ms doubling up to one minute that resets after ten
//! seconds of running, cancelled by a manual stop. The decision is pure ([`Backoff`],
//! [`should_restart`]) and reads time from a [`Clock`], so it is tested without sleeping; the
//! [`Supervisor`] keeps per-container timing and cancellation; the `RealBackend` part at the
//! bottom wires it to container exits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::RealBackend;
use crate::api::models::RestartPolicy;
use crate::backend::{BackendError, BackendResult};

/// First restart delay.
pub const INITIAL_DELAY: Duration = Duration::from_millis(100);
/// Longest restart delay.
pub const MAX_DELAY: Duration = Duration::from_secs(60);
/// A container that ran this long starts its back-off again from [`INITIAL_DELAY`].
pub const RESET_AFTER: Duration = Duration::from_secs(10);

/// Where restart timing reads the time; a port so tests drive it by hand.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current monotonic time.
    fn now(&self) -> Instant;
}

/// The process's monotonic clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A parsed `HostConfig.RestartPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Never restart (`""` or `no`).
    No,
    /// Always restart, and start on daemon start even after a manual stop.
    Always,
    /// Restart unless stopped by hand (also across daemon restarts).
    UnlessStopped,
    /// Restart after a non-zero exit, at most `max` times (`0`: no limit).
    OnFailure {
        /// `MaximumRetryCount`.
        max: i64,
    },
}

impl Policy {
    /// Validates a policy as dockerd does when a container is created.
    pub fn parse(p: &RestartPolicy) -> BackendResult<Self> {
        let policy = match p.name.as_str() {
            "" | "no" => Self::No,
            "always" => Self::Always,
            "unless-stopped" => Self::UnlessStopped,
            "on-failure" => Self::OnFailure {
                max: p.maximum_retry_count,
            },
            other => {
                return Err(BackendError::invalid(format!(
                    "invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
                )));
            }
        };
        if p.maximum_retry_count < 0 {
            return Err(BackendError::invalid(
                "invalid restart policy: maximum retry count must be a positive integer",
            ));
        }
        if p.maximum_retry_count > 0 && !matches!(policy, Self::OnFailure { .. }) {
            return Err(BackendError::invalid(format!(
                "invalid restart policy: maximum retry count can only be used with 'on-failure' (got '{}')",
                p.name
            )));
        }
        Ok(policy)
    }

    /// Whether a container that ended with `exit_code` after `restart_count` restarts is to be
    /// restarted (dockerd's `ShouldRestart`, without the timing).
    pub fn wants_restart(self, exit_code: i64, manually_stopped: bool, restart_count: i64) -> bool {
        match self {
            Self::No => false,
            Self::Always => true,
            Self::UnlessStopped => !manually_stopped,
            Self::OnFailure { max } => exit_code != 0 && (max == 0 || restart_count < max),
        }
    }
}

/// dockerd's back-off: the delay before the next restart, grown on each exit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backoff {
    delay: Duration,
}

impl Backoff {
    /// The delay before restarting a container that ran for `ran_for`: reset to the initial
    /// delay after [`RESET_AFTER`] of running, else doubled, capped at [`MAX_DELAY`].
    pub fn next(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= RESET_AFTER {
            self.delay = Duration::ZERO;
        }
        self.delay = if self.delay.is_zero() {
            INITIAL_DELAY
        } else {
            (self.delay * 2).min(MAX_DELAY)
        };
        self.delay
    }
}

/// Per-container restart timing.
#[derive(Debug, Default)]
struct Slot {
    backoff: Backoff,
    started: Option<Instant>,
    cancel: Option<watch::Sender<bool>>,
    /// Stopped by the user: the next exit does not restart (until a start by the user).
    exit_on_next: bool,
}

/// Restart timing and pending restarts of every container.
#[derive(Debug)]
pub struct Supervisor {
    clock: Arc<dyn Clock>,
    slots: Mutex<HashMap<String, Slot>>,
}

impl Supervisor {
    /// A supervisor reading time from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn with<T>(&self, id: &str, f: impl FnOnce(&mut Slot) -> T) -> T {
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(slots.entry(id.to_owned()).or_default())
    }

    /// The container's process started now.
    pub fn started(&self, id: &str) {
        let now = self.clock.now();
        self.with(id, |s| s.started = Some(now));
    }

    /// The container exited: the delay before restarting it, or `None` when the policy says
    /// no. `restart_count` is the number of restarts so far.
    pub fn on_exit(
        &self,
        id: &str,
        policy: Policy,
        exit_code: i64,
        manually_stopped: bool,
        restart_count: i64,
    ) -> Option<Duration> {
        if policy == Policy::No {
            return None;
        }
        let now = self.clock.now();
        self.with(id, |s| {
            if s.exit_on_next {
                return None;
            }
            let ran_for = s
                .started
                .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
            let delay = s.backoff.next(ran_for);
            policy
                .wants_restart(exit_code, manually_stopped, restart_count)
                .then_some(delay)
        })
    }

    /// Registers a pending restart; the receiver turns `true` when it is cancelled.
    pub fn pending(&self, id: &str) -> watch::Receiver<bool> {
        let (tx, rx) = watch::channel(false);
        self.with(id, |s| s.cancel = Some(tx));
        rx
    }

    /// The pending restart ran (it is no longer cancellable).
    pub fn done(&self, id: &str) {
        self.with(id, |s| s.cancel = None);
    }

    /// Cancels a pending restart; `true` when there was one.
    pub fn cancel(&self, id: &str) -> bool {
        let pending = self.with(id, |s| s.cancel.take());
        // The waiting task may already be gone; either way nothing restarts now.
        pending.map(|tx| tx.send_replace(true)).is_some()
    }

    /// A stop by the user: cancels a pending restart (`true` when there was one) and keeps
    /// the next exit from restarting.
    pub fn exit_on_next(&self, id: &str) -> bool {
        let cancelled = self.cancel(id);
        self.with(id, |s| s.exit_on_next = true);
        cancelled
    }

    /// A manual start: the back-off starts over and the policy applies again.
    pub fn reset(&self, id: &str) {
        self.cancel(id);
        self.with(id, |s| {
            s.backoff = Backoff::default();
            s.exit_on_next = false;
        });
    }

    /// The container is gone.
    pub fn forget(&self, id: &str) {
        self.cancel(id);
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(id);
    }
}

/// dockerd's create-time checks of the restart policy and health check.
pub(super) fn validate_create(body: &crate::api::models::ContainerCreateBody) -> BackendResult<()> {
    let policy = Policy::parse(&body.host_config.restart_policy)?;
    if body.host_config.auto_remove && policy != Policy::No {
        return Err(BackendError::invalid(
            "can't create 'AutoRemove' container with restart policy",
        ));
    }
    if let Some(h) = &body.config.healthcheck {
        super::health::validate(h)?;
    }
    Ok(())
}

impl RealBackend {
    fn policy_of(&self, id: &str) -> Policy {
        self.lock()
            .get(id)
            .and_then(|e| Policy::parse(&e.record.body.host_config.restart_policy).ok())
            .unwrap_or(Policy::No)
    }

    /// `POST /containers/{id}/start`: a start by the user resets the restart count, the
    /// back-off and the "stopped by hand" mark, as dockerd does.
    pub(super) async fn user_start(&self, id: &str) -> BackendResult<()> {
        let full = self.resolve(id)?;
        if self.record(&full)?.running {
            return Err(BackendError::new(
                crate::backend::ErrorKind::NotModified,
                "container already started",
            ));
        }
        self.inner.supervisor.reset(&full);
        self.update(&full, |r| {
            r.restart_count = 0;
            r.manually_stopped = false;
            r.restarting = false;
        })?;
        self.start(&full).await
    }

    /// A stop by the user (or a kill with `SIGKILL` or its stop signal): marks the container
    /// stopped by hand, cancels a pending restart and keeps its next exit from restarting.
    /// Returns `true` when a restart was pending.
    pub(super) fn user_stopped(&self, id: &str) -> BackendResult<bool> {
        let cancelled = self.inner.supervisor.exit_on_next(id);
        self.update(id, |r| {
            r.manually_stopped = true;
            r.restarting = false;
        })?;
        Ok(cancelled)
    }

    /// `POST /containers/{id}/kill`: as dockerd, any kill marks the container stopped by hand;
    /// `SIGKILL` or its stop signal also cancels its restart policy until the next start.
    pub(super) fn user_kill(&self, id: &str, signal: &str) -> BackendResult<()> {
        let rec = self.record(id)?;
        let sig = super::containers::parse_signal(signal)?;
        let stop_sig = rec
            .body
            .config
            .stop_signal
            .as_deref()
            .and_then(|s| super::containers::parse_signal(s).ok())
            .unwrap_or(nix::sys::signal::Signal::SIGTERM);
        if !rec.running {
            return self.kill(&rec.id, signal);
        }
        if sig == nix::sys::signal::Signal::SIGKILL || sig == stop_sig {
            self.user_stopped(&rec.id)?;
        } else {
            self.update(&rec.id, |r| r.manually_stopped = true)?;
        }
        self.kill(&rec.id, signal)
    }

    /// `POST /containers/{id}/restart`: stop, then a start by the user, then the event.
    pub(super) async fn user_restart(&self, id: &str, timeout: Option<i64>) -> BackendResult<()> {
        let full = self.resolve(id)?;
        match self.stop(&full, timeout, None).await {
            Ok(()) => {}
            Err(e) if e.kind == crate::backend::ErrorKind::NotModified => {}
            Err(e) => return Err(e),
        }
        self.user_start(&full).await?;
        self.container_event(&full, "restart", &[]);
        Ok(())
    }

    /// The container's process started (by the user, its policy or recovery).
    pub(super) fn started(&self, id: &str) {
        self.inner.supervisor.started(id);
        self.container_event(id, "start", &[]);
        self.volume_mount_events(id, "mount");
        self.start_health(id);
    }

    /// The container's exit was recorded: health checks stop, `die` is published and the
    /// restart policy decides.
    pub(super) fn exited(&self, rec: &super::Record) {
        self.stop_health(&rec.id);
        self.container_event(&rec.id, "die", &[("exitCode", rec.exit_code.to_string())]);
        self.volume_mount_events(&rec.id, "unmount");
        if !rec.body.host_config.auto_remove {
            self.after_exit(&rec.id);
        }
    }

    /// After an exit has been recorded: restarts the container when its policy says so, after
    /// the back-off delay, unless a manual stop cancels it meanwhile.
    pub(super) fn after_exit(&self, id: &str) {
        let Some(rec) = self.lock().get(id).map(|e| e.record.clone()) else {
            return;
        };
        let policy = self.policy_of(id);
        let Some(delay) = self.inner.supervisor.on_exit(
            id,
            policy,
            rec.exit_code,
            rec.manually_stopped,
            rec.restart_count,
        ) else {
            return;
        };
        if self
            .update(id, |r| {
                r.restarting = true;
                r.restart_count += 1;
            })
            .is_err()
        {
            return;
        }
        let mut cancelled = self.inner.supervisor.pending(id);
        let this = self.clone();
        let id = id.to_owned();
        tracing::info!(container = %id, delay_ms = delay.as_millis() as u64, "restarting container");
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = cancelled.wait_for(|c| *c) => return,
            }
            this.inner.supervisor.done(&id);
            if this.update(&id, |r| r.restarting = false).is_err() {
                return;
            }
            if let Err(e) = this.start(&id).await {
                tracing::warn!(container = %id, error = %e, "restart failed");
            }
        });
    }

    /// The containers a daemon start may start by their policy: started before and not
    /// running now.
    pub(super) fn policy_candidates(&self) -> Vec<Candidate> {
        self.lock()
            .values()
            .filter(|e| e.record.started && !e.record.running)
            .map(|e| {
                let r = &e.record;
                Candidate {
                    id: r.id.clone(),
                    policy: Policy::parse(&r.body.host_config.restart_policy).unwrap_or(Policy::No),
                    exit_code: r.exit_code,
                    manually_stopped: r.manually_stopped,
                    restart_count: r.restart_count,
                }
            })
            .collect()
    }

    /// On daemon start: starts the `candidates` ([`RealBackend::policy_candidates`]) their
    /// policy wants running (dockerd's restore: `always` ones, `unless-stopped` ones not
    /// stopped by hand, `on-failure` ones that failed and have retries left).
    pub(super) async fn resume_policies(&self, candidates: Vec<Candidate>) {
        for c in candidates {
            let _ = self.update(&c.id, |r| r.restarting = false);
            if !c
                .policy
                .wants_restart(c.exit_code, c.manually_stopped, c.restart_count)
            {
                continue;
            }
            tracing::info!(container = %c.id, "starting container by its restart policy");
            if let Err(e) = self.start(&c.id).await {
                tracing::warn!(container = %c.id, error = %e, "cannot start container on daemon start");
            }
        }
    }
}

/// A container a daemon start may start by its restart policy, as recovery found it.
#[derive(Debug, Clone)]
pub(super) struct Candidate {
    id: String,
    policy: Policy,
    exit_code: i64,
    manually_stopped: bool,
    restart_count: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock moved by hand.
    #[derive(Debug)]
    struct ManualClock(Mutex<Instant>);

    impl ManualClock {
        fn advance(&self, d: Duration) {
            *self.0.lock().unwrap() += d;
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> Instant {
            *self.0.lock().unwrap()
        }
    }

    fn policy(name: &str, max: i64) -> BackendResult<Policy> {
        Policy::parse(&RestartPolicy {
            name: name.to_owned(),
            maximum_retry_count: max,
        })
    }

    #[test]
    fn policies_parse_and_bad_ones_are_refused() {
        assert_eq!(policy("", 0).unwrap(), Policy::No);
        assert_eq!(policy("no", 0).unwrap(), Policy::No);
        assert_eq!(policy("always", 0).unwrap(), Policy::Always);
        assert_eq!(policy("unless-stopped", 0).unwrap(), Policy::UnlessStopped);
        assert_eq!(
            policy("on-failure", 3).unwrap(),
            Policy::OnFailure { max: 3 }
        );
        assert!(
            policy("sometimes", 0)
                .unwrap_err()
                .message
                .contains("unknown policy 'sometimes'")
        );
        assert!(policy("on-failure", -1).is_err());
        assert!(
            policy("always", 2)
                .unwrap_err()
                .message
                .contains("only be used with 'on-failure'")
        );
    }

    #[test]
    fn policies_decide_like_dockerd() {
        assert!(!Policy::No.wants_restart(1, false, 0));
        assert!(Policy::Always.wants_restart(0, true, 99));
        assert!(Policy::UnlessStopped.wants_restart(0, false, 5));
        assert!(!Policy::UnlessStopped.wants_restart(1, true, 0));
        let three = Policy::OnFailure { max: 3 };
        assert!(
            !three.wants_restart(0, false, 0),
            "success is not a failure"
        );
        assert!(three.wants_restart(2, false, 2));
        assert!(
            !three.wants_restart(2, false, 3),
            "three restarts then no more"
        );
        assert!(Policy::OnFailure { max: 0 }.wants_restart(1, false, 1000));
    }

    #[test]
    fn backoff_doubles_from_100ms_caps_at_a_minute_and_resets_after_10s() {
        let mut b = Backoff::default();
        let quick = Duration::from_millis(5);
        let delays: Vec<u128> = (0..12).map(|_| b.next(quick).as_millis()).collect();
        assert_eq!(
            delays,
            [
                100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000
            ]
        );
        assert_eq!(b.next(Duration::from_secs(10)), INITIAL_DELAY);
        assert_eq!(b.next(Duration::from_secs(9)), Duration::from_millis(200));
    }

    #[test]
    fn supervisor_times_runs_with_the_clock_and_a_manual_start_resets() {
        let clock = Arc::new(ManualClock(Mutex::new(Instant::now())));
        let sup = Supervisor::new(clock.clone());
        let always = Policy::Always;
        let mut seen = Vec::new();
        for _ in 0..4 {
            sup.started("c");
            clock.advance(Duration::from_secs(1));
            seen.push(sup.on_exit("c", always, 1, false, 0).unwrap().as_millis());
        }
        assert_eq!(seen, [100, 200, 400, 800]);
        sup.started("c");
        clock.advance(Duration::from_secs(11));
        assert_eq!(
            sup.on_exit("c", always, 1, false, 0),
            Some(INITIAL_DELAY),
            "ran 11 s"
        );
        sup.started("c");
        assert_eq!(
            sup.on_exit("c", always, 1, false, 0),
            Some(Duration::from_millis(200))
        );
        sup.reset("c");
        assert_eq!(sup.on_exit("c", always, 1, false, 0), Some(INITIAL_DELAY));
        assert_eq!(
            sup.on_exit("c", Policy::OnFailure { max: 3 }, 1, false, 3),
            None
        );
        assert_eq!(sup.on_exit("c", Policy::No, 1, false, 0), None);
    }

    #[test]
    fn a_pending_restart_is_cancelled_once() {
        let sup = Supervisor::new(Arc::new(SystemClock));
        let rx = sup.pending("c");
        assert!(sup.cancel("c"));
        assert!(*rx.borrow());
        assert!(!sup.cancel("c"));
        let rx = sup.pending("c");
        sup.done("c");
        assert!(!sup.cancel("c"));
        assert!(!*rx.borrow());
    }
}
