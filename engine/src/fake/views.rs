//! How fake containers look from the API: list summaries and inspect documents.

use std::collections::BTreeMap;
use std::time::SystemTime;

use super::util::{self, rfc3339};
use super::{FakeBackend, FakeContainer, State, Status, command_of, network_mode, unix};
use crate::api::models::{
    ContainerInspect, ContainerState, ContainerSummary, NetworkSettings, PortBinding,
    SummaryHostConfig, SummaryNetworkSettings,
};
use crate::backend::human_duration;

impl FakeBackend {
    pub(super) fn summary(&self, st: &State, c: &FakeContainer) -> ContainerSummary {
        let now = SystemTime::now();
        let since =
            |t: Option<SystemTime>| now.duration_since(t.unwrap_or(now)).unwrap_or_default();
        let status = match c.status {
            Status::Created => "Created".to_owned(),
            Status::Running => format!("Up {}", human_duration(since(c.started_at))),
            Status::Paused => format!("Up {} (Paused)", human_duration(since(c.started_at))),
            Status::Exited => {
                format!(
                    "Exited ({}) {} ago",
                    c.exit_code,
                    human_duration(since(c.finished_at))
                )
            }
        };
        let (path, args) = command_of(st, c);
        let command = std::iter::once(path)
            .chain(args)
            .collect::<Vec<_>>()
            .join(" ");
        ContainerSummary {
            id: c.id.clone(),
            names: vec![format!("/{}", c.name)],
            image: c.image_ref.clone(),
            image_id: c.image_id.clone(),
            command,
            created: unix(c.created),
            ports: util::ports(&c.body, c.status == Status::Running),
            labels: c.body.config.labels.clone(),
            state: c.status.as_str().to_owned(),
            status,
            host_config: SummaryHostConfig {
                network_mode: network_mode(&c.body),
            },
            network_settings: SummaryNetworkSettings {
                networks: c.networks.clone(),
            },
            mounts: util::mount_points(&c.body, &self.data_root),
        }
    }

    pub(super) fn inspect_view(&self, st: &State, c: &FakeContainer) -> ContainerInspect {
        let (path, args) = command_of(st, c);
        let time = |t: Option<SystemTime>| {
            t.map(rfc3339)
                .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_owned())
        };
        let running = matches!(c.status, Status::Running | Status::Paused);
        let mut ports: BTreeMap<String, Option<Vec<PortBinding>>> = BTreeMap::new();
        for p in util::ports(&c.body, running) {
            let slot = ports
                .entry(format!("{}/{}", p.private_port, p.typ))
                .or_default();
            if let (Some(ip), Some(public)) = (p.ip, p.public_port) {
                let binding = PortBinding {
                    host_ip: ip,
                    host_port: public.to_string(),
                };
                slot.get_or_insert_with(Vec::new).push(binding);
            }
        }
        let dir = format!("{}/containers/{}", self.data_root, c.id);
        ContainerInspect {
            id: c.id.clone(),
            created: rfc3339(c.created),
            path,
            args,
            state: ContainerState {
                status: c.status.as_str().to_owned(),
                running: matches!(c.status, Status::Running | Status::Paused),
                paused: c.status == Status::Paused,
                pid: c.pid,
                exit_code: c.exit_code,
                started_at: time(c.started_at),
                finished_at: time(c.finished_at),
                ..ContainerState::default()
            },
            image: c.image_id.clone(),
            resolv_conf_path: format!("{dir}/resolv.conf"),
            hostname_path: format!("{dir}/hostname"),
            hosts_path: format!("{dir}/hosts"),
            log_path: format!("{dir}/{}-json.log", c.id),
            name: format!("/{}", c.name),
            driver: "overlay2".to_owned(),
            platform: "linux".to_owned(),
            host_config: c.body.host_config.clone(),
            mounts: util::mount_points(&c.body, &self.data_root),
            config: c.body.config.clone(),
            network_settings: NetworkSettings {
                ports,
                networks: c.networks.clone(),
                ..NetworkSettings::default()
            },
            ..ContainerInspect::default()
        }
    }
}
