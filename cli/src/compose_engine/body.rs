//! Compose specs as Docker API bodies: the container create body (Config, HostConfig and the
//! first network's endpoint), the endpoints of the networks joined after create, and the
//! network create body. Pure functions, apart from the HTTP port in the parent module.

use std::collections::BTreeMap;

use berth_compose::engine_api::{
    ContainerSpec, NetworkAttachment, NetworkSpec, ResourceSpec, ThrottleSpec,
};

use super::net::endpoint_settings;
use berth_engine::api::models::{
    BindOptions, ContainerConfig, ContainerCreateBody, DeviceMapping, EmptyObject, HealthConfig,
    HostConfig, Ipam, IpamConfig, LogConfig, Mount, NetworkCreateRequest, NetworkingConfig,
    PortBinding, RestartPolicy, ThrottleDevice, TmpfsOptions, Ulimit, VolumeOptions,
};

fn restart_policy(restart: Option<&str>) -> RestartPolicy {
    let Some(r) = restart else {
        return RestartPolicy::default();
    };
    let (name, count) = match r.split_once(':') {
        Some((n, c)) => (n, c.parse().unwrap_or(0)),
        None => (r, 0),
    };
    RestartPolicy {
        name: name.to_owned(),
        maximum_retry_count: count,
    }
}

fn nanos(v: Option<u64>) -> i64 {
    v.map_or(0, |n| i64::try_from(n).unwrap_or(i64::MAX))
}

/// The Docker create body of a compose container spec. The container joins its first network
/// at create; [`extra_networks`] are connected afterwards (older engines take one endpoint).
pub fn create_body(spec: &ContainerSpec) -> ContainerCreateBody {
    let mut exposed = BTreeMap::new();
    let mut bindings: BTreeMap<String, Vec<PortBinding>> = BTreeMap::new();
    for p in &spec.ports {
        let key = format!("{}/{}", p.target, p.protocol);
        exposed.insert(key.clone(), EmptyObject {});
        bindings.entry(key).or_default().push(PortBinding {
            host_ip: p.host_ip.clone().unwrap_or_default(),
            host_port: p.published.clone().unwrap_or_default(),
        });
    }
    let mut volumes = BTreeMap::new();
    let mut mounts = Vec::new();
    for m in &spec.mounts {
        if m.kind == "volume" && m.source.is_none() {
            volumes.insert(m.target.clone(), EmptyObject {});
            continue;
        }
        let bind = m.kind == "bind" && (m.propagation.is_some() || m.create_host_path);
        let tmpfs = m.kind == "tmpfs" && (m.tmpfs_size.is_some() || m.tmpfs_mode.is_some());
        mounts.push(Mount {
            target: m.target.clone(),
            source: m.source.clone().unwrap_or_default(),
            typ: m.kind.clone(),
            read_only: m.read_only,
            bind_options: bind.then(|| BindOptions {
                propagation: m.propagation.clone().unwrap_or_default(),
                create_mountpoint: m.create_host_path,
            }),
            volume_options: (m.kind == "volume" && m.nocopy).then(|| VolumeOptions {
                no_copy: true,
                ..VolumeOptions::default()
            }),
            tmpfs_options: tmpfs.then(|| TmpfsOptions {
                size_bytes: m
                    .tmpfs_size
                    .map_or(0, |b| i64::try_from(b).unwrap_or(i64::MAX)),
                mode: m.tmpfs_mode.unwrap_or(0),
            }),
            ..Mount::default()
        });
    }
    let network_mode = match (&spec.network_mode, spec.networks.first()) {
        (Some(mode), _) => mode.clone(),
        (None, Some(n)) => n.network.clone(),
        (None, None) => String::new(),
    };
    let mut endpoints = BTreeMap::new();
    if spec.network_mode.is_none()
        && let Some(n) = spec.networks.first()
    {
        endpoints.insert(n.network.clone(), endpoint_settings(n));
    }
    let healthcheck = spec.healthcheck.as_ref().map(|h| HealthConfig {
        test: h.test.clone(),
        interval: nanos(h.interval_ns),
        timeout: nanos(h.timeout_ns),
        retries: h
            .retries
            .map_or(0, |r| i64::try_from(r).unwrap_or(i64::MAX)),
        start_period: nanos(h.start_period_ns),
        start_interval: nanos(h.start_interval_ns),
    });
    let mut host_config = HostConfig {
        mounts,
        port_bindings: bindings,
        restart_policy: restart_policy(spec.restart.as_deref()),
        network_mode,
        privileged: spec.privileged,
        cap_add: spec.cap_add.clone(),
        cap_drop: spec.cap_drop.clone(),
        readonly_rootfs: spec.read_only,
        init: spec.init,
        tmpfs: spec
            .tmpfs
            .iter()
            .map(|t| match t.split_once(':') {
                Some((path, options)) => (path.to_owned(), options.to_owned()),
                None => (t.clone(), String::new()),
            })
            .collect(),
        volumes_from: spec.volumes_from.clone(),
        ..HostConfig::default()
    };
    apply_resources(&mut host_config, &spec.resources);
    let mut body = ContainerCreateBody {
        config: ContainerConfig {
            hostname: spec.hostname.clone().unwrap_or_default(),
            user: spec.user.clone().unwrap_or_default(),
            attach_stdout: true,
            attach_stderr: true,
            exposed_ports: exposed,
            tty: spec.tty,
            open_stdin: spec.stdin_open,
            env: spec.env.clone(),
            cmd: spec.command.clone(),
            healthcheck,
            image: spec.image.clone(),
            volumes,
            working_dir: spec.working_dir.clone().unwrap_or_default(),
            entrypoint: spec.entrypoint.clone(),
            labels: spec.labels.clone().into_iter().collect(),
            stop_signal: spec.stop_signal.clone(),
            stop_timeout: spec
                .stop_timeout
                .map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
            ..ContainerConfig::default()
        },
        host_config,
        networking_config: NetworkingConfig {
            endpoints_config: endpoints,
        },
    };
    super::net::apply(spec, &mut body);
    body
}

fn throttles(list: &[ThrottleSpec]) -> Vec<ThrottleDevice> {
    list.iter()
        .map(|t| ThrottleDevice {
            path: t.path.clone(),
            rate: t.rate,
        })
        .collect()
}

/// Puts the resource, security and logging settings of a spec into `HostConfig`, as docker
/// compose does (unset values stay at the engine's default).
fn apply_resources(h: &mut HostConfig, r: &ResourceSpec) {
    h.memory = r.memory.unwrap_or(0);
    h.nano_cpus = r.nano_cpus.unwrap_or(0);
    h.cpu_shares = r.cpu_shares.unwrap_or(0);
    h.cpuset_cpus = r.cpuset_cpus.clone().unwrap_or_default();
    h.pids_limit = r.pids_limit;
    h.shm_size = r.shm_size.unwrap_or(0);
    h.ulimits = r
        .ulimits
        .iter()
        .map(|u| Ulimit {
            name: u.name.clone(),
            soft: u.soft,
            hard: u.hard,
        })
        .collect();
    h.sysctls = r.sysctls.clone();
    h.devices = r
        .devices
        .iter()
        .map(|d| DeviceMapping {
            path_on_host: d.path_on_host.clone(),
            path_in_container: d.path_in_container.clone(),
            cgroup_permissions: d.permissions.clone(),
        })
        .collect();
    h.security_opt = r.security_opt.clone();
    if let Some(log) = &r.log {
        h.log_config = LogConfig {
            typ: log.driver.clone(),
            config: log.options.clone(),
        };
    }
    let x = &mut h.resources;
    x.memory_reservation = r.memory_reservation.unwrap_or(0);
    x.memory_swap = r.memory_swap.unwrap_or(0);
    x.cpu_quota = r.cpu_quota.unwrap_or(0);
    x.cpu_period = r.cpu_period.unwrap_or(0);
    x.oom_score_adj = r
        .oom_score_adj
        .map_or(0, |v| i32::try_from(v).unwrap_or(i32::MAX));
    x.group_add = r.group_add.clone();
    x.blkio_weight = r.blkio_weight.unwrap_or(0);
    x.blkio_device_read_bps = throttles(&r.blkio_read_bps);
    x.blkio_device_write_bps = throttles(&r.blkio_write_bps);
    x.blkio_device_read_iops = throttles(&r.blkio_read_iops);
    x.blkio_device_write_iops = throttles(&r.blkio_write_iops);
}

/// The networks after the first one, connected once the container exists.
pub(super) fn extra_networks(spec: &ContainerSpec) -> &[NetworkAttachment] {
    if spec.network_mode.is_some() || spec.networks.is_empty() {
        return &[];
    }
    &spec.networks[1..]
}

/// The Docker create body of a compose network spec.
pub fn network_body(spec: &NetworkSpec) -> NetworkCreateRequest {
    let ipam = (!spec.subnets.is_empty()).then(|| Ipam {
        driver: "default".to_owned(),
        config: spec
            .subnets
            .iter()
            .map(|s| IpamConfig {
                subnet: s.subnet.clone(),
                ip_range: s.ip_range.clone().unwrap_or_default(),
                gateway: s.gateway.clone().unwrap_or_default(),
            })
            .collect(),
        options: BTreeMap::new(),
    });
    NetworkCreateRequest {
        name: spec.name.clone(),
        driver: spec.driver.clone().unwrap_or_else(|| "bridge".to_owned()),
        internal: spec.internal,
        attachable: spec.attachable,
        enable_ipv4: spec.enable_ipv4,
        enable_ipv6: spec.enable_ipv6.unwrap_or(false),
        ipam,
        options: spec.driver_opts.clone(),
        labels: spec.labels.clone().into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_compose::engine_api::{
        DeviceSpec, HealthSpec, LogSpec, MountSpec, NetworkAttachment, PortSpec, SubnetSpec,
        UlimitSpec,
    };

    #[test]
    fn network_body_carries_subnet_gateway_and_range() {
        let spec = NetworkSpec {
            name: "p_front".into(),
            subnets: vec![SubnetSpec {
                subnet: "10.250.7.0/24".into(),
                gateway: Some("10.250.7.1".into()),
                ip_range: Some("10.250.7.128/25".into()),
            }],
            ..NetworkSpec::default()
        };
        let ipam = network_body(&spec).ipam.expect("ipam");
        let c = &ipam.config[0];
        assert_eq!(
            (c.subnet.as_str(), c.gateway.as_str(), c.ip_range.as_str()),
            ("10.250.7.0/24", "10.250.7.1", "10.250.7.128/25")
        );
        assert!(network_body(&NetworkSpec::default()).ipam.is_none());
    }

    #[test]
    fn create_body_maps_ports_mounts_networks_and_restart() {
        let spec = ContainerSpec {
            name: "p-web-1".into(),
            image: "busybox".into(),
            ports: vec![PortSpec {
                target: 80,
                protocol: "tcp".into(),
                host_ip: None,
                published: Some("8080".into()),
            }],
            mounts: vec![
                MountSpec {
                    kind: "volume".into(),
                    source: Some("p_data".into()),
                    target: "/data".into(),
                    read_only: true,
                    nocopy: true,
                    ..MountSpec::default()
                },
                MountSpec {
                    kind: "volume".into(),
                    source: None,
                    target: "/anon".into(),
                    read_only: false,
                    ..MountSpec::default()
                },
            ],
            networks: vec![
                NetworkAttachment {
                    network: "p_default".into(),
                    aliases: vec!["web".into()],
                    ipv4_address: Some("172.28.0.5".into()),
                    ..NetworkAttachment::default()
                },
                NetworkAttachment {
                    network: "p_back".into(),
                    aliases: vec!["web".into()],
                    ..NetworkAttachment::default()
                },
            ],
            restart: Some("on-failure:3".into()),
            healthcheck: Some(HealthSpec {
                test: vec!["CMD".into(), "true".into()],
                interval_ns: Some(2_000_000_000),
                timeout_ns: None,
                start_period_ns: Some(180_000_000_000),
                start_interval_ns: Some(1_000_000_000),
                retries: Some(3),
            }),
            stop_timeout: Some(60),
            ..ContainerSpec::default()
        };
        let body = create_body(&spec);
        let h = body.config.healthcheck.as_ref().expect("health check");
        assert_eq!(
            (h.interval, h.start_period, h.start_interval, h.retries),
            (2_000_000_000, 180_000_000_000, 1_000_000_000, 3)
        );
        assert_eq!(body.config.stop_timeout, Some(60));
        assert_eq!(body.host_config.network_mode, "p_default");
        assert_eq!(
            body.host_config.port_bindings["80/tcp"][0].host_port,
            "8080"
        );
        assert!(body.config.exposed_ports.contains_key("80/tcp"));
        assert_eq!(body.host_config.mounts.len(), 1);
        assert!(body.host_config.mounts[0].read_only);
        assert!(
            body.host_config.mounts[0]
                .volume_options
                .as_ref()
                .is_some_and(|o| o.no_copy)
        );
        assert!(body.config.volumes.contains_key("/anon"));
        let endpoint = &body.networking_config.endpoints_config["p_default"];
        assert_eq!(endpoint.aliases, vec!["web".to_owned()]);
        let ipam = endpoint.ipam_config.as_ref().expect("static address");
        assert_eq!(
            (ipam.ipv4_address.as_str(), ipam.ipv6_address.as_str()),
            ("172.28.0.5", "")
        );
        assert!(endpoint_settings(&spec.networks[1]).ipam_config.is_none());
        assert_eq!(body.host_config.restart_policy.name, "on-failure");
        assert_eq!(body.host_config.restart_policy.maximum_retry_count, 3);
        assert_eq!(extra_networks(&spec).len(), 1);
        let none = ContainerSpec {
            network_mode: Some("none".into()),
            ..spec
        };
        assert_eq!(create_body(&none).host_config.network_mode, "none");
        assert!(extra_networks(&none).is_empty());
    }

    #[test]
    fn create_body_maps_resources_security_and_logging() {
        let spec = ContainerSpec {
            name: "p-web-1".into(),
            image: "busybox".into(),
            tmpfs: vec!["/run".into(), "/tmp:size=1m,mode=1777".into()],
            volumes_from: vec!["p-data-1:ro".into()],
            resources: ResourceSpec {
                memory: Some(512 << 20),
                memory_swap: Some(-1),
                memory_reservation: Some(128 << 20),
                nano_cpus: Some(1_500_000_000),
                cpu_shares: Some(512),
                cpu_period: Some(100_000),
                cpuset_cpus: Some("0".into()),
                pids_limit: Some(64),
                ulimits: vec![UlimitSpec {
                    name: "nofile".into(),
                    soft: 1024,
                    hard: 2048,
                }],
                sysctls: [("net.core.somaxconn".to_owned(), "1024".to_owned())].into(),
                shm_size: Some(64 << 20),
                devices: vec![DeviceSpec {
                    path_on_host: "/dev/fuse".into(),
                    path_in_container: "/dev/fuse".into(),
                    permissions: "rwm".into(),
                }],
                security_opt: vec!["no-new-privileges:true".into()],
                group_add: vec!["audio".into()],
                oom_score_adj: Some(300),
                blkio_weight: Some(500),
                blkio_read_bps: vec![ThrottleSpec {
                    path: "/dev/sda".into(),
                    rate: 1 << 20,
                }],
                log: Some(LogSpec {
                    driver: "json-file".into(),
                    options: [("max-size".to_owned(), "10m".to_owned())].into(),
                }),
                ..ResourceSpec::default()
            },
            ..ContainerSpec::default()
        };
        let h = create_body(&spec).host_config;
        assert_eq!(h.tmpfs["/run"], "");
        assert_eq!(h.tmpfs["/tmp"], "size=1m,mode=1777");
        assert_eq!(h.volumes_from, ["p-data-1:ro"]);
        assert_eq!(
            (h.memory, h.nano_cpus, h.cpu_shares),
            (512 << 20, 1_500_000_000, 512)
        );
        assert_eq!((h.cpuset_cpus.as_str(), h.pids_limit), ("0", Some(64)));
        assert_eq!(h.shm_size, 64 << 20);
        assert_eq!(
            h.ulimits,
            [Ulimit {
                name: "nofile".into(),
                soft: 1024,
                hard: 2048
            }]
        );
        assert_eq!(h.sysctls["net.core.somaxconn"], "1024");
        assert_eq!(h.devices[0].path_on_host, "/dev/fuse");
        assert_eq!(h.devices[0].cgroup_permissions, "rwm");
        assert_eq!(h.security_opt, ["no-new-privileges:true"]);
        assert_eq!(h.log_config.typ, "json-file");
        assert_eq!(h.log_config.config["max-size"], "10m");
        let r = &h.resources;
        assert_eq!((r.memory_reservation, r.memory_swap), (128 << 20, -1));
        assert_eq!((r.cpu_quota, r.cpu_period), (0, 100_000));
        assert_eq!((r.oom_score_adj, r.blkio_weight), (300, 500));
        assert_eq!(r.group_add, ["audio"]);
        assert_eq!(r.blkio_device_read_bps[0].rate, 1 << 20);
        // the JSON the engine receives names the fields as Docker does
        let json = serde_json::to_value(create_body(&spec)).expect("body serializes");
        let hc = &json["HostConfig"];
        assert_eq!(hc["Memory"], 512 << 20);
        assert_eq!(hc["MemoryReservation"], 128 << 20);
        assert_eq!(hc["NanoCpus"], 1_500_000_000);
        assert_eq!(hc["PidsLimit"], 64);
        assert_eq!(hc["Ulimits"][0]["Name"], "nofile");
        assert_eq!(hc["OomScoreAdj"], 300);
        assert_eq!(hc["LogConfig"]["Type"], "json-file");
    }

    #[test]
    fn unset_resources_leave_the_engine_defaults() {
        let h = create_body(&ContainerSpec::default()).host_config;
        assert_eq!(h, HostConfig::default());
    }
}
