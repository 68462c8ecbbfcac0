//! The network side of a container's life in the real backend: its network mode, the endpoints
//! created in its namespace at start (addresses, published ports, DNS names), its `/etc/hosts`
//! and `/etc/resolv.conf`, teardown at exit, `network connect`/`disconnect`, and the
//! `NetworkSettings` of inspect.
//!
//! The container's namespace is the one its shim created; once the init's pid is known (before
//! the init is released) it is pinned with a bind mount at `containers/<id>/netns`, the handle
//! the endpoints and `container:<id>` joiners use.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use berth_network::firewall::Proto;
use berth_network::manager::{Endpoint, EndpointSpec, ManagerError, PortSpec};
use berth_runtime::spec::BindMount;

use super::net_files::{self, PortRequest};
use super::networks::{DEFAULT_NETWORK, embedded_dns, endpoint_id, mac_text, manager_err};
use super::{RealBackend, Record};
use crate::api::models::{
    ContainerCreateBody, EndpointSettings, NetworkConnectRequest, NetworkDisconnectRequest,
    NetworkSettings, Port,
};
use crate::backend::{BackendError, BackendResult, ErrorKind};

/// Host ports handed out for random publications (Docker's default ephemeral range start).
const RANDOM_PORTS: (u16, u16) = (49153, 60999);
/// The compose label naming a container's service.
const SERVICE_LABEL: &str = "com.docker.compose.service";

/// A container's network mode, as recorded (`Record::network_mode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Mode {
    /// Only loopback.
    None,
    /// The engine's own namespace.
    Host,
    /// Another container's namespace (full id).
    Container(String),
    /// Attached to networks; this one carries the default route.
    Network(String),
}

impl Mode {
    pub(super) fn parse(recorded: &str) -> Mode {
        match recorded {
            "none" => Mode::None,
            "host" => Mode::Host,
            "" | "default" => Mode::Network(DEFAULT_NETWORK.to_owned()),
            other => match other.strip_prefix("container:") {
                Some(id) => Mode::Container(id.to_owned()),
                None => Mode::Network(other.to_owned()),
            },
        }
    }
}

fn bad_request(e: net_files::NetFileError) -> BackendError {
    BackendError::invalid(e.to_string())
}

/// Docker clients name the default network `default` in `NetworkMode` and `EndpointsConfig`:
/// both become `bridge`, so records carry real network names only.
pub(super) fn normalize(mut body: ContainerCreateBody) -> ContainerCreateBody {
    let h = &mut body.host_config;
    if h.network_mode.is_empty() || h.network_mode == "default" {
        h.network_mode = DEFAULT_NETWORK.to_owned();
    }
    let eps = &mut body.networking_config.endpoints_config;
    if let Some(ep) = eps.remove("default") {
        eps.entry(DEFAULT_NETWORK.to_owned()).or_insert(ep);
    }
    body
}

/// Networks of a network-mode container: the primary one first, then the others by name.
pub(super) fn networks_of(rec_mode: &str, body: &ContainerCreateBody) -> Vec<String> {
    let Mode::Network(primary) = Mode::parse(rec_mode) else {
        return Vec::new();
    };
    let mut out = vec![primary.clone()];
    out.extend(
        body.networking_config
            .endpoints_config
            .keys()
            .filter(|k| **k != primary)
            // The docker CLI names the default network's endpoint `default`.
            .filter(|k| !(k.as_str() == "default" && primary == DEFAULT_NETWORK))
            .cloned(),
    );
    out
}

fn write_in_place(path: &Path, text: &str) -> std::io::Result<()> {
    // The file is bind-mounted into the container: rewrite the same inode, never rename.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    f.write_all(text.as_bytes())
}

fn io_err(what: &str) -> impl FnOnce(std::io::Error) -> BackendError + '_ {
    move |e| BackendError::new(ErrorKind::Internal, format!("{what}: {e}")).with_source(e)
}

fn can_bind(proto: Proto, port: u16) -> bool {
    let addr = (Ipv4Addr::UNSPECIFIED, port);
    match proto {
        Proto::Tcp => std::net::TcpListener::bind(addr).is_ok(),
        Proto::Udp => std::net::UdpSocket::bind(addr).is_ok(),
    }
}

impl RealBackend {
    /// The recorded network mode for a create request; checks the names it refers to.
    /// Returns the mode and the namespace handle to join (host and `container:` modes).
    pub(super) fn net_mode(
        &self,
        body: &ContainerCreateBody,
    ) -> BackendResult<(String, Option<PathBuf>)> {
        let mode = Mode::parse(&body.host_config.network_mode);
        match mode {
            Mode::None => Ok(("none".to_owned(), None)),
            Mode::Host => {
                let ns = self
                    .inner
                    .paths
                    .proc_root
                    .join(format!("{}/ns/net", std::process::id()));
                Ok(("host".to_owned(), Some(ns)))
            }
            Mode::Container(target) => {
                let id = self.resolve(&target).map_err(|_| {
                    BackendError::not_found(format!(
                        "No such container: {target} (named by network mode container:{target})"
                    ))
                })?;
                let handle = self.inner.paths.container(&id).join("netns");
                Ok((format!("container:{id}"), Some(handle)))
            }
            Mode::Network(name) => {
                self.net()?;
                Ok((name, None))
            }
        }
    }

    /// Checks that the networks a create request names exist (before anything is built).
    pub(super) async fn net_validate(&self, body: &ContainerCreateBody) -> BackendResult<()> {
        let mode = body.host_config.network_mode.as_str();
        let names = networks_of(mode, body);
        if names.is_empty() {
            return Ok(());
        }
        let net = self.net()?;
        let mut ipv6_only = Vec::new();
        for name in names {
            let info = net.manager.network(&name).await.map_err(|_| {
                BackendError::not_found(format!(
                    "network {name} not found (create it with: berth network create {name})"
                ))
            })?;
            if info.subnet.is_none() {
                ipv6_only.push(name);
            }
        }
        for (name, ep) in &body.networking_config.endpoints_config {
            let ip = ep
                .ipam_config
                .as_ref()
                .map(|c| c.ipv4_address.as_str())
                .unwrap_or("");
            if !ip.is_empty() && ip.parse::<Ipv4Addr>().is_err() {
                return Err(BackendError::invalid(format!(
                    "invalid IPv4 address {ip:?} in the endpoint settings"
                )));
            }
            if !ip.is_empty() && ipv6_only.contains(name) {
                return Err(BackendError::invalid(format!(
                    "network {name} is IPv6-only: no IPv4 address {ip} (give an IPv6 address \
                     with --ip6, or use a network with IPv4)"
                )));
            }
        }
        Ok(())
    }

    /// Creates the container's `hosts` and `resolv.conf` and returns their bind mounts.
    pub(super) fn net_binds(&self, dir: &Path) -> BackendResult<Vec<BindMount>> {
        let mut binds = Vec::new();
        for (file, target) in [("hosts", "/etc/hosts"), ("resolv.conf", "/etc/resolv.conf")] {
            let path = dir.join(file);
            write_in_place(&path, "").map_err(io_err("cannot create the network files"))?;
            binds.push(BindMount {
                source: path,
                destination: target.to_owned(),
                read_only: false,
            });
        }
        Ok(binds)
    }

    /// DNS names of a container on one network: name, aliases, hostname, service, short id.
    fn dns_names(rec: &Record, network: &str) -> Vec<String> {
        let c = &rec.body.config;
        let mut names = vec![rec.name.clone()];
        if let Some(ep) = rec.body.networking_config.endpoints_config.get(network) {
            names.extend(ep.aliases.iter().cloned());
        }
        if !c.hostname.is_empty() {
            names.push(c.hostname.clone());
        }
        if let Some(service) = c.labels.get(SERVICE_LABEL) {
            names.push(service.clone());
        }
        names.push(rec.id[..12].to_owned());
        let mut seen = std::collections::BTreeSet::new();
        names.retain(|n| !n.is_empty() && seen.insert(n.to_ascii_lowercase()));
        names
    }

    /// Pins the namespace of `pid`, builds the endpoints and writes hosts and resolv.conf.
    /// On failure everything built so far is removed again.
    pub(super) async fn net_attach(&self, id: &str, pid: i64) -> BackendResult<()> {
        let rec = self.record(id)?;
        let dir = self.inner.paths.container(id);
        let mode = Mode::parse(&rec.network_mode);
        if let Mode::Container(target) = &mode {
            let other = self.record(target).map_err(|_| {
                BackendError::conflict(format!("container {target} of network mode is gone"))
            })?;
            if !other.running {
                return Err(BackendError::conflict(format!(
                    "cannot join network of a non running container: {}",
                    other.name
                )));
            }
            let from = self.inner.paths.container(&other.id);
            for file in ["hosts", "resolv.conf"] {
                let text = std::fs::read_to_string(from.join(file)).unwrap_or_default();
                write_in_place(&dir.join(file), &text)
                    .map_err(io_err("cannot write network files"))?;
            }
            return Ok(());
        }
        let handle = dir.join("netns");
        let ns = self.inner.paths.proc_root.join(format!("{pid}/ns/net"));
        if mode != Mode::Host {
            pin_netns(&ns, &handle)?;
        }
        let result = self.net_build(&rec, &handle).await;
        if result.is_err() {
            self.net_detach(id).await;
        }
        result
    }

    async fn net_build(&self, rec: &Record, handle: &Path) -> BackendResult<()> {
        let networks = networks_of(&rec.network_mode, &rec.body);
        let h = &rec.body.host_config;
        let dir = self.inner.paths.container(&rec.id);
        let mut own: Option<(Option<IpAddr>, Option<IpAddr>, Vec<IpAddr>)> = None;
        if !networks.is_empty() {
            let net = self.net()?;
            let exposed: Vec<String> = rec.body.config.exposed_ports.keys().cloned().collect();
            let wanted = net_files::port_requests(h, exposed).map_err(bad_request)?;
            let publisher = publishing_network(&net, &networks).await?;
            for (i, name) in networks.iter().enumerate() {
                let settings = rec.body.networking_config.endpoints_config.get(name);
                let ports = if Some(i) == publisher {
                    self.assign(&net, &wanted).await?
                } else {
                    Vec::new()
                };
                let ep = self
                    .connect_one(&net, rec, name, settings, handle, ports)
                    .await?;
                let info = net.manager.network(name).await.map_err(manager_err)?;
                if own.is_none() {
                    own = Some((ep.address(), info.gateway_ip(), embedded_dns(&info)));
                }
            }
        }
        let names = {
            let mut n = vec![rec.body.config.hostname.clone()];
            if n[0].is_empty() {
                n[0] = rec.id[..12].to_owned();
            }
            n
        };
        let links = self.link_entries(rec);
        let hosts = net_files::render_hosts(
            own.as_ref()
                .and_then(|(ip, ..)| Some(((*ip)?, names.as_slice()))),
            &h.extra_hosts,
            &links,
            own.as_ref().and_then(|(_, gw, ..)| *gw),
        )
        .map_err(bad_request)?;
        let host_resolv = self
            .net()
            .map(|n| n.host_resolv.clone())
            .unwrap_or_default();
        let embedded = own.map(|(.., dns)| dns).unwrap_or_default();
        let resolv = net_files::render_resolv(
            &host_resolv,
            &embedded,
            &h.dns,
            &h.dns_search,
            &h.dns_options,
        );
        write_in_place(&dir.join("hosts"), &hosts).map_err(io_err("cannot write /etc/hosts"))?;
        write_in_place(&dir.join("resolv.conf"), &resolv)
            .map_err(io_err("cannot write /etc/resolv.conf"))
    }

    /// Host ports for `wanted`, random ones picked among free ports.
    async fn assign(
        &self,
        net: &super::networks::Networking,
        wanted: &[PortRequest],
    ) -> BackendResult<Vec<PortSpec>> {
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let mut taken = Vec::new();
        for n in net.manager.networks().await {
            for ep in net.manager.endpoints(&n.id).await.map_err(manager_err)? {
                taken.extend(ep.ports);
            }
        }
        net_files::assign_ports(wanted, &taken, RANDOM_PORTS, can_bind)
            .ok_or_else(|| BackendError::conflict("no free host port left for a published port"))
    }

    async fn connect_one(
        &self,
        net: &super::networks::Networking,
        rec: &Record,
        name: &str,
        settings: Option<&EndpointSettings>,
        handle: &Path,
        ports: Vec<PortSpec>,
    ) -> BackendResult<Endpoint> {
        let ip = settings
            .and_then(|s| s.ipam_config.as_ref())
            .map(|c| c.ipv4_address.as_str())
            .filter(|a| !a.is_empty())
            .map(|a| {
                a.parse::<Ipv4Addr>()
                    .map_err(|_| BackendError::invalid(format!("invalid IPv4 address {a:?}")))
            })
            .transpose()?;
        let ip6 = settings
            .and_then(|s| s.ipam_config.as_ref())
            .map(|c| c.ipv6_address.as_str())
            .filter(|a| !a.is_empty())
            .map(|a| {
                a.parse::<std::net::Ipv6Addr>()
                    .map_err(|_| BackendError::invalid(format!("invalid IPv6 address {a:?}")))
            })
            .transpose()?;
        let mac = settings
            .map(|s| s.mac_address.as_str())
            .filter(|m| !m.is_empty())
            .map(parse_mac)
            .transpose()?;
        let dns_upstreams =
            net_files::dns_servers(&rec.body.host_config.dns).map_err(bad_request)?;
        // A start cut short by an engine crash can leave this container's endpoint recorded
        // (its namespace, and so its veth, died with it): drop it so this start begins clean.
        match net.manager.disconnect(name, &rec.id).await {
            Ok(()) => {
                tracing::info!(container = %rec.id, network = name, "removed a stale endpoint")
            }
            Err(ManagerError::NotFound(_)) => {}
            Err(e) => return Err(manager_err(e)),
        }
        let ep = net
            .manager
            .connect(
                name,
                EndpointSpec {
                    id: rec.id.clone(),
                    netns: handle.to_owned(),
                    ifname: None,
                    ip,
                    ip6,
                    mac,
                    names: Self::dns_names(rec, name),
                    ports,
                    dns_upstreams,
                },
            )
            .await
            .map_err(manager_err)?;
        super::networks::lock(&net.attached)
            .entry(rec.id.clone())
            .or_default()
            .insert(name.to_owned(), ep.clone());
        Ok(ep)
    }

    /// `/etc/hosts` lines for `HostConfig.Links` (`name:alias`) of running containers: the
    /// linked container's address on a network both share, else its first one.
    fn link_entries(&self, rec: &Record) -> Vec<(IpAddr, Vec<String>)> {
        let Ok(net) = self.net() else {
            return Vec::new();
        };
        let attached = super::networks::lock(&net.attached);
        let mine = attached.get(&rec.id);
        rec.body
            .host_config
            .links
            .iter()
            .filter_map(|link| {
                let (target, alias) = link.split_once(':').unwrap_or((link, link));
                let target = target.trim_start_matches('/');
                let alias = alias.rsplit('/').next().unwrap_or(alias);
                let id = self.resolve(target).ok()?;
                let theirs = attached.get(&id)?;
                let shared = theirs
                    .iter()
                    .find(|(network, _)| mine.is_some_and(|m| m.contains_key(*network)));
                let ip = shared.or(theirs.iter().next())?.1.address()?;
                let mut names = vec![alias.to_owned()];
                if alias != target {
                    names.push(target.to_owned());
                }
                Some((ip, names))
            })
            .collect()
    }

    /// Removes every endpoint of the container and its namespace handle (errors are logged:
    /// this runs when the container is already gone).
    pub(super) async fn net_detach(&self, id: &str) {
        if let Ok(net) = self.net() {
            let eps = super::networks::lock(&net.attached).remove(id);
            for (name, _) in eps.unwrap_or_default() {
                if let Err(e) = net.manager.disconnect(&name, id).await {
                    tracing::warn!(error = %e, container = id, network = %name, "disconnect failed");
                }
            }
        }
        unpin_netns(&self.inner.paths.container(id).join("netns"));
    }

    /// `NetworkSettings` of inspect.
    pub(super) fn net_settings(&self, rec: &Record) -> NetworkSettings {
        let exposed: Vec<String> = rec.body.config.exposed_ports.keys().cloned().collect();
        let attached = self
            .net()
            .ok()
            .and_then(|n| super::networks::lock(&n.attached).get(&rec.id).cloned())
            .unwrap_or_default();
        let published: Vec<PortSpec> = attached.values().flat_map(|e| e.ports.clone()).collect();
        let mut settings = NetworkSettings {
            ports: net_files::ports_view(&published, exposed),
            ..NetworkSettings::default()
        };
        if rec.running && !matches!(Mode::parse(&rec.network_mode), Mode::Host) {
            settings.sandbox_key = self
                .inner
                .paths
                .container(&rec.id)
                .join("netns")
                .display()
                .to_string();
        }
        for (i, name) in networks_of(&rec.network_mode, &rec.body).iter().enumerate() {
            let configured = rec.body.networking_config.endpoints_config.get(name);
            let mut es = EndpointSettings {
                aliases: configured.map(|c| c.aliases.clone()).unwrap_or_default(),
                ipam_config: configured.and_then(|c| c.ipam_config.clone()),
                ..EndpointSettings::default()
            };
            if let Some(ep) = attached.get(name) {
                es.network_id = ep.network_id.clone();
                es.endpoint_id = endpoint_id(&ep.network_id, &rec.id);
                es.ip_address = ep.ip.map(|ip| ip.to_string()).unwrap_or_default();
                es.mac_address = mac_text(ep.mac);
                if let Some(info) = self.net_info(name) {
                    es.gateway = info.gateway.map(|g| g.to_string()).unwrap_or_default();
                    es.ip_prefix_len = match (ep.ip, info.subnet) {
                        (Some(_), Some(subnet)) => i64::from(subnet.prefix_len()),
                        _ => 0,
                    };
                    if let (Some(ip6), Some(subnet6)) = (ep.ip6, info.subnet6) {
                        es.global_ipv6_address = ip6.to_string();
                        es.global_ipv6_prefix_len = i64::from(subnet6.prefix_len());
                        es.ipv6_gateway = info.gateway6.map(|g| g.to_string()).unwrap_or_default();
                    }
                }
                if i == 0 {
                    settings.ip_address = es.ip_address.clone();
                    settings.gateway = es.gateway.clone();
                    settings.mac_address = es.mac_address.clone();
                }
            }
            settings.networks.insert(name.clone(), es);
        }
        if let Mode::None | Mode::Host = Mode::parse(&rec.network_mode) {
            settings
                .networks
                .insert(rec.network_mode.clone(), EndpointSettings::default());
        }
        settings
    }

    /// A network as last seen (gateways, subnets), from the endpoint mirror's view.
    fn net_info(&self, name: &str) -> Option<berth_network::manager::Network> {
        let net = self.net().ok()?;
        let cache = super::networks::lock(&net.views);
        cache.get(name).cloned()
    }

    /// Published ports of a list entry.
    pub(super) fn net_summary_ports(&self, rec: &Record) -> Vec<Port> {
        let Ok(net) = self.net() else {
            return Vec::new();
        };
        let attached = super::networks::lock(&net.attached);
        attached
            .get(&rec.id)
            .into_iter()
            .flat_map(|eps| eps.values())
            .flat_map(|ep| ep.ports.iter())
            .map(|p| Port {
                ip: Some(
                    p.host_ip
                        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
                        .to_string(),
                ),
                private_port: p.container_port,
                public_port: Some(p.host_port),
                typ: p.proto.as_str().to_owned(),
            })
            .collect()
    }

    /// `POST /networks/{id}/connect`: joins now when running, always recorded for next starts.
    pub(super) async fn network_connect(
        &self,
        network: &str,
        req: NetworkConnectRequest,
    ) -> BackendResult<()> {
        let net = self.net()?;
        let info = net.find(network).await?;
        let rec = self.record(&req.container)?;
        if !matches!(Mode::parse(&rec.network_mode), Mode::Network(_)) {
            return Err(BackendError::invalid(format!(
                "container {} uses network mode {}: it cannot be connected to a network",
                rec.name, rec.network_mode
            )));
        }
        if networks_of(&rec.network_mode, &rec.body).contains(&info.name) {
            return Err(BackendError::new(
                ErrorKind::Forbidden,
                format!(
                    "endpoint with name {} already exists in network {}",
                    rec.name, info.name
                ),
            ));
        }
        let settings = req.endpoint_config.unwrap_or_default();
        let mut updated = rec.clone();
        updated
            .body
            .networking_config
            .endpoints_config
            .insert(info.name.clone(), settings.clone());
        if rec.running {
            let handle = self.inner.paths.container(&rec.id).join("netns");
            self.connect_one(
                &net,
                &updated,
                &info.name,
                Some(&settings),
                &handle,
                Vec::new(),
            )
            .await?;
        }
        self.update(&rec.id, |r| r.body = updated.body).map(|_| ())
    }

    /// `POST /networks/{id}/disconnect`.
    pub(super) async fn network_disconnect(
        &self,
        network: &str,
        req: NetworkDisconnectRequest,
    ) -> BackendResult<()> {
        let net = self.net()?;
        let info = net.find(network).await?;
        let rec = self.record(&req.container)?;
        let networks = networks_of(&rec.network_mode, &rec.body);
        if !networks.contains(&info.name) {
            return Err(BackendError::new(
                ErrorKind::Forbidden,
                format!(
                    "container {} is not connected to network {}",
                    rec.name, info.name
                ),
            ));
        }
        let was = super::networks::lock(&net.attached)
            .get_mut(&rec.id)
            .and_then(|eps| eps.remove(&info.name));
        if was.is_some() {
            net.manager
                .disconnect(&info.name, &rec.id)
                .await
                .map_err(manager_err)?;
        }
        let next_primary = networks
            .iter()
            .find(|n| **n != info.name)
            .cloned()
            .unwrap_or_else(|| "none".to_owned());
        self.update(&rec.id, |r| {
            r.body.networking_config.endpoints_config.remove(&info.name);
            if r.network_mode == info.name
                || (info.name == DEFAULT_NETWORK && r.network_mode == "default")
            {
                r.network_mode = next_primary;
            }
        })
        .map(|_| ())
    }
}

/// Index of the network that publishes the container's ports: the first one that is not
/// internal, the one carrying the default route (Docker's gateway endpoint). Internal networks
/// never publish; with only internal networks nothing is published.
async fn publishing_network(
    net: &super::networks::Networking,
    networks: &[String],
) -> BackendResult<Option<usize>> {
    for (i, name) in networks.iter().enumerate() {
        let info = net.manager.network(name).await.map_err(manager_err)?;
        if !info.internal {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

fn parse_mac(text: &str) -> BackendResult<[u8; 6]> {
    let parts: Vec<u8> = text
        .split(':')
        .map(|p| u8::from_str_radix(p, 16))
        .collect::<Result<_, _>>()
        .map_err(|_| BackendError::invalid(format!("invalid MAC address {text:?}")))?;
    parts
        .try_into()
        .map_err(|_| BackendError::invalid(format!("invalid MAC address {text:?}")))
}

/// Keeps the namespace `ns` alive at `handle` with a bind mount.
fn pin_netns(ns: &Path, handle: &Path) -> BackendResult<()> {
    std::fs::File::create(handle).map_err(io_err("cannot create the netns handle"))?;
    nix::mount::mount(
        Some(ns),
        handle,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| {
        BackendError::new(
            ErrorKind::Internal,
            format!("cannot pin network namespace {}: {e}", ns.display()),
        )
    })
}

/// Unmounts and removes a namespace handle; nothing to do when there is none.
fn unpin_netns(handle: &Path) {
    if handle.exists() {
        let _ = nix::mount::umount2(handle, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_file(handle);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_like_docker() {
        assert_eq!(Mode::parse(""), Mode::Network("bridge".into()));
        assert_eq!(Mode::parse("default"), Mode::Network("bridge".into()));
        assert_eq!(Mode::parse("front"), Mode::Network("front".into()));
        assert_eq!(Mode::parse("host"), Mode::Host);
        assert_eq!(Mode::parse("none"), Mode::None);
        assert_eq!(Mode::parse("container:abc"), Mode::Container("abc".into()));
    }

    #[test]
    fn default_becomes_bridge() {
        let body: ContainerCreateBody = serde_json::from_str(
            r#"{"HostConfig":{"NetworkMode":"default"},
                "NetworkingConfig":{"EndpointsConfig":{"default":{"Aliases":["a"]}}}}"#,
        )
        .unwrap();
        let body = normalize(body);
        assert_eq!(body.host_config.network_mode, "bridge");
        assert_eq!(networks_of("bridge", &body), ["bridge"]);
        assert_eq!(
            body.networking_config.endpoints_config["bridge"].aliases,
            ["a"]
        );
    }

    #[test]
    fn primary_network_comes_first() {
        let body: ContainerCreateBody = serde_json::from_str(
            r#"{"NetworkingConfig":{"EndpointsConfig":{"back":{},"front":{},"zz":{}}}}"#,
        )
        .unwrap();
        assert_eq!(networks_of("front", &body), ["front", "back", "zz"]);
        assert!(networks_of("host", &body).is_empty());
    }

    #[test]
    fn macs_parse_and_refuse_garbage() {
        assert_eq!(
            parse_mac("02:42:0a:00:00:01").unwrap(),
            [2, 0x42, 10, 0, 0, 1]
        );
        assert!(parse_mac("02:42").is_err());
        assert!(parse_mac("zz:42:0a:00:00:01").is_err());
    }

    #[test]
    fn dns_names_hold_name_aliases_hostname_service_and_short_id() {
        let body: ContainerCreateBody = serde_json::from_str(
            r#"{"Hostname":"h1","Labels":{"com.docker.compose.service":"web"},
                "NetworkingConfig":{"EndpointsConfig":{"front":{"Aliases":["www","web"]}}}}"#,
        )
        .unwrap();
        let rec = Record {
            id: "0123456789abcdef".repeat(4),
            name: "proj-web-1".into(),
            body,
            ..Record::default()
        };
        assert_eq!(
            RealBackend::dns_names(&rec, "front"),
            ["proj-web-1", "www", "web", "h1", "0123456789ab"]
        );
    }
}
