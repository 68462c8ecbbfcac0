//! The executor: runs a [`Plan`] through the engine port and reports progress as events.
//!
//! It decides nothing. Every operation whose dependencies have finished starts at once, so
//! independent operations run concurrently; an operation whose dependency failed is skipped.
//! `depends_on` conditions are the plan's `Wait` operations, run through
//! [`EngineApi::wait_healthy`] and [`EngineApi::wait_exit`].

use std::future::Future;
use std::pin::Pin;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::mpsc::UnboundedSender;

use crate::engine_api::{EngineApi, EngineError, Health, LabelFilter};
use crate::plan::{Action, Condition, Observed, Plan};

/// Progress of one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Starting,
    Started,
    Stopping,
    Stopped,
    Removing,
    Removed,
    Waiting,
    Healthy,
    Exited,
    Skipped,
    Error,
    /// Image pulls (reported by the verbs that pull before converging).
    Pulling,
    Pulled,
    /// Pause and unpause (reported by the verbs that act on containers directly).
    Paused,
    Unpaused,
    Killed,
    Restarted,
}

/// One progress event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `Container NAME`, `Network NAME` or `Volume NAME`.
    pub resource: String,
    pub status: Status,
    /// Detail: the cause of the operation, or the error.
    pub message: String,
}

/// Why an operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("dependency {name} is unhealthy")]
    Unhealthy { name: String },
    #[error("dependency {name} exited with code {code}")]
    ExitedWithError { name: String, code: i64 },
    #[error("skipped because operation {0} failed")]
    DependencyFailed(usize),
    /// Secrets or configs could not be copied into a new container (it was removed again).
    #[error(transparent)]
    Files(#[from] crate::inject::InjectError),
}

/// The failures of a run: every failed or skipped operation, not just the first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} operation(s) failed: {}", .failures.len(), list(.failures))]
pub struct ExecuteError {
    /// `(operation index, what it was, error)`.
    pub failures: Vec<(usize, String, OpError)>,
}

fn list(failures: &[(usize, String, OpError)]) -> String {
    let items: Vec<String> = failures
        .iter()
        .map(|(i, what, e)| format!("#{i} {what}: {e}"))
        .collect();
    items.join("; ")
}

/// Reads the project's containers, networks and volumes from the engine.
pub async fn observe(engine: &dyn EngineApi, project: &str) -> Result<Observed, EngineError> {
    let filter = LabelFilter::project(project);
    let containers = engine.list_containers(&filter).await?;
    let networks = engine.list_networks(&filter).await?;
    let volumes = engine.list_volumes(&filter).await?;
    Ok(Observed::from_engine(
        project,
        &containers,
        &networks,
        &volumes,
    ))
}

fn resource(action: &Action) -> String {
    match action {
        Action::CreateNetwork(n) => format!("Network {}", n.name),
        Action::RemoveNetwork { name } => format!("Network {name}"),
        Action::CreateVolume(v) => format!("Volume {}", v.name),
        Action::RemoveVolume { name } => format!("Volume {name}"),
        Action::CreateContainer { spec, .. } => format!("Container {}", spec.name),
        Action::StartContainer { name, .. }
        | Action::StopContainer { name, .. }
        | Action::RemoveContainer { name, .. }
        | Action::Wait { name, .. } => format!("Container {name}"),
    }
}

/// The statuses before and after an action.
fn statuses(action: &Action) -> (Status, Status) {
    match action {
        Action::CreateNetwork(_) | Action::CreateVolume(_) | Action::CreateContainer { .. } => {
            (Status::Creating, Status::Created)
        }
        Action::RemoveNetwork { .. }
        | Action::RemoveVolume { .. }
        | Action::RemoveContainer { .. } => (Status::Removing, Status::Removed),
        Action::StartContainer { .. } => (Status::Starting, Status::Started),
        Action::StopContainer { .. } => (Status::Stopping, Status::Stopped),
        Action::Wait { condition, .. } => match condition {
            Condition::Healthy => (Status::Waiting, Status::Healthy),
            Condition::CompletedSuccessfully => (Status::Waiting, Status::Exited),
        },
    }
}

/// Performs one action: one engine call.
async fn perform(engine: &dyn EngineApi, action: &Action) -> Result<(), OpError> {
    match action {
        Action::CreateNetwork(spec) => engine.create_network(spec).await.map(drop)?,
        Action::RemoveNetwork { name } => engine.remove_network(name).await?,
        Action::CreateVolume(spec) => engine.create_volume(spec).await?,
        Action::RemoveVolume { name } => engine.remove_volume(name).await?,
        Action::CreateContainer { spec, .. } => {
            engine.create_container(spec).await?;
            if let Err(e) = crate::inject::copy_files(engine, &spec.name, &spec.files).await {
                // Nothing half-built: a container without its secrets never stays.
                let _ = engine.remove_container(&spec.name, true).await;
                return Err(e.into());
            }
        }
        Action::StartContainer { name, .. } => engine.start_container(name).await?,
        Action::StopContainer {
            name, timeout_s, ..
        } => engine.stop_container(name, *timeout_s).await?,
        Action::RemoveContainer {
            name,
            volumes: false,
            ..
        } => engine.remove_container(name, false).await?,
        Action::RemoveContainer {
            name,
            volumes: true,
            ..
        } => engine.remove_container_with_volumes(name).await?,
        Action::Wait {
            name, condition, ..
        } => match condition {
            Condition::Healthy => match engine.wait_healthy(name).await? {
                Health::Healthy => {}
                Health::Starting | Health::Unhealthy => {
                    return Err(OpError::Unhealthy { name: name.clone() });
                }
            },
            Condition::CompletedSuccessfully => match engine.wait_exit(name).await? {
                0 => {}
                code => {
                    return Err(OpError::ExitedWithError {
                        name: name.clone(),
                        code,
                    });
                }
            },
        },
    }
    Ok(())
}

type Running<'a> =
    FuturesUnordered<Pin<Box<dyn Future<Output = (usize, Result<(), OpError>)> + Send + 'a>>>;

/// Runs `plan` against `engine`, starting each operation as soon as its dependencies are done
/// and sending progress to `events` (a closed receiver is ignored). Operations after a failed
/// one are skipped; the others still run.
pub async fn execute<'a>(
    plan: &'a Plan,
    engine: &'a dyn EngineApi,
    events: &UnboundedSender<Event>,
) -> Result<(), ExecuteError> {
    let ops = &plan.operations;
    let mut waiting: Vec<usize> = ops.iter().map(|o| o.deps.len()).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); ops.len()];
    for (i, op) in ops.iter().enumerate() {
        for &d in &op.deps {
            dependents[d].push(i);
        }
    }
    let mut failed: Vec<Option<usize>> = vec![None; ops.len()];
    let mut failures = Vec::new();
    let mut running: Running<'a> = FuturesUnordered::new();
    let send = |i: usize, status: Status, message: String| {
        let _ = events.send(Event {
            resource: resource(&ops[i].action),
            status,
            message,
        });
    };
    let launch = |i: usize, running: &mut Running<'a>| {
        send(i, statuses(&ops[i].action).0, ops[i].cause.to_string());
        let action = &ops[i].action;
        running.push(Box::pin(async move { (i, perform(engine, action).await) }));
    };
    for i in (0..ops.len()).filter(|&i| waiting[i] == 0) {
        launch(i, &mut running);
    }
    while let Some((i, result)) = running.next().await {
        let mut blame = failed[i];
        match result {
            Ok(()) => send(i, statuses(&ops[i].action).1, ops[i].cause.to_string()),
            Err(e) => {
                send(i, Status::Error, e.to_string());
                failures.push((i, ops[i].action.to_string(), e));
                blame = Some(i);
            }
        }
        let mut cascade = vec![(i, blame)];
        while let Some((done, blame)) = cascade.pop() {
            for &next in &dependents[done] {
                if blame.is_some() && failed[next].is_none() {
                    failed[next] = blame;
                }
                waiting[next] -= 1;
                if waiting[next] > 0 {
                    continue;
                }
                match failed[next] {
                    None => launch(next, &mut running),
                    Some(cause) => {
                        let e = OpError::DependencyFailed(cause);
                        send(next, Status::Skipped, e.to_string());
                        failures.push((next, ops[next].action.to_string(), e));
                        cascade.push((next, Some(cause)));
                    }
                }
            }
        }
    }
    failures.sort_by_key(|f| f.0);
    if failures.is_empty() {
        Ok(())
    } else {
        Err(ExecuteError { failures })
    }
}

#[cfg(test)]
#[path = "execute_tests.rs"]
mod tests;
