//! Docker-shaped engine events: one bounded history (so `GET /events?since=` replays what
//! happened) and one broadcast channel (so `docker events` streams live). Every part of the real
//! engine reports through [`RealBackend::emit_event`]; container events carry the container's
//! name, image and labels as Docker's do.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::SystemTime;

use tokio::sync::broadcast;

use super::RealBackend;
use crate::api::models::{EventActor, EventMessage};

/// How many events the history keeps (dockerd keeps 256; a bit more helps `since=` queries
/// after a burst such as a stack coming up).
pub const HISTORY: usize = 1024;

/// The engine's event history and live channel.
#[derive(Debug)]
pub struct EventLog {
    history: Mutex<VecDeque<EventMessage>>,
    live: broadcast::Sender<EventMessage>,
    capacity: usize,
}

impl EventLog {
    /// An empty log that keeps the last `capacity` events.
    pub fn new(capacity: usize) -> Self {
        let (live, _) = broadcast::channel(capacity.max(16));
        Self {
            history: Mutex::new(VecDeque::with_capacity(capacity)),
            live,
            capacity,
        }
    }

    /// Builds the event for `now` (Docker's legacy fields on container events).
    pub fn message(
        now: SystemTime,
        typ: &str,
        action: &str,
        id: &str,
        attributes: BTreeMap<String, String>,
    ) -> EventMessage {
        let since = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let legacy = typ == "container";
        EventMessage {
            typ: typ.to_owned(),
            action: action.to_owned(),
            from: legacy.then(|| attributes.get("image").cloned()).flatten(),
            actor: EventActor {
                id: id.to_owned(),
                attributes,
            },
            scope: "local".to_owned(),
            time: since.as_secs() as i64,
            time_nano: since.as_nanos() as i64,
            status: legacy.then(|| action.to_owned()),
            id: legacy.then(|| id.to_owned()),
        }
    }

    /// Records `msg` in the history (dropping the oldest beyond capacity) and sends it live.
    pub fn push(&self, msg: EventMessage) {
        let mut history = self
            .history
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if history.len() == self.capacity {
            history.pop_front();
        }
        history.push_back(msg.clone());
        // Sent while the history is locked so a subscriber never sees an event twice or misses
        // one between its replay and its live part. No subscriber is not an error.
        let _ = self.live.send(msg);
    }

    /// Events at or after `since` (unix seconds; all kept ones when `None`) and a receiver of
    /// the events that follow them.
    pub fn since(
        &self,
        since: Option<i64>,
    ) -> (Vec<EventMessage>, broadcast::Receiver<EventMessage>) {
        let history = self
            .history
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let rx = self.live.subscribe();
        let past = history
            .iter()
            .filter(|e| since.is_none_or(|t| e.time >= t))
            .cloned()
            .collect();
        (past, rx)
    }
}

impl RealBackend {
    /// Publishes one event of `typ` (`container`, `image`, `network`, `volume`, …) about the
    /// object `id`; the helper every part of the engine calls.
    pub fn emit_event(
        &self,
        typ: &str,
        action: &str,
        id: &str,
        attributes: BTreeMap<String, String>,
    ) {
        let msg = EventLog::message(SystemTime::now(), typ, action, id, attributes);
        tracing::debug!(typ, action, id, "event");
        self.inner.event_log.push(msg);
    }

    /// Publishes a container event with Docker's attributes (labels, `name`, `image`) plus
    /// `extra` (`exitCode`, `signal`, `oldName`, …). A container already gone is skipped.
    pub(super) fn container_event(&self, id: &str, action: &str, extra: &[(&str, String)]) {
        let Some((name, image, labels)) = self.lock().get(id).map(|e| {
            (
                e.record.name.clone(),
                e.record.image.clone(),
                e.record.body.config.labels.clone(),
            )
        }) else {
            return;
        };
        let mut attrs: BTreeMap<String, String> = labels.into_iter().collect();
        attrs.insert("name".to_owned(), name);
        attrs.insert("image".to_owned(), image);
        for (k, v) in extra {
            attrs.insert((*k).to_owned(), v.clone());
        }
        self.emit_event("container", action, id, attrs);
    }

    /// Publishes a volume event (`create`, `destroy`, `mount`, `unmount`).
    pub fn volume_event(&self, action: &str, name: &str, driver: &str) {
        let attrs = BTreeMap::from([("driver".to_owned(), driver.to_owned())]);
        self.emit_event("volume", action, name, attrs);
    }

    /// Publishes an image event (`tag`, `untag`, `delete`, `pull`, `import`, `load`); `name` is
    /// the reference it concerns.
    pub fn image_event(&self, action: &str, id: &str, name: &str) {
        let attrs = BTreeMap::from([("name".to_owned(), familiar(name).to_owned())]);
        self.emit_event("image", action, id, attrs);
    }
}

/// A reference in Docker's familiar form (`docker.io/library/x:1` → `x:1`).
pub fn familiar(name: &str) -> &str {
    name.strip_prefix("docker.io/library/")
        .or_else(|| name.strip_prefix("docker.io/"))
        .unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_are_familiar() {
        assert_eq!(familiar("docker.io/library/x:1"), "x:1");
        assert_eq!(familiar("docker.io/me/x:1"), "me/x:1");
        assert_eq!(familiar("reg:5000/x:1"), "reg:5000/x:1");
    }

    fn msg(time: i64, action: &str) -> EventMessage {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(time as u64);
        let attrs = BTreeMap::from([("image".to_owned(), "busybox".to_owned())]);
        EventLog::message(t, "container", action, "abc", attrs)
    }

    #[test]
    fn container_events_have_dockers_legacy_fields() {
        let m = msg(1_700_000_000, "die");
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["Type"], "container");
        assert_eq!(json["Action"], "die");
        assert_eq!(json["status"], "die");
        assert_eq!(json["id"], "abc");
        assert_eq!(json["from"], "busybox");
        assert_eq!(json["time"], 1_700_000_000);
        assert_eq!(json["timeNano"], 1_700_000_000_000_000_000_i64);
        let image = EventLog::message(
            SystemTime::now(),
            "image",
            "tag",
            "sha256:x",
            BTreeMap::new(),
        );
        let json = serde_json::to_value(&image).unwrap();
        assert!(json.get("status").is_none() && json.get("from").is_none());
    }

    #[test]
    fn history_is_bounded_and_filtered_by_since() {
        let log = EventLog::new(3);
        for (t, a) in [(10, "create"), (20, "start"), (30, "die"), (40, "destroy")] {
            log.push(msg(t, a));
        }
        let (all, _) = log.since(None);
        let actions: Vec<&str> = all.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["start", "die", "destroy"], "oldest dropped");
        let (late, _) = log.since(Some(30));
        assert_eq!(late.len(), 2);
    }

    #[test]
    fn subscribers_get_events_after_their_replay() {
        let log = EventLog::new(8);
        log.push(msg(1, "create"));
        let (past, mut rx) = log.since(None);
        assert_eq!(past.len(), 1);
        log.push(msg(2, "start"));
        assert_eq!(rx.try_recv().unwrap().action, "start");
        assert!(rx.try_recv().is_err());
    }
}
