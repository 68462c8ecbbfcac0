//! The Docker views of containers (`GET /containers/json`, `GET /containers/{id}/json`,
//! `GET /info`): read-only projections of the records, kept apart from the lifecycle code in
//! `containers.rs` that changes them.

use std::time::SystemTime;

use super::{Phase, RealBackend, Record};
use crate::api::models::{
    ContainerInspect, ContainerState, ContainerSummary, Info, SummaryHostConfig,
    SummaryNetworkSettings,
};
use crate::backend::{BackendResult, ListContainersOptions, human_duration};

impl RealBackend {
    pub(super) fn command(rec: &Record) -> (String, Vec<String>) {
        let c = &rec.body.config;
        let mut argv: Vec<String> = c.entrypoint.clone().unwrap_or_default();
        argv.extend(c.cmd.clone().unwrap_or_default());
        let mut it = argv.into_iter();
        (it.next().unwrap_or_default(), it.collect())
    }

    fn status_text(rec: &Record) -> String {
        let since = |t: &str| {
            humantime::parse_rfc3339_weak(t)
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .unwrap_or_default()
        };
        match rec.phase() {
            Phase::Running => format!("Up {}", human_duration(since(&rec.started_at))),
            Phase::Exited(c) if rec.restarting => format!(
                "Restarting ({c}) {} ago",
                human_duration(since(&rec.finished_at))
            ),
            Phase::Exited(c) => format!(
                "Exited ({c}) {} ago",
                human_duration(since(&rec.finished_at))
            ),
            Phase::Created | Phase::Removed => "Created".to_owned(),
        }
    }

    pub(super) fn list(&self, opts: &ListContainersOptions) -> Vec<ContainerSummary> {
        let mut recs: Vec<Record> = self.lock().values().map(|e| e.record.clone()).collect();
        recs.sort_by(|a, b| b.created.cmp(&a.created));
        let f = &opts.filters;
        let mut out: Vec<ContainerSummary> = recs
            .into_iter()
            .filter(|r| opts.all || r.running || r.restarting)
            .filter(|r| f.any("id", |v| r.id.starts_with(v)))
            .filter(|r| f.any("name", |v| r.name.contains(v.trim_start_matches('/'))))
            .filter(|r| f.any("status", |v| v == r.status()))
            .filter(|r| f.match_labels(&r.body.config.labels))
            .map(|r| {
                let (path, args) = Self::command(&r);
                let command = std::iter::once(path)
                    .chain(args)
                    .collect::<Vec<_>>()
                    .join(" ");
                ContainerSummary {
                    id: r.id.clone(),
                    names: vec![format!("/{}", r.name)],
                    image: r.image.clone(),
                    image_id: r.image_id.clone(),
                    command,
                    created: r.created_unix,
                    labels: r.body.config.labels.clone(),
                    state: r.status().to_owned(),
                    status: Self::status_text(&r),
                    host_config: SummaryHostConfig {
                        network_mode: r.network_mode.clone(),
                    },
                    ports: self.net_summary_ports(&r),
                    network_settings: SummaryNetworkSettings {
                        networks: self.net_settings(&r).networks,
                    },
                    mounts: self.mount_points(&r.id),
                }
            })
            .collect();
        if let Some(n) = opts.limit {
            out.truncate(n);
        }
        out
    }

    pub(super) fn inspect(&self, id: &str) -> BackendResult<ContainerInspect> {
        let r = self.record(id)?;
        let (path, args) = Self::command(&r);
        let dir = self.inner.paths.container(&r.id);
        let mut host_config = r.body.host_config.clone();
        host_config.network_mode = r.network_mode.clone();
        Ok(ContainerInspect {
            id: r.id.clone(),
            created: r.created.clone(),
            path,
            args,
            state: ContainerState {
                status: r.status().to_owned(),
                running: r.running || r.restarting,
                restarting: r.restarting,
                health: r.health.clone(),
                paused: r.paused,
                oom_killed: r.oom_killed,
                pid: r.pid,
                exit_code: r.exit_code,
                error: r.error.clone(),
                started_at: r.started_at.clone(),
                finished_at: r.finished_at.clone(),
                ..ContainerState::default()
            },
            image: r.image_id.clone(),
            log_path: dir.join("log.json").display().to_string(),
            name: format!("/{}", r.name),
            restart_count: r.restart_count,
            driver: "overlay2".to_owned(),
            platform: "linux".to_owned(),
            host_config,
            config: r.body.config.clone(),
            mounts: self.mount_points(&r.id),
            network_settings: self.net_settings(&r),
            resolv_conf_path: dir.join("resolv.conf").display().to_string(),
            hosts_path: dir.join("hosts").display().to_string(),
            ..ContainerInspect::default()
        })
    }

    pub(super) fn info_now(&self) -> Info {
        let map = self.lock();
        let running = map.values().filter(|e| e.record.running).count() as i64;
        let total = map.len() as i64;
        drop(map);
        let images = self.inner.images.list().map_or(0, |l| l.len() as i64);
        let host = super::system::host_facts(&self.inner.paths);
        Info {
            cgroup_version: host.cgroup_version,
            kernel_version: host.kernel_version,
            operating_system: host.operating_system,
            ncpu: host.ncpu,
            mem_total: host.mem_total,
            live_restore_enabled: true,
            containers: total,
            containers_running: running,
            containers_stopped: total - running,
            images,
            driver: "overlay2".to_owned(),
            docker_root_dir: self.inner.paths.data_root.display().to_string(),
            logging_driver: "json-file".to_owned(),
            cgroup_driver: "cgroupfs".to_owned(),
            os_type: "linux".to_owned(),
            architecture: std::env::consts::ARCH.to_owned(),
            name: "berth".to_owned(),
            server_version: env!("CARGO_PKG_VERSION").to_owned(),
            ..Info::default()
        }
    }
}
