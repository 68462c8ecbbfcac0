//! Health checks: merging and parsing, the state machine, and the schedule with a fake probe
//! on tokio's paused clock (no real sleeping).

use std::collections::VecDeque;

use super::*;

const MS: i64 = 1_000_000;

fn cfg(test: &[&str]) -> HealthConfig {
    HealthConfig {
        test: test.iter().map(|s| (*s).to_owned()).collect(),
        ..HealthConfig::default()
    }
}

#[test]
fn test_forms_and_defaults() {
    let shell = effective(None, Some(&cfg(&["CMD-SHELL", "test -f /ok"])))
        .unwrap()
        .unwrap();
    assert_eq!(shell.argv, ["/bin/sh", "-c", "test -f /ok"]);
    assert_eq!(shell.interval, DEFAULT_INTERVAL);
    assert_eq!(shell.timeout, DEFAULT_TIMEOUT);
    assert_eq!(shell.start_interval, DEFAULT_START_INTERVAL);
    assert_eq!(shell.retries, 3);
    let cmd = effective(None, Some(&cfg(&["CMD", "true", "x"])))
        .unwrap()
        .unwrap();
    assert_eq!(cmd.argv, ["true", "x"]);
    assert_eq!(effective(None, Some(&cfg(&["NONE"]))).unwrap(), None);
    assert_eq!(effective(None, None).unwrap(), None);
    let bad = effective(None, Some(&cfg(&["SHELL", "x"]))).unwrap_err();
    assert!(bad.message.contains("unknown health check type"), "{bad}");
    assert!(effective(None, Some(&cfg(&["CMD"]))).is_err());
    let mut tiny = cfg(&["CMD", "true"]);
    tiny.interval = 5;
    assert!(
        effective(None, Some(&tiny))
            .unwrap_err()
            .message
            .contains("1ms")
    );
}

#[test]
fn container_fields_override_the_image_field_by_field() {
    let image = HealthConfig {
        test: vec!["CMD".into(), "img".into()],
        interval: 7_000 * MS,
        retries: 9,
        ..HealthConfig::default()
    };
    let user = HealthConfig {
        timeout: 2_000 * MS,
        retries: 1,
        ..HealthConfig::default()
    };
    let c = effective(Some(&image), Some(&user)).unwrap().unwrap();
    assert_eq!(c.argv, ["img"]);
    assert_eq!(c.interval, Duration::from_secs(7));
    assert_eq!(c.timeout, Duration::from_secs(2));
    assert_eq!(c.retries, 1);
    assert_eq!(
        effective(Some(&image), Some(&cfg(&["NONE"]))).unwrap(),
        None
    );
}

fn result(code: i64) -> HealthcheckResult {
    HealthcheckResult {
        exit_code: code,
        ..HealthcheckResult::default()
    }
}

#[test]
fn state_machine_follows_dockerd() {
    let mut h = starting();
    assert!(
        !record(&mut h, result(1), 2, true),
        "start period: not counted"
    );
    assert_eq!((h.status.as_str(), h.failing_streak), ("starting", 0));
    assert!(!record(&mut h, result(1), 2, false));
    assert_eq!((h.status.as_str(), h.failing_streak), ("starting", 1));
    assert!(record(&mut h, result(1), 2, false));
    assert_eq!((h.status.as_str(), h.failing_streak), ("unhealthy", 2));
    assert!(record(&mut h, result(0), 2, false));
    assert_eq!((h.status.as_str(), h.failing_streak), ("healthy", 0));
    assert!(
        !record(&mut h, result(1), 2, true),
        "healthy once: start period no longer shields"
    );
    assert_eq!(h.failing_streak, 1);
    for _ in 0..10 {
        record(&mut h, result(0), 2, false);
    }
    assert_eq!(h.log.len(), LOG_ENTRIES);
}

/// A probe answering from a script, recording when it ran (paused-clock time).
#[derive(Debug)]
struct Scripted {
    answers: Mutex<VecDeque<i64>>,
    calls: Mutex<Vec<Duration>>,
    origin: tokio::time::Instant,
    hang: bool,
}

impl Probe for Scripted {
    fn run(&self, _id: &str, argv: Vec<String>, _timeout: Duration) -> BoxFuture<ProbeOutput> {
        self.calls.lock().unwrap().push(self.origin.elapsed());
        let code = self.answers.lock().unwrap().pop_front().unwrap_or(0);
        let hang = self.hang;
        Box::pin(async move {
            if hang {
                std::future::pending::<()>().await;
            }
            ProbeOutput {
                exit_code: code,
                output: argv.join(" "),
            }
        })
    }
}

fn check(start_period: u64) -> Check {
    Check {
        argv: vec!["probe".into()],
        interval: Duration::from_secs(10),
        timeout: Duration::from_secs(3),
        start_period: Duration::from_secs(start_period),
        start_interval: Duration::from_secs(1),
        retries: 2,
    }
}

async fn run_script(
    check: Check,
    answers: &[i64],
    hang: bool,
) -> (Vec<Duration>, Vec<(String, bool)>, Health) {
    let probe = Arc::new(Scripted {
        answers: Mutex::new(answers.iter().copied().collect()),
        calls: Mutex::new(Vec::new()),
        origin: tokio::time::Instant::now(),
        hang,
    });
    let (tx, rx) = watch::channel(false);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let last = Arc::new(Mutex::new(Health::default()));
    let n = answers.len();
    let task = tokio::spawn(monitor("c".into(), check, probe.clone(), rx, {
        let (seen, last) = (seen.clone(), last.clone());
        move |h: &Health, changed: bool| {
            seen.lock().unwrap().push((h.status.clone(), changed));
            *last.lock().unwrap() = h.clone();
            if seen.lock().unwrap().len() == n {
                tx.send_replace(true);
            }
        }
    }));
    task.await.unwrap();
    let calls = probe.calls.lock().unwrap().clone();
    let seen = seen.lock().unwrap().clone();
    let last = last.lock().unwrap().clone();
    (calls, seen, last)
}

#[tokio::test(start_paused = true)]
async fn schedule_uses_the_start_interval_then_the_interval() {
    let (calls, seen, last) = run_script(check(3), &[1, 1, 0, 1, 1], false).await;
    let secs: Vec<u64> = calls.iter().map(Duration::as_secs).collect();
    // Every second during the 3 s start period while starting, then every 10 s.
    assert_eq!(secs, [1, 2, 3, 13, 23]);
    let statuses: Vec<&str> = seen.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        statuses,
        ["starting", "starting", "healthy", "healthy", "unhealthy"]
    );
    assert_eq!(
        seen.iter().filter(|(_, c)| *c).count(),
        2,
        "two changes, two events"
    );
    assert_eq!(last.log.len(), 5);
    assert_eq!(last.log[0].output, "probe");
}

#[tokio::test(start_paused = true)]
async fn a_probe_past_its_timeout_fails_with_minus_one() {
    let (calls, seen, last) = run_script(check(0), &[0, 0], true).await;
    assert_eq!(calls.len(), 2);
    assert_eq!(seen.last().unwrap().0, "unhealthy");
    assert_eq!(last.log[0].exit_code, -1);
    assert!(
        last.log[0].output.contains("exceeded timeout (3s)"),
        "{:?}",
        last.log[0]
    );
}
