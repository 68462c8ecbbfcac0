//! Executor tests against the in-memory [`FakeEngine`]: order, concurrency, conditions,
//! failures, and the up → observe → plan round trip.

use tokio::sync::mpsc;

use super::*;
use crate::engine_api::{FakeBehaviour, FakeEngine, RunState};
use crate::plan::{DownOptions, PlanOptions, plan, plan_down};

const APP: &str = "\
services:
  web:
    image: nginx
    depends_on:
      api: {condition: service_healthy}
  api:
    image: api:1
    volumes: ['data:/data']
    depends_on:
      db: {condition: service_started}
      migrate: {condition: service_completed_successfully}
  migrate:
    image: api:1
  db:
    image: postgres
volumes:
  data: {}
";

fn engine_for(name: &str) -> FakeEngine {
    let engine = FakeEngine::new();
    engine.set_behaviour(
        &format!("{name}-migrate-1"),
        FakeBehaviour {
            health: None,
            exits_with: Some(0),
        },
    );
    engine
}

async fn run(plan: &Plan, engine: &FakeEngine) -> (Result<(), ExecuteError>, Vec<Event>) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let result = execute(plan, engine, &tx).await;
    drop(tx);
    let mut events = Vec::new();
    while let Some(e) = rx.recv().await {
        events.push(e);
    }
    (result, events)
}

fn at(log: &[String], entry: &str) -> usize {
    log.iter()
        .position(|l| l == entry)
        .unwrap_or_else(|| panic!("no `{entry}` in {log:#?}"))
}

#[tokio::test]
async fn up_runs_every_operation_in_dependency_order() {
    let p = crate::testutil::project(APP, "exorder");
    let engine = engine_for("exorder");
    let plan = plan(&p, &Observed::default(), &PlanOptions::default());
    let (result, events) = run(&plan, &engine).await;
    result.expect("plan runs");
    let log = engine.log();
    assert!(at(&log, "create-volume exorder_data") < at(&log, "create exorder-api-1"));
    assert!(at(&log, "create-network exorder_default") < at(&log, "create exorder-db-1"));
    assert!(at(&log, "start exorder-db-1") < at(&log, "start exorder-api-1"));
    assert!(at(&log, "wait-exit exorder-migrate-1") < at(&log, "start exorder-api-1"));
    assert!(at(&log, "start exorder-api-1") < at(&log, "wait-healthy exorder-api-1"));
    assert!(at(&log, "wait-healthy exorder-api-1") < at(&log, "start exorder-web-1"));
    assert_eq!(events.len(), 2 * plan.operations.len());
    assert!(events.contains(&Event {
        resource: "Container exorder-web-1".into(),
        status: Status::Started,
        message: "missing".into(),
    }));
    let web = engine
        .inspect_container("exorder-web-1")
        .await
        .expect("web exists");
    assert_eq!(web.state, RunState::Running);
}

#[tokio::test]
async fn independent_operations_run_concurrently() {
    let p = crate::testutil::project(
        "services:\n  a: {image: x}\n  b: {image: x}\n  c: {image: x}\n",
        "exconc",
    );
    let engine = FakeEngine::new();
    let plan = plan(&p, &Observed::default(), &PlanOptions::default());
    run(&plan, &engine).await.0.expect("plan runs");
    assert!(
        engine.max_in_flight() >= 3,
        "max {}",
        engine.max_in_flight()
    );
}

#[tokio::test]
async fn dependent_chain_never_overlaps() {
    let p = crate::testutil::project(
        "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [c]}\n  c: {image: x}\n",
        "exchain",
    );
    let engine = FakeEngine::new();
    let options = PlanOptions {
        services: vec!["a".into()],
        ..PlanOptions::default()
    };
    let plan = plan(&p, &Observed::default(), &options);
    run(&plan, &engine).await.0.expect("plan runs");
    let log = engine.log();
    assert_eq!(log.len(), 7, "{log:#?}");
    assert!(at(&log, "start exchain-c-1") < at(&log, "start exchain-b-1"));
    assert!(at(&log, "start exchain-b-1") < at(&log, "start exchain-a-1"));
}

#[tokio::test]
async fn failed_condition_skips_dependents_but_not_the_rest() {
    let p = crate::testutil::project(APP, "exfail");
    let engine = FakeEngine::new();
    engine.set_behaviour(
        "exfail-migrate-1",
        FakeBehaviour {
            health: None,
            exits_with: Some(3),
        },
    );
    let plan = plan(&p, &Observed::default(), &PlanOptions::default());
    let (result, events) = run(&plan, &engine).await;
    let err = result.expect_err("migrate fails");
    let what: Vec<&str> = err.failures.iter().map(|f| f.1.as_str()).collect();
    assert_eq!(
        what,
        [
            "wait-completed exfail-migrate-1",
            "start exfail-api-1",
            "wait-healthy exfail-api-1",
            "start exfail-web-1"
        ],
        "{err}"
    );
    assert!(matches!(
        err.failures[0].2,
        OpError::ExitedWithError { code: 3, .. }
    ));
    let log = engine.log();
    assert!(log.contains(&"start exfail-db-1".to_string()));
    assert!(!log.iter().any(|l| l == "start exfail-web-1"));
    assert!(events.iter().any(|e| e.status == Status::Skipped));
}

#[tokio::test]
async fn unhealthy_dependency_blocks_dependent() {
    let p = crate::testutil::project(
        "services:\n  a: {image: x, depends_on: {b: {condition: service_healthy}}}\n  b: {image: x}\n",
        "exhealth",
    );
    let engine = FakeEngine::new();
    engine.set_behaviour(
        "exhealth-b-1",
        FakeBehaviour {
            health: Some(crate::engine_api::Health::Unhealthy),
            exits_with: None,
        },
    );
    let plan = plan(&p, &Observed::default(), &PlanOptions::default());
    let err = run(&plan, &engine).await.0.expect_err("b is unhealthy");
    assert!(matches!(&err.failures[0].2, OpError::Unhealthy { name } if name == "exhealth-b-1"));
    assert!(!engine.log().iter().any(|l| l == "start exhealth-a-1"));
}

#[tokio::test]
async fn up_observe_plan_round_trip_converges_and_down_cleans_up() {
    let p = crate::testutil::project(APP, "exround");
    let engine = engine_for("exround");
    let first = plan(&p, &Observed::default(), &PlanOptions::default());
    run(&first, &engine).await.0.expect("up runs");
    let observed = observe(&engine, "exround").await.expect("observe");
    assert_eq!(observed.containers.len(), 4);
    assert_eq!(observed.networks.len(), 1);
    assert_eq!(observed.volumes.len(), 1);
    let again = plan(&p, &observed, &PlanOptions::default());
    // Like docker compose, `up` runs an exited one-shot container again; nothing else moves.
    assert_eq!(
        again.to_string(),
        "0: start exround-migrate-1 (not running)\n"
    );

    let down = plan_down(
        &p,
        &observed,
        &DownOptions {
            volumes: true,
            remove_orphans: false,
            timeout_s: None,
        },
    );
    run(&down, &engine).await.0.expect("down runs");
    let left = observe(&engine, "exround").await.expect("observe");
    assert_eq!(left, Observed::default());
}
