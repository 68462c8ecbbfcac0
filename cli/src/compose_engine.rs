//! The compose → engine port over HTTP: [`ComposeEngine`] implements compose's
//! [`EngineApi`] with berth's typed Docker-API client, so the planner and executor drive
//! berth's embedded engine or any Docker-API engine (a real dockerd) the same way.
//!
//! Compose stays free of engine types: this module is the only place where compose's plain
//! specs become Docker API bodies, and where the client's HTTP errors become [`EngineError`]s.

use std::time::Duration;

use async_trait::async_trait;
use berth_compose::engine_api::{
    ContainerInfo, ContainerSpec, EngineApi, EngineError, Health, LabelFilter, NetworkInfo,
    NetworkSpec, RunState, VolumeInfo, VolumeMount, VolumeSpec,
};
use berth_engine::api::models::{
    ContainerSummary, Filters, NetworkConnectRequest, VolumeCreateRequest,
};
use berth_engine::backend::{ListContainersOptions, WaitCondition};
use berth_engine::client::{Client, ClientError};

mod body;
mod net;

use body::extra_networks;
pub use body::{create_body, network_body};
use net::endpoint_settings;

/// How often `wait_healthy` re-reads a container's health while it is starting.
const HEALTH_POLL: Duration = Duration::from_millis(100);

/// [`EngineApi`] over a Docker-API [`Client`].
#[derive(Debug, Clone)]
pub struct ComposeEngine {
    client: Client,
}

impl ComposeEngine {
    /// The port over `client`.
    pub fn new(client: Client) -> Self {
        ComposeEngine { client }
    }

    /// The underlying client, for verbs that need more than the port (logs, exec, …).
    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// Maps a client error to the port's categories.
fn engine_error(op: &'static str, kind: &'static str, name: &str, e: ClientError) -> EngineError {
    match e.status() {
        Some(404) => EngineError::NotFound {
            kind,
            name: name.to_owned(),
        },
        Some(409) if op.starts_with("create") => EngineError::AlreadyExists {
            kind,
            name: name.to_owned(),
        },
        _ => EngineError::Failed {
            op,
            name: name.to_owned(),
            message: error_text(&e),
        },
    }
}

/// The whole message of a client error (the engine's message for API answers).
fn error_text(e: &ClientError) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Docker label filters for a compose [`LabelFilter`].
pub fn label_filters(filter: &LabelFilter) -> Filters {
    let mut out = Filters::default();
    for (k, v) in &filter.0 {
        let value = match v {
            Some(v) => format!("{k}={v}"),
            None => k.clone(),
        };
        out.0.entry("label".to_owned()).or_default().push(value);
    }
    out
}

/// A run state from Docker's `State` word.
pub fn run_state(state: &str) -> RunState {
    match state {
        "running" => RunState::Running,
        "paused" => RunState::Paused,
        "restarting" => RunState::Restarting,
        "exited" => RunState::Exited,
        "dead" | "removing" => RunState::Dead,
        _ => RunState::Created,
    }
}

/// A health from Docker's `State.Health.Status` word.
fn health_of(status: &str) -> Option<Health> {
    match status {
        "healthy" => Some(Health::Healthy),
        "unhealthy" => Some(Health::Unhealthy),
        "starting" => Some(Health::Starting),
        _ => None,
    }
}

/// Health and exit code as the list's `Status` text tells them (`Up 3s (healthy)`,
/// `Exited (2) 1s ago`).
fn status_details(status: &str) -> (Option<Health>, Option<i64>) {
    let health = if status.contains("(healthy)") {
        Some(Health::Healthy)
    } else if status.contains("(unhealthy)") {
        Some(Health::Unhealthy)
    } else if status.contains("(health: starting)") {
        Some(Health::Starting)
    } else {
        None
    };
    let exit = status
        .strip_prefix("Exited (")
        .and_then(|rest| rest.split(')').next())
        .and_then(|code| code.parse().ok());
    (health, exit)
}

/// A container of a list answer in the port's terms.
pub fn container_info(c: &ContainerSummary) -> ContainerInfo {
    let (health, exit_code) = status_details(&c.status);
    ContainerInfo {
        id: c.id.clone(),
        name: c
            .names
            .first()
            .map(|n| n.trim_start_matches('/').to_owned())
            .unwrap_or_default(),
        labels: c.labels.clone().into_iter().collect(),
        state: run_state(&c.state),
        health,
        exit_code,
        volumes: volume_mounts(&c.mounts),
    }
}

/// The volume mounts of a container's `Mounts`.
fn volume_mounts(mounts: &[berth_engine::api::models::MountPoint]) -> Vec<VolumeMount> {
    mounts
        .iter()
        .filter(|m| m.typ == "volume")
        .filter_map(|m| {
            Some(VolumeMount {
                name: m.name.clone()?,
                destination: m.destination.clone(),
                read_only: !m.rw,
            })
        })
        .collect()
}

#[async_trait]
impl EngineApi for ComposeEngine {
    async fn list_containers(
        &self,
        filter: &LabelFilter,
    ) -> Result<Vec<ContainerInfo>, EngineError> {
        let opts = ListContainersOptions {
            all: true,
            limit: None,
            filters: label_filters(filter),
        };
        let list = self
            .client
            .list_containers(&opts)
            .await
            .map_err(|e| engine_error("list", "containers", "", e))?;
        Ok(list.iter().map(container_info).collect())
    }

    async fn list_networks(&self, filter: &LabelFilter) -> Result<Vec<NetworkInfo>, EngineError> {
        let list = self
            .client
            .list_networks(&label_filters(filter))
            .await
            .map_err(|e| engine_error("list", "networks", "", e))?;
        Ok(list
            .into_iter()
            .map(|n| (n.labels.clone().into_iter().collect(), n))
            .filter(|(labels, _)| filter.matches(labels))
            .map(|(labels, n)| NetworkInfo {
                id: n.id,
                name: n.name,
                labels,
            })
            .collect())
    }

    async fn list_volumes(&self, filter: &LabelFilter) -> Result<Vec<VolumeInfo>, EngineError> {
        let list = self
            .client
            .list_volumes(&label_filters(filter))
            .await
            .map_err(|e| engine_error("list", "volumes", "", e))?;
        Ok(list
            .volumes
            .into_iter()
            .map(|v| (v.labels.clone().into_iter().collect(), v))
            .filter(|(labels, _)| filter.matches(labels))
            .map(|(labels, v)| VolumeInfo {
                name: v.name,
                labels,
            })
            .collect())
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, EngineError> {
        let body = create_body(spec);
        let created = self
            .client
            .create_container(Some(&spec.name), &body)
            .await
            .map_err(|e| engine_error("create", "container", &spec.name, e))?;
        for n in extra_networks(spec) {
            let req = NetworkConnectRequest {
                container: created.id.clone(),
                endpoint_config: Some(endpoint_settings(n)),
            };
            self.client
                .connect_network(&n.network, &req)
                .await
                .map_err(|e| engine_error("connect", "network", &n.network, e))?;
        }
        Ok(created.id)
    }

    async fn start_container(&self, container: &str) -> Result<(), EngineError> {
        self.client
            .start_container(container)
            .await
            .map_err(|e| engine_error("start", "container", container, e))
    }

    async fn stop_container(
        &self,
        container: &str,
        timeout_s: Option<u64>,
    ) -> Result<(), EngineError> {
        let t = timeout_s.map(|t| i64::try_from(t).unwrap_or(i64::MAX));
        self.client
            .stop_container(container, t)
            .await
            .map_err(|e| engine_error("stop", "container", container, e))
    }

    async fn kill_container(&self, container: &str, signal: &str) -> Result<(), EngineError> {
        self.client
            .kill_container(container, Some(signal))
            .await
            .map_err(|e| engine_error("kill", "container", container, e))
    }

    async fn remove_container(&self, container: &str, force: bool) -> Result<(), EngineError> {
        self.client
            .remove_container(container, force, false)
            .await
            .map_err(|e| engine_error("remove", "container", container, e))
    }

    async fn remove_container_with_volumes(&self, container: &str) -> Result<(), EngineError> {
        self.client
            .remove_container(container, false, true)
            .await
            .map_err(|e| engine_error("remove", "container", container, e))
    }

    async fn inspect_container(&self, container: &str) -> Result<ContainerInfo, EngineError> {
        let c = self
            .client
            .inspect_container(container)
            .await
            .map_err(|e| engine_error("inspect", "container", container, e))?;
        let exited = matches!(c.state.status.as_str(), "exited" | "dead");
        Ok(ContainerInfo {
            id: c.id,
            name: c.name.trim_start_matches('/').to_owned(),
            labels: c.config.labels.into_iter().collect(),
            state: run_state(&c.state.status),
            health: c.state.health.as_ref().and_then(|h| health_of(&h.status)),
            exit_code: exited.then_some(c.state.exit_code),
            volumes: volume_mounts(&c.mounts),
        })
    }

    async fn copy_to_container(
        &self,
        container: &str,
        dir: &str,
        tar: Vec<u8>,
    ) -> Result<(), EngineError> {
        self.client
            .put_archive(container, dir, tar)
            .await
            .map_err(|e| engine_error("copy", "container", container, e))
    }

    async fn wait_healthy(&self, container: &str) -> Result<Health, EngineError> {
        loop {
            let info = self.inspect_container(container).await?;
            match info.health {
                Some(Health::Starting) => {}
                Some(h) => return Ok(h),
                None => {
                    return Err(EngineError::Failed {
                        op: "wait-healthy",
                        name: container.to_owned(),
                        message: "container has no healthcheck configured".to_owned(),
                    });
                }
            }
            if matches!(info.state, RunState::Exited | RunState::Dead) {
                return Err(EngineError::Failed {
                    op: "wait-healthy",
                    name: container.to_owned(),
                    message: format!(
                        "container exited ({}) before it became healthy",
                        info.exit_code.unwrap_or(-1)
                    ),
                });
            }
            tokio::time::sleep(HEALTH_POLL).await;
        }
    }

    async fn wait_exit(&self, container: &str) -> Result<i64, EngineError> {
        let r = self
            .client
            .wait_container(container, WaitCondition::NotRunning)
            .await
            .map_err(|e| engine_error("wait", "container", container, e))?;
        Ok(r.status_code)
    }

    async fn create_network(&self, spec: &NetworkSpec) -> Result<String, EngineError> {
        let r = self
            .client
            .create_network(&network_body(spec))
            .await
            .map_err(|e| engine_error("create-network", "network", &spec.name, e))?;
        Ok(r.id)
    }

    async fn remove_network(&self, name: &str) -> Result<(), EngineError> {
        self.client
            .remove_network(name)
            .await
            .map_err(|e| engine_error("remove-network", "network", name, e))
    }

    async fn create_volume(&self, spec: &VolumeSpec) -> Result<(), EngineError> {
        let req = VolumeCreateRequest {
            name: spec.name.clone(),
            driver: spec.driver.clone().unwrap_or_else(|| "local".to_owned()),
            driver_opts: spec.driver_opts.clone(),
            labels: spec.labels.clone().into_iter().collect(),
        };
        self.client
            .create_volume(&req)
            .await
            .map(drop)
            .map_err(|e| engine_error("create-volume", "volume", &spec.name, e))
    }

    async fn remove_volume(&self, name: &str) -> Result<(), EngineError> {
        self.client
            .remove_volume(name, false)
            .await
            .map_err(|e| engine_error("remove-volume", "volume", name, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_text_gives_health_and_exit_code() {
        assert_eq!(
            status_details("Up 3 seconds (healthy)"),
            (Some(Health::Healthy), None)
        );
        assert_eq!(
            status_details("Up 1 second (health: starting)"),
            (Some(Health::Starting), None)
        );
        assert_eq!(status_details("Exited (2) 4 seconds ago"), (None, Some(2)));
        assert_eq!(status_details("Created"), (None, None));
    }

    #[test]
    fn label_filter_becomes_docker_label_filters() {
        let f = LabelFilter(vec![("a".into(), Some("1".into())), ("b".into(), None)]);
        assert_eq!(
            label_filters(&f).0["label"],
            vec!["a=1".to_owned(), "b".to_owned()]
        );
    }

    /// An API server over the engine's in-memory backend on a unix socket in a temp dir.
    struct FakeDaemon {
        _dir: tempfile::TempDir,
        engine: ComposeEngine,
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        task: tokio::task::JoinHandle<Result<(), berth_engine::daemon::DaemonError>>,
    }

    impl FakeDaemon {
        async fn start() -> FakeDaemon {
            let dir = tempfile::tempdir().expect("temp dir");
            let socket = dir.path().join("api.sock");
            let fake = berth_engine::fake::FakeBackend::new("/data");
            let listener = berth_engine::daemon::bind_socket(&socket).expect("bind");
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(berth_engine::daemon::serve(
                listener,
                std::sync::Arc::new(fake),
                async move {
                    let _ = stopped.await;
                },
            ));
            let client = Client::new(&format!("unix://{}", socket.display())).expect("client");
            client
                .pull_image("busybox", Some("latest"))
                .await
                .expect("pull into the fake");
            FakeDaemon {
                _dir: dir,
                engine: ComposeEngine::new(client),
                stop: Some(stop),
                task,
            }
        }

        async fn stop(mut self) {
            if let Some(stop) = self.stop.take() {
                let _ = stop.send(());
            }
            let _ = (&mut self.task).await;
        }
    }

    #[tokio::test]
    async fn compose_engine_meets_the_port_contract_over_http() {
        let d = FakeDaemon::start().await;
        let setup = berth_compose::engine_contract::ContractSetup {
            prefix: format!("httpcontract{}", std::process::id()),
            image: "busybox".into(),
            command: vec!["sleep".into(), "600".into()],
        };
        berth_compose::engine_contract::run(&d.engine, &setup).await;
        d.stop().await;
    }

    #[tokio::test]
    async fn up_over_http_converges_and_a_second_plan_is_empty() {
        use berth_compose::execute::{execute, observe};
        use berth_compose::plan::{DownOptions, PlanOptions, plan, plan_down};
        let d = FakeDaemon::start().await;
        let yaml = "name: conv\nservices:\n  db:\n    image: busybox\n  web:\n    image: busybox\n    depends_on: [db]\n    scale: 2\nvolumes:\n  data: {}\n";
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("compose.yaml"), yaml).expect("write");
        let opts = berth_compose::LoadOptions {
            files: vec![dir.path().join("compose.yaml")],
            cwd: dir.path().to_path_buf(),
            ..berth_compose::LoadOptions::default()
        };
        let project = berth_compose::load_project(&opts).expect("load").project;
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let observed = observe(&d.engine, "conv").await.expect("observe");
        let first = plan(&project, &observed, &PlanOptions::default());
        execute(&first, &d.engine, &tx).await.expect("up");
        let observed = observe(&d.engine, "conv").await.expect("observe");
        let names: Vec<&str> = observed
            .containers
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["conv-db-1", "conv-web-1", "conv-web-2"]);
        assert!(
            observed
                .containers
                .iter()
                .all(|c| c.state == RunState::Running)
        );
        assert_eq!(observed.networks.len(), 1, "{:?}", observed.networks);
        let again = plan(&project, &observed, &PlanOptions::default());
        assert!(again.is_empty(), "second up plans nothing:\n{again}");
        let down = plan_down(
            &project,
            &observed,
            &DownOptions {
                volumes: true,
                ..DownOptions::default()
            },
        );
        execute(&down, &d.engine, &tx).await.expect("down");
        let left = observe(&d.engine, "conv").await.expect("observe");
        assert_eq!(left, berth_compose::plan::Observed::default());
        d.stop().await;
    }
}
