//! Stats of the fake engine: a running container reports fixed, plausible usage (its CPU time
//! grows with each sample, so rates are non-zero); a stopped one an empty sample.

use std::time::SystemTime;

use super::{FakeBackend, Status, resolve_container};
use crate::api::models::{ContainerStats, CpuStats, CpuUsage, MemoryStats, PidsStats};
use crate::backend::BackendResult;

impl FakeBackend {
    pub(super) fn stats_impl(&self, id: &str) -> BackendResult<ContainerStats> {
        let st = self.lock();
        let id = resolve_container(&st, id)?;
        let c = &st.containers[&id];
        let mut out = ContainerStats {
            name: format!("/{}", c.name),
            id: c.id.clone(),
            read: "0001-01-01T00:00:00Z".to_owned(),
            preread: "0001-01-01T00:00:00Z".to_owned(),
            ..ContainerStats::default()
        };
        if !matches!(c.status, Status::Running | Status::Paused) {
            return Ok(out);
        }
        let now = SystemTime::now();
        let nanos = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        out.read = humantime::format_rfc3339_nanos(now).to_string();
        out.cpu_stats = CpuStats {
            cpu_usage: CpuUsage {
                total_usage: nanos / 1000,
                ..CpuUsage::default()
            },
            system_cpu_usage: Some(nanos),
            online_cpus: Some(1),
            ..CpuStats::default()
        };
        out.memory_stats = MemoryStats {
            usage: Some(1 << 20),
            limit: Some(1 << 30),
            ..MemoryStats::default()
        };
        out.pids_stats = PidsStats {
            current: Some(1),
            limit: None,
        };
        Ok(out)
    }
}
