//! Engine create requests built from the model: pure functions from a service, network or
//! volume to the [`ContainerSpec`], [`NetworkSpec`] or [`VolumeSpec`] the engine receives.

use super::{COMPOSE_VERSION, PlanOptions, labels, mounts};
use crate::engine_api::{
    ContainerSpec, HealthSpec, Labels, NetworkAttachment, NetworkSpec, PortSpec, SubnetSpec,
    VolumeSpec,
};
use crate::model::{Network, Project, Service, Volume, syntax};
use crate::output::config_hash;

/// The container name of replica `number` of `service`: `container_name`, else
/// `PROJECT-SERVICE-N`.
pub fn container_name(project: &str, service: &Service, number: u64) -> String {
    match &service.container_name {
        Some(n) => n.clone(),
        None => format!("{project}-{}-{number}", service.name),
    }
}

fn depends_on_label(service: &Service) -> String {
    let deps: Vec<String> = service
        .depends_on
        .iter()
        .map(|(name, d)| format!("{name}:{}:{}", d.condition, d.restart))
        .collect();
    deps.join(",")
}

/// The create request of replica `number` of `service`, labels included.
pub fn container_spec(
    project: &Project,
    service: &Service,
    number: u64,
    options: &PlanOptions,
) -> ContainerSpec {
    let mut labels: Labels = service.labels.clone();
    let own = [
        (labels::PROJECT, project.name.clone()),
        (labels::SERVICE, service.name.clone()),
        (labels::NUMBER, number.to_string()),
        (labels::ONEOFF, "False".to_string()),
        (labels::CONFIG_HASH, config_hash(service)),
        (labels::CONFIG_FILES, options.config_files.join(",")),
        (
            labels::WORKING_DIR,
            project.working_dir.display().to_string(),
        ),
        (labels::DEPENDS_ON, depends_on_label(service)),
        (labels::VERSION, COMPOSE_VERSION.to_string()),
    ];
    labels.extend(own.into_iter().map(|(k, v)| (k.to_string(), v)));
    if let Some(id) = options.image_ids.get(&service.name) {
        labels.insert(labels::IMAGE.to_string(), id.clone());
    }
    let env = service
        .environment
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect();
    let ports = service
        .ports
        .iter()
        .map(|p| PortSpec {
            target: p.target,
            protocol: p.protocol.clone(),
            host_ip: p.host_ip.clone(),
            published: p.published.clone(),
        })
        .collect();
    let mounts = mounts::service_mounts(project, service);
    let files = super::files::file_copies(project, service);
    let networks = network_attachments(project, service);
    let healthcheck = service
        .healthcheck
        .as_ref()
        .filter(|h| !h.disable && !h.test.is_empty())
        .map(|h| HealthSpec {
            test: h.test.clone(),
            interval_ns: h.interval.map(|d| d.0),
            timeout_ns: h.timeout.map(|d| d.0),
            start_period_ns: h.start_period.map(|d| d.0),
            start_interval_ns: h.start_interval.map(|d| d.0),
            retries: h.retries,
        });
    ContainerSpec {
        name: container_name(&project.name, service, number),
        image: service
            .image
            .clone()
            .unwrap_or_else(|| format!("{}-{}", project.name, service.name)),
        labels,
        env,
        command: service.command.clone(),
        entrypoint: service.entrypoint.clone(),
        working_dir: service.working_dir.clone(),
        user: service.user.clone(),
        hostname: service.hostname.clone(),
        ports,
        mounts,
        files,
        volumes_from: mounts::volumes_from(project, service),
        tmpfs: service.tmpfs.clone(),
        networks,
        network_mode: service.network_mode.clone(),
        restart: service.restart.clone(),
        healthcheck,
        tty: service.tty,
        stdin_open: service.stdin_open,
        privileged: service.privileged,
        read_only: service.read_only,
        init: service.init,
        cap_add: service.cap_add.clone(),
        cap_drop: service.cap_drop.clone(),
        stop_signal: service.stop_signal.clone(),
        stop_timeout: service
            .stop_grace_period
            .map(|d| d.0.div_ceil(1_000_000_000)),
        dns: service.dns.clone(),
        dns_search: service.dns_search.clone(),
        dns_opt: service.dns_opt.clone(),
        extra_hosts: service
            .extra_hosts
            .iter()
            .flat_map(|(host, ips)| ips.iter().map(move |ip| format!("{host}:{ip}")))
            .collect(),
        links: links(project, service, options),
        // Loading refused entries that are not ports; one that slipped through goes as written.
        expose: service
            .expose
            .iter()
            .flat_map(|e| syntax::parse_expose(e).unwrap_or_else(|_| vec![e.clone()]))
            .collect(),
        domainname: service.domainname.clone(),
        resources: super::resources::resource_spec(service),
    }
}

/// The networks of `service` in the order it joins them: highest `priority` first, then by
/// name, as docker compose does; the first one is joined at create. Each carries the service
/// name and its aliases, its static addresses and MAC address; the service's own
/// `mac_address` goes to the first network unless that entry has its own.
fn network_attachments(project: &Project, service: &Service) -> Vec<NetworkAttachment> {
    let mut entries: Vec<_> = service.networks.iter().collect();
    entries.sort_by_key(|(key, sn)| {
        (
            std::cmp::Reverse(sn.as_ref().map_or(0, |sn| sn.priority)),
            *key,
        )
    });
    let mut out: Vec<NetworkAttachment> = entries
        .into_iter()
        .map(|(key, sn)| {
            let mut aliases = vec![service.name.clone()];
            if let Some(sn) = sn {
                aliases.extend(sn.aliases.iter().cloned());
            }
            NetworkAttachment {
                network: project
                    .networks
                    .get(key)
                    .map_or_else(|| key.clone(), |n| n.name.clone()),
                aliases,
                ipv4_address: sn.as_ref().and_then(|sn| sn.ipv4_address.clone()),
                ipv6_address: sn.as_ref().and_then(|sn| sn.ipv6_address.clone()),
                mac_address: sn.as_ref().and_then(|sn| sn.mac_address.clone()),
            }
        })
        .collect();
    if let Some(first) = out.first_mut()
        && first.mac_address.is_none()
    {
        first.mac_address = service.mac_address.clone();
    }
    out
}

/// `HostConfig.Links` of `links` (each container of the linked service under the link's alias
/// and the service name) and `external_links` (`container[:alias]`), as docker compose makes
/// them.
fn links(project: &Project, service: &Service, options: &PlanOptions) -> Vec<String> {
    let mut out = Vec::new();
    for link in &service.links {
        let (target, alias) = link.split_once(':').unwrap_or((link, link));
        let Some(linked) = project.services.get(target) else {
            continue;
        };
        for n in 1..=super::up::replicas(linked, options) {
            let name = container_name(&project.name, linked, n);
            out.push(format!("{name}:{alias}"));
            if alias != target {
                out.push(format!("{name}:{target}"));
            }
        }
    }
    for link in &service.external_links {
        let (target, alias) = link.split_once(':').unwrap_or((link, link));
        out.push(format!("{target}:{alias}"));
    }
    out
}

/// The create request of the project network with key `key`.
pub fn network_spec(project: &str, key: &str, network: &Network) -> NetworkSpec {
    let mut labels = network.labels.clone();
    labels.insert(labels::PROJECT.into(), project.into());
    labels.insert(labels::NETWORK.into(), key.into());
    labels.insert(labels::VERSION.into(), COMPOSE_VERSION.into());
    NetworkSpec {
        name: network.name.clone(),
        driver: network.driver.clone(),
        driver_opts: network.driver_opts.clone(),
        internal: network.internal,
        attachable: network.attachable,
        enable_ipv4: network.enable_ipv4,
        enable_ipv6: network.enable_ipv6,
        subnets: network
            .ipam
            .iter()
            .flat_map(|i| &i.config)
            .filter_map(|p| {
                Some(SubnetSpec {
                    subnet: p.subnet.clone()?,
                    gateway: p.gateway.clone(),
                    ip_range: p.ip_range.clone(),
                })
            })
            .collect(),
        labels,
    }
}

/// The create request of the project volume with key `key`.
pub fn volume_spec(project: &str, key: &str, volume: &Volume) -> VolumeSpec {
    let mut labels = volume.labels.clone();
    labels.insert(labels::PROJECT.into(), project.into());
    labels.insert(labels::VOLUME.into(), key.into());
    labels.insert(labels::VERSION.into(), COMPOSE_VERSION.into());
    VolumeSpec {
        name: volume.name.clone(),
        driver: volume.driver.clone(),
        driver_opts: volume.driver_opts.clone(),
        labels,
    }
}
