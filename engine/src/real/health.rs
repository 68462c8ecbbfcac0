//! Health checks as dockerd runs them: the check comes from the image's `HEALTHCHECK` merged
//! with the create request's `Healthcheck` (`CMD`, `CMD-SHELL`, `NONE`; interval, timeout,
//! retries, start period, start interval), a command is run in the container every interval
//! through a [`Probe`] (exec), and the status moves `starting` → `healthy`/`unhealthy` with the
//! last five results kept for inspect and a `health_status` event on each change.
//!
//! The check parsing and the state machine are pure; [`monitor`] is the schedule, generic over
//! the probe so it is tested with a fake one on tokio's paused clock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use super::RealBackend;
use crate::api::models::{Health, HealthConfig, HealthcheckResult};
use crate::backend::{BackendError, BackendResult, BoxFuture};

/// Default time between probes.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// Default time a probe may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time between probes during the start period.
pub const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
/// Default number of failures in a row that make a container unhealthy.
pub const DEFAULT_RETRIES: i64 = 3;
/// Results kept in `State.Health.Log`.
pub const LOG_ENTRIES: usize = 5;
/// Bytes of probe output kept per result.
pub const MAX_OUTPUT: usize = 4096;

/// What a probe command printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOutput {
    /// Its exit code (`-1` when it could not run).
    pub exit_code: i64,
    /// Its combined output.
    pub output: String,
}

/// Runs a health-check command inside a running container (through exec).
pub trait Probe: Send + Sync + std::fmt::Debug {
    /// Runs `argv` in container `id` for at most `timeout` (then kills it and answers exit
    /// code -1) and returns how it ended. The monitor also stops waiting shortly after
    /// `timeout`, so a probe that overruns cannot stall the schedule.
    fn run(&self, id: &str, argv: Vec<String>, timeout: Duration) -> BoxFuture<ProbeOutput>;
}

/// Extra time the monitor grants a probe past its timeout before giving up on it.
const PROBE_SLACK: Duration = Duration::from_secs(1);

/// The output recorded for a probe that ran past `timeout` (dockerd's wording).
pub fn timed_out(timeout: Duration) -> ProbeOutput {
    ProbeOutput {
        exit_code: -1,
        output: format!(
            "Health check exceeded timeout ({})",
            humantime::format_duration(timeout)
        ),
    }
}

/// An effective health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The command to run.
    pub argv: Vec<String>,
    /// Time between probes.
    pub interval: Duration,
    /// Time a probe may take.
    pub timeout: Duration,
    /// Failures during this time after start do not count.
    pub start_period: Duration,
    /// Time between probes during the start period.
    pub start_interval: Duration,
    /// Failures in a row that make the container unhealthy.
    pub retries: i64,
}

fn nanos(v: i64, default: Duration) -> Duration {
    if v > 0 {
        Duration::from_nanos(v as u64)
    } else {
        default
    }
}

/// The container's check: `container` over `image` field by field (zero fields and an empty
/// test inherit, as dockerd merges them); `None` when there is none or the test is `NONE`.
pub fn effective(
    image: Option<&HealthConfig>,
    container: Option<&HealthConfig>,
) -> BackendResult<Option<Check>> {
    let merged = match (image, container) {
        (None, None) => return Ok(None),
        (Some(i), None) => i.clone(),
        (None, Some(c)) => c.clone(),
        (Some(i), Some(c)) => {
            let pick = |c: i64, i: i64| if c != 0 { c } else { i };
            HealthConfig {
                test: if c.test.is_empty() {
                    i.test.clone()
                } else {
                    c.test.clone()
                },
                interval: pick(c.interval, i.interval),
                timeout: pick(c.timeout, i.timeout),
                retries: pick(c.retries, i.retries),
                start_period: pick(c.start_period, i.start_period),
                start_interval: pick(c.start_interval, i.start_interval),
            }
        }
    };
    validate(&merged)?;
    let argv = match merged.test.split_first() {
        None => return Ok(None),
        Some((kind, _)) if kind == "NONE" => return Ok(None),
        Some((kind, rest)) if kind == "CMD" => rest.to_vec(),
        Some((kind, rest)) if kind == "CMD-SHELL" => {
            vec!["/bin/sh".to_owned(), "-c".to_owned(), rest.join(" ")]
        }
        Some((kind, _)) => {
            return Err(BackendError::invalid(format!(
                "unknown health check type {kind:?} in Healthcheck.Test; use NONE, CMD or CMD-SHELL"
            )));
        }
    };
    if argv.is_empty() {
        return Err(BackendError::invalid(
            "Healthcheck.Test has no command after CMD",
        ));
    }
    Ok(Some(Check {
        argv,
        interval: nanos(merged.interval, DEFAULT_INTERVAL),
        timeout: nanos(merged.timeout, DEFAULT_TIMEOUT),
        start_period: nanos(merged.start_period, Duration::ZERO),
        start_interval: nanos(merged.start_interval, DEFAULT_START_INTERVAL),
        retries: if merged.retries > 0 {
            merged.retries
        } else {
            DEFAULT_RETRIES
        },
    }))
}

/// dockerd's create-time checks of a `Healthcheck`.
pub fn validate(h: &HealthConfig) -> BackendResult<()> {
    const MIN: i64 = 1_000_000;
    for (name, v) in [
        ("Interval", h.interval),
        ("Timeout", h.timeout),
        ("StartPeriod", h.start_period),
        ("StartInterval", h.start_interval),
    ] {
        if v != 0 && v < MIN {
            return Err(BackendError::invalid(format!(
                "{name} in Healthcheck cannot be less than 1ms (got {v} ns)"
            )));
        }
    }
    if h.retries < 0 {
        return Err(BackendError::invalid(
            "Retries in Healthcheck cannot be negative",
        ));
    }
    Ok(())
}

/// A fresh health state (`starting`).
pub fn starting() -> Health {
    Health {
        status: "starting".to_owned(),
        ..Health::default()
    }
}

/// Folds one probe result into `h` (dockerd's `handleProbeResult`): success makes it healthy;
/// a failure counts unless the container never was healthy and is in its start period, and
/// `retries` failures in a row make it unhealthy. Returns `true` when the status changed.
pub fn record(
    h: &mut Health,
    result: HealthcheckResult,
    retries: i64,
    in_start_period: bool,
) -> bool {
    let before = h.status.clone();
    if result.exit_code == 0 {
        h.failing_streak = 0;
        h.status = "healthy".to_owned();
    } else if !(h.status == "starting" && in_start_period) {
        h.failing_streak += 1;
        if h.failing_streak >= retries {
            h.status = "unhealthy".to_owned();
        }
    }
    h.log.push(result);
    if h.log.len() > LOG_ENTRIES {
        let extra = h.log.len() - LOG_ENTRIES;
        h.log.drain(..extra);
    }
    h.status != before
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_nanos(t).to_string()
}

fn truncate(mut s: String) -> String {
    if s.len() > MAX_OUTPUT {
        let mut cut = MAX_OUTPUT;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// Runs `check` in container `id` until `stop` turns `true`: waits the interval (the start
/// interval while starting within the start period), probes with a timeout, records the result
/// and hands the new state to `report` (with whether the status changed).
pub async fn monitor(
    id: String,
    check: Check,
    probe: Arc<dyn Probe>,
    mut stop: watch::Receiver<bool>,
    mut report: impl FnMut(&Health, bool) + Send,
) {
    let started = tokio::time::Instant::now();
    let mut health = starting();
    loop {
        let in_start = started.elapsed() < check.start_period;
        let wait = if health.status == "starting" && in_start {
            check.start_interval
        } else {
            check.interval
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let begin = SystemTime::now();
        let probe_began = tokio::time::Instant::now();
        let run = probe.run(&id, check.argv.clone(), check.timeout);
        let ran = tokio::select! {
            r = tokio::time::timeout(check.timeout + PROBE_SLACK, run) => r,
            _ = stop.wait_for(|s| *s) => return,
        };
        let out = ran.unwrap_or_else(|_| timed_out(check.timeout));
        let in_start = probe_began.duration_since(started) < check.start_period;
        let result = HealthcheckResult {
            start: rfc3339(begin),
            end: rfc3339(SystemTime::now()),
            exit_code: out.exit_code,
            output: truncate(out.output),
        };
        let changed = record(&mut health, result, check.retries, in_start);
        report(&health, changed);
    }
}

/// The health monitors of running containers and the probe they use.
#[derive(Debug, Default)]
pub struct Monitors {
    probe: Mutex<Option<Arc<dyn Probe>>>,
    running: Mutex<HashMap<String, watch::Sender<bool>>>,
}

impl Monitors {
    fn stop(&self, id: &str) {
        let stopped = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(id);
        if let Some(tx) = stopped {
            tx.send_replace(true);
        }
    }
}

impl RealBackend {
    /// Installs the probe health checks run through (the exec of the engine).
    pub fn set_probe(&self, probe: Arc<dyn Probe>) {
        *self
            .inner
            .health
            .probe
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(probe);
    }

    /// The image's `HEALTHCHECK`, read from the raw image config (a Docker extension OCI
    /// parsers drop).
    fn image_healthcheck(&self, image: &str) -> Option<HealthConfig> {
        #[derive(serde::Deserialize)]
        struct Raw {
            config: Option<RawConfig>,
        }
        #[derive(serde::Deserialize)]
        struct RawConfig {
            #[serde(rename = "Healthcheck")]
            healthcheck: Option<HealthConfig>,
        }
        let images = &self.inner.images;
        let id = images.resolve(image).ok()?.id;
        let data = images.content().read_blob(&id).ok()?;
        serde_json::from_slice::<Raw>(&data)
            .ok()?
            .config?
            .healthcheck
    }

    /// The check a container runs, if any (validated at create, so errors here are ignored).
    pub(super) fn check_of(&self, id: &str) -> Option<Check> {
        let body = self.lock().get(id).map(|e| e.record.body.clone())?;
        let image = self.image_healthcheck(&body.config.image);
        effective(image.as_ref(), body.config.healthcheck.as_ref())
            .ok()
            .flatten()
    }

    /// Starts the health monitor of a container that just started (when it has a check and a
    /// probe is installed); its state goes to the record and changes become events.
    pub(super) fn start_health(&self, id: &str) {
        self.inner.health.stop(id);
        let Some(check) = self.check_of(id) else {
            return;
        };
        let probe = self
            .inner
            .health
            .probe
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let Some(probe) = probe else {
            tracing::warn!(container = %id, "health check not run: this engine has no exec probe");
            return;
        };
        let _ = self.update(id, |r| r.health = Some(starting()));
        let (tx, rx) = watch::channel(false);
        self.inner
            .health
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id.to_owned(), tx);
        let this = self.clone();
        let id = id.to_owned();
        tokio::spawn(monitor(id.clone(), check, probe, rx, move |h, changed| {
            let _ = this.update(&id, |r| r.health = Some(h.clone()));
            if changed {
                this.container_event(&id, &format!("health_status: {}", h.status), &[]);
            }
        }));
    }

    /// Stops the health monitor of a container that exited or is removed.
    pub(super) fn stop_health(&self, id: &str) {
        self.inner.health.stop(id);
    }
}

#[cfg(test)]
mod tests;
