//! The persisted record of one container and its lifecycle phase, kept apart from the
//! lifecycle code so the state machine is testable without a kernel.

use serde::{Deserialize, Serialize};

use crate::api::models::ContainerCreateBody;

/// Where a container is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Created, never started.
    Created,
    /// Its shim and init run.
    Running,
    /// Ended with this exit code.
    Exited(i64),
    /// Removed from the engine.
    Removed,
}

/// What the engine remembers about a container (`containers/<id>/record.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Full 64-hex id.
    pub id: String,
    /// Name without the leading slash.
    pub name: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// Creation time in unix seconds.
    pub created_unix: i64,
    /// The image reference as given.
    pub image: String,
    /// The image id (`sha256:…`).
    pub image_id: String,
    /// The create request, kept for inspect and for the spec.
    pub body: ContainerCreateBody,
    /// Effective network mode (`none` or `host`).
    pub network_mode: String,
    /// Init pid while running, else 0.
    pub pid: i64,
    /// The shim runs (the container was started and has not been seen to exit).
    pub running: bool,
    /// It was started at least once.
    pub started: bool,
    /// Last exit code.
    pub exit_code: i64,
    /// The OOM killer hit it.
    pub oom_killed: bool,
    /// Last start time (RFC 3339) or Docker's zero time.
    pub started_at: String,
    /// Last finish time (RFC 3339) or Docker's zero time.
    pub finished_at: String,
    /// Why the last start failed, if it did.
    pub error: String,
    /// Frozen by `pause`.
    #[serde(default)]
    pub paused: bool,
    /// Restarts done by the restart policy since the last start by the user.
    #[serde(default)]
    pub restart_count: i64,
    /// The user stopped or killed it (an `unless-stopped` container then stays stopped).
    #[serde(default)]
    pub manually_stopped: bool,
    /// Exited and waiting for its restart policy's back-off.
    #[serde(default)]
    pub restarting: bool,
    /// Health check state while it has a health check.
    #[serde(default)]
    pub health: Option<crate::api::models::Health>,
}

/// Docker's zero time, shown for times that never happened.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

impl Record {
    /// The record without the state of its processes (pid, running, exit, times, pause,
    /// restarts, health): what the user asked for. An update that leaves it unchanged only
    /// follows processes, which a machine crash ends anyway.
    pub fn intent(&self) -> Record {
        Record {
            pid: 0,
            running: false,
            started: false,
            exit_code: 0,
            oom_killed: false,
            started_at: String::new(),
            finished_at: String::new(),
            error: String::new(),
            paused: false,
            restart_count: 0,
            restarting: false,
            health: None,
            ..self.clone()
        }
    }

    /// The phase this record describes.
    pub fn phase(&self) -> Phase {
        match (self.running, self.started) {
            (true, _) => Phase::Running,
            (false, true) => Phase::Exited(self.exit_code),
            (false, false) => Phase::Created,
        }
    }

    /// Docker's `State.Status` word.
    pub fn status(&self) -> &'static str {
        if self.restarting && !self.running {
            return "restarting";
        }
        match self.phase() {
            Phase::Created => "created",
            Phase::Running if self.paused => "paused",
            Phase::Running => "running",
            Phase::Exited(_) | Phase::Removed => "exited",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intent_leaves_out_process_state_only() {
        let created = Record {
            name: "web".into(),
            ..Record::default()
        };
        let mut ran = created.clone();
        (ran.pid, ran.running, ran.started, ran.exit_code) = (42, true, true, 3);
        ran.started_at = "2026-01-01T00:00:00Z".into();
        ran.restart_count = 2;
        assert_eq!(ran.intent(), created.intent());
        let mut stopped = ran.clone();
        stopped.manually_stopped = true;
        assert_ne!(stopped.intent(), created.intent());
        let mut renamed = created.clone();
        renamed.name = "api".into();
        assert_ne!(renamed.intent(), created.intent());
    }

    #[test]
    fn phase_follows_running_and_started_flags() {
        let mut r = Record::default();
        assert_eq!((r.phase(), r.status()), (Phase::Created, "created"));
        r.started = true;
        r.running = true;
        assert_eq!((r.phase(), r.status()), (Phase::Running, "running"));
        r.running = false;
        r.exit_code = 127;
        assert_eq!((r.phase(), r.status()), (Phase::Exited(127), "exited"));
        let back: Record = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }
}
