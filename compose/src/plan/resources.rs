//! The resource, security and logging keys of a service as the engine receives them: what
//! docker compose v2 puts in `HostConfig` for `mem_limit`, `cpus`, `pids_limit`,
//! `deploy.resources`, `ulimits`, `sysctls`, `devices`, `security_opt`, `blkio_config`,
//! `logging` and their neighbours. Keys the engine cannot honour never get here: loading
//! refuses them (see `model::support`).

use crate::engine_api::{DeviceSpec, LogSpec, ResourceSpec, ThrottleSpec, UlimitSpec};
use crate::model::{Service, ThrottleDevice, Ulimit};
use crate::units::ByteSize;

fn bytes(b: ByteSize) -> i64 {
    i64::try_from(b.0).unwrap_or(i64::MAX)
}

fn nonzero(v: i64) -> Option<i64> {
    (v != 0).then_some(v)
}

fn nano_cpus(cpus: f64) -> Option<i64> {
    (cpus > 0.0).then(|| (cpus * 1e9).round() as i64)
}

fn throttles(list: &[ThrottleDevice]) -> Vec<ThrottleSpec> {
    list.iter()
        .map(|t| ThrottleSpec {
            path: t.path.clone(),
            rate: t.rate.0,
        })
        .collect()
}

/// The engine-side resources of `service`. As in docker compose, `deploy.resources.limits`
/// (`memory`, `cpus`, `pids`) and `deploy.resources.reservations.memory` win over `mem_limit`,
/// `cpus`, `pids_limit` and `mem_reservation` (loading refused the pairs that differ);
/// `reservations.cpus` has no Linux API field and is left out, as docker compose does.
pub fn resource_spec(service: &Service) -> ResourceSpec {
    let resources = service.deploy.as_ref().and_then(|d| d.resources.as_ref());
    let limits = resources.and_then(|r| r.limits.as_ref());
    let reservations = resources.and_then(|r| r.reservations.as_ref());
    let memory = limits
        .and_then(|l| l.memory)
        .or(service.mem_limit)
        .map(bytes);
    let memory_reservation = reservations
        .and_then(|r| r.memory)
        .or(service.mem_reservation)
        .map(bytes);
    let nano = limits
        .and_then(|l| l.cpus)
        .and_then(nano_cpus)
        .or_else(|| nano_cpus(service.cpus));
    let pids = limits
        .and_then(|l| l.pids)
        .filter(|p| *p != 0)
        .or_else(|| nonzero(service.pids_limit));
    let ulimits = service
        .ulimits
        .iter()
        .map(|(name, u)| {
            let (soft, hard) = match u {
                Ulimit::Single(v) => (*v, *v),
                Ulimit::SoftHard { soft, hard } => (*soft, *hard),
            };
            UlimitSpec {
                name: name.clone(),
                soft,
                hard,
            }
        })
        .collect();
    let devices = service
        .devices
        .iter()
        .map(|d| DeviceSpec {
            path_on_host: d.source.clone(),
            path_in_container: d.target.clone(),
            permissions: d.permissions.clone(),
        })
        .collect();
    let blkio = service.blkio_config.clone().unwrap_or_default();
    let log = service.logging.as_ref().map(|l| LogSpec {
        driver: l.driver.clone().unwrap_or_else(|| "json-file".into()),
        options: l.options.clone(),
    });
    ResourceSpec {
        memory,
        memory_swap: service.memswap_limit.filter(|v| *v != 0),
        memory_reservation,
        nano_cpus: nano,
        cpu_shares: nonzero(service.cpu_shares),
        cpu_quota: nonzero(service.cpu_quota),
        cpu_period: nonzero(service.cpu_period),
        cpuset_cpus: service.cpuset.clone().filter(|c| !c.is_empty()),
        pids_limit: pids,
        ulimits,
        sysctls: service.sysctls.clone(),
        shm_size: service.shm_size.map(bytes),
        devices,
        security_opt: service.security_opt.clone(),
        group_add: service.group_add.clone(),
        oom_score_adj: nonzero(service.oom_score_adj),
        blkio_weight: blkio.weight.map(|w| u16::try_from(w).unwrap_or(u16::MAX)),
        blkio_read_bps: throttles(&blkio.device_read_bps),
        blkio_write_bps: throttles(&blkio.device_write_bps),
        blkio_read_iops: throttles(&blkio.device_read_iops),
        blkio_write_iops: throttles(&blkio.device_write_iops),
        log,
    }
}

#[cfg(test)]
mod tests;
