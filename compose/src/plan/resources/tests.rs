//! The resource keys of a service reach the container spec in Docker API units.

use super::*;
use crate::engine_api::ContainerSpec;
use crate::plan::{PlanOptions, container_spec};

fn spec(service_keys: &str) -> ContainerSpec {
    let text = format!("services:\n  s:\n    image: busybox\n{service_keys}");
    let project = crate::testutil::project(&text, "app");
    container_spec(&project, &project.services["s"], 1, &PlanOptions::default())
}

#[test]
fn memory_cpu_and_pids_keys_reach_the_spec() {
    let r = spec(concat!(
        "    mem_limit: 512m\n    memswap_limit: 1g\n    mem_reservation: 128m\n",
        "    cpu_shares: 512\n    cpuset: '0-1'\n    cpu_quota: 50000\n    cpu_period: 100000\n",
        "    pids_limit: 64\n    shm_size: 64m\n    oom_score_adj: 200\n",
    ))
    .resources;
    assert_eq!(r.memory, Some(512 << 20));
    assert_eq!(r.memory_swap, Some(1 << 30));
    assert_eq!(r.memory_reservation, Some(128 << 20));
    assert_eq!(r.nano_cpus, None);
    assert_eq!(r.cpu_shares, Some(512));
    assert_eq!(r.cpuset_cpus.as_deref(), Some("0-1"));
    assert_eq!((r.cpu_quota, r.cpu_period), (Some(50_000), Some(100_000)));
    assert_eq!(r.pids_limit, Some(64));
    assert_eq!(r.shm_size, Some(64 << 20));
    assert_eq!(r.oom_score_adj, Some(200));
}

#[test]
fn cpus_become_nano_cpus() {
    let r = spec("    cpus: 1.5\n").resources;
    assert_eq!((r.nano_cpus, r.cpu_quota), (Some(1_500_000_000), None));
}

#[test]
fn unset_keys_leave_the_engine_defaults() {
    assert_eq!(spec("").resources, ResourceSpec::default());
}

#[test]
fn unlimited_swap_and_pids_pass_as_minus_one() {
    let r = spec("    mem_limit: 64m\n    memswap_limit: -1\n    pids_limit: -1\n").resources;
    assert_eq!((r.memory_swap, r.pids_limit), (Some(-1), Some(-1)));
}

#[test]
fn deploy_resources_set_limits_and_memory_reservation() {
    let r = spec(concat!(
        "    deploy:\n      resources:\n",
        "        limits: {cpus: '0.5', memory: 256m, pids: 100}\n",
        "        reservations: {cpus: '0.25', memory: 64m}\n",
    ))
    .resources;
    assert_eq!(r.memory, Some(256 << 20));
    assert_eq!(r.nano_cpus, Some(500_000_000));
    assert_eq!(r.pids_limit, Some(100));
    assert_eq!(r.memory_reservation, Some(64 << 20));
}

#[test]
fn equal_values_in_both_forms_are_accepted() {
    let r = spec(concat!(
        "    mem_limit: 256m\n    cpus: 0.5\n    pids_limit: 10\n",
        "    deploy:\n      resources:\n        limits: {cpus: '0.5', memory: 256m, pids: 10}\n",
    ))
    .resources;
    assert_eq!(
        (r.memory, r.nano_cpus, r.pids_limit),
        (Some(256 << 20), Some(500_000_000), Some(10))
    );
}

#[test]
fn ulimits_sysctls_and_security_keys_reach_the_spec() {
    let r = spec(concat!(
        "    ulimits:\n      nproc: 512\n      nofile: {soft: 1024, hard: 2048}\n",
        "    sysctls:\n      net.core.somaxconn: 1024\n",
        "    security_opt: ['no-new-privileges:true']\n    group_add: [audio, '1234']\n",
        "    devices: ['/dev/fuse', '/dev/null:/dev/mynull:r']\n",
    ))
    .resources;
    assert_eq!(
        r.ulimits,
        vec![
            UlimitSpec {
                name: "nofile".into(),
                soft: 1024,
                hard: 2048
            },
            UlimitSpec {
                name: "nproc".into(),
                soft: 512,
                hard: 512
            },
        ]
    );
    assert_eq!(r.sysctls["net.core.somaxconn"], "1024");
    assert_eq!(r.security_opt, ["no-new-privileges:true"]);
    assert_eq!(r.group_add, ["audio", "1234"]);
    assert_eq!(
        r.devices,
        vec![
            DeviceSpec {
                path_on_host: "/dev/fuse".into(),
                path_in_container: "/dev/fuse".into(),
                permissions: "rwm".into()
            },
            DeviceSpec {
                path_on_host: "/dev/null".into(),
                path_in_container: "/dev/mynull".into(),
                permissions: "r".into()
            },
        ]
    );
}

#[test]
fn blkio_config_and_logging_reach_the_spec() {
    let r = spec(concat!(
        "    blkio_config:\n      weight: 300\n",
        "      device_read_bps: [{path: /dev/sda, rate: 1mb}]\n",
        "      device_write_iops: [{path: /dev/sda, rate: 100}]\n",
        "    logging:\n      options: {max-size: 10m, max-file: '3'}\n",
    ))
    .resources;
    assert_eq!(r.blkio_weight, Some(300));
    assert_eq!(
        r.blkio_read_bps,
        vec![ThrottleSpec {
            path: "/dev/sda".into(),
            rate: 1 << 20
        }]
    );
    assert_eq!(r.blkio_write_iops[0].rate, 100);
    let log = r.log.expect("logging");
    assert_eq!(log.driver, "json-file");
    assert_eq!(log.options["max-size"], "10m");
}
