//! The engine's state of one project, read from the labels compose puts on what it creates.

use super::labels;
use crate::engine_api::{ContainerInfo, Labels, NetworkInfo, RunState, VolumeInfo, VolumeMount};

/// A container of the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedContainer {
    pub id: String,
    pub name: String,
    pub service: String,
    /// `com.docker.compose.container-number` (0 when absent or malformed).
    pub number: u64,
    pub oneoff: bool,
    pub config_hash: String,
    pub state: RunState,
    pub labels: Labels,
    /// Its volume mounts (anonymous ones are inherited when it is recreated).
    pub volumes: Vec<VolumeMount>,
}

/// A network of the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedNetwork {
    pub id: String,
    pub name: String,
    /// The network's key in the compose file (`com.docker.compose.network`).
    pub key: String,
    pub labels: Labels,
}

/// A volume of the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedVolume {
    pub name: String,
    /// The volume's key in the compose file (`com.docker.compose.volume`).
    pub key: String,
    pub labels: Labels,
}

/// Everything of one project the engine holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    pub containers: Vec<ObservedContainer>,
    pub networks: Vec<ObservedNetwork>,
    pub volumes: Vec<ObservedVolume>,
}

fn label(labels: &Labels, key: &str) -> String {
    labels.get(key).cloned().unwrap_or_default()
}

impl Observed {
    /// Keeps the objects labelled with `project` and reads their compose labels. Containers
    /// come out sorted by service and number.
    pub fn from_engine(
        project: &str,
        containers: &[ContainerInfo],
        networks: &[NetworkInfo],
        volumes: &[VolumeInfo],
    ) -> Observed {
        let ours = |l: &Labels| l.get(labels::PROJECT).is_some_and(|p| p == project);
        let mut out = Observed {
            containers: containers
                .iter()
                .filter(|c| ours(&c.labels))
                .map(|c| ObservedContainer {
                    id: c.id.clone(),
                    name: c.name.trim_start_matches('/').to_string(),
                    service: label(&c.labels, labels::SERVICE),
                    number: label(&c.labels, labels::NUMBER).parse().unwrap_or(0),
                    oneoff: label(&c.labels, labels::ONEOFF).eq_ignore_ascii_case("true"),
                    config_hash: label(&c.labels, labels::CONFIG_HASH),
                    state: c.state,
                    labels: c.labels.clone(),
                    volumes: c.volumes.clone(),
                })
                .collect(),
            networks: networks
                .iter()
                .filter(|n| ours(&n.labels))
                .map(|n| ObservedNetwork {
                    id: n.id.clone(),
                    name: n.name.clone(),
                    key: label(&n.labels, labels::NETWORK),
                    labels: n.labels.clone(),
                })
                .collect(),
            volumes: volumes
                .iter()
                .filter(|v| ours(&v.labels))
                .map(|v| ObservedVolume {
                    name: v.name.clone(),
                    key: label(&v.labels, labels::VOLUME),
                    labels: v.labels.clone(),
                })
                .collect(),
        };
        out.containers
            .sort_by(|a, b| (&a.service, a.number, &a.name).cmp(&(&b.service, b.number, &b.name)));
        out
    }

    /// The non-one-off containers of `service`, by number.
    pub fn service_containers(&self, service: &str) -> Vec<&ObservedContainer> {
        self.containers
            .iter()
            .filter(|c| c.service == service && !c.oneoff)
            .collect()
    }
}
