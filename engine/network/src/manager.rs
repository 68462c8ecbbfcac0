//! `NetworkManager`: the engine-facing API tying IPAM, the link planner and applier, the firewall
//! and the DNS servers together, with the state of networks and endpoints persisted under a root
//! directory so a restarted daemon knows what it built.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use crate::bridge::{self, BridgePlan, EndpointPlan, Step};
use crate::dns::{DnsConfig, DnsError, DnsServer, SharedRecords};
use crate::firewall::{self, Firewall, FirewallError, NetworkRules, PortForward, Proto};
use crate::ipam::{Ipam, IpamError, Pool, SubnetRequest};
use crate::ipam6::{Ipam6, Pool6, SubnetRequest6};
use crate::netlink::{Netlink, NetlinkError};
use crate::persist::{self, PersistError};
use crate::proxy::{LoopbackProxy, ProxyError};

/// Errors of the network manager.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    /// No such network or endpoint.
    #[error("{0} not found")]
    NotFound(String),
    /// A network of that name exists, or the endpoint is already connected.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// A published host port is taken by another endpoint.
    #[error("Bind for {host_ip}:{port} failed: port is already allocated")]
    PortAllocated {
        /// Host address (`0.0.0.0` for all).
        host_ip: IpAddr,
        /// Host port.
        port: u16,
    },
    /// The network still has endpoints.
    #[error("network {0} has active endpoints")]
    ActiveEndpoints(String),
    /// Address management failed.
    #[error(transparent)]
    Ipam(#[from] IpamError),
    /// A link operation failed.
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    /// A firewall operation failed.
    #[error(transparent)]
    Firewall(#[from] FirewallError),
    /// The DNS server failed.
    #[error(transparent)]
    Dns(#[from] DnsError),
    /// The `::1` forwarder of a published port could not listen.
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    /// The state file failed.
    #[error(transparent)]
    Persist(#[from] PersistError),
    /// Several teardown steps failed.
    #[error("teardown failed: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Teardown(Vec<ManagerError>),
}

/// How the manager is wired (built by the daemon from its config and probed features).
#[derive(Debug)]
pub struct ManagerConfig {
    /// State directory (e.g. `<data-root>/networks`).
    pub root: PathBuf,
    /// Where sysctls live (`/proc/sys`).
    pub proc_sys: PathBuf,
    /// Destinations of the host's routes; default subnets overlapping them are skipped.
    pub host_routes: Vec<Ipv4Net>,
    /// Destinations of the host's IPv6 routes; default IPv6 subnets overlapping them are skipped.
    pub host_routes6: Vec<Ipv6Net>,
    /// Default address pools ([`crate::ipam::default_pools`]).
    pub pools: Vec<Pool>,
    /// Default IPv6 pools ([`crate::ipam6::default_pools6`]).
    pub pools6: Vec<Pool6>,
    /// Firewall backend.
    pub firewall: Firewall,
    /// Link applier ([`crate::netlink::RtNetlink`]).
    pub netlink: Arc<dyn Netlink>,
    /// Upstream resolvers for non-internal networks (see [`crate::dns::read_resolv_conf`]).
    pub upstreams: Vec<SocketAddr>,
}

/// A network to create.
#[derive(Debug, Clone, Default)]
pub struct NetworkSpec {
    /// Unique name.
    pub name: String,
    /// No outside access, no published ports, no upstream DNS.
    pub internal: bool,
    /// Subnet, gateway, ip_range wishes.
    pub ipam: SubnetRequest,
    /// IPv6 (`enable_ipv6`) with its subnet and gateway wishes; `None` is IPv4 only.
    pub ipv6: Option<SubnetRequest6>,
    /// No IPv4 (`EnableIPv4: false`): needs `ipv6`, and `ipam` must ask for nothing.
    pub ipv6_only: bool,
    /// Driver options (`com.docker.network.bridge.name`, `com.docker.network.driver.mtu`).
    pub driver_opts: BTreeMap<String, String>,
    /// DNS listen address; default `<gateway>:53`.
    pub dns_listen: Option<SocketAddr>,
}

/// A created network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// 64-hex id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Bridge interface.
    pub bridge: String,
    /// Subnet; `None` on an IPv6-only network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<Ipv4Net>,
    /// Gateway address (on the bridge); `None` on an IPv6-only network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Ipv4Addr>,
    /// IPv6 subnet (IPv6 networks).
    #[serde(default)]
    pub subnet6: Option<Ipv6Net>,
    /// IPv6 gateway on the bridge (IPv6 networks).
    #[serde(default)]
    pub gateway6: Option<Ipv6Addr>,
    /// Internal network.
    pub internal: bool,
    /// MTU.
    pub mtu: u32,
    /// Where its DNS server listens.
    pub dns_listen: SocketAddr,
}

impl Network {
    /// Where its DNS server listens on IPv6: the IPv6 gateway, same port, when the network has
    /// both families and its server is on the IPv4 gateway (on an IPv6-only network
    /// `dns_listen` is already the IPv6 gateway).
    pub fn dns_listen6(&self) -> Option<SocketAddr> {
        let gateway6 = self.gateway6?;
        (self.dns_listen.ip() == IpAddr::V4(self.gateway?))
            .then(|| SocketAddr::new(gateway6.into(), self.dns_listen.port()))
    }

    /// The gateway containers route to: the IPv4 one, else (IPv6-only) the IPv6 one.
    pub fn gateway_ip(&self) -> Option<IpAddr> {
        self.gateway
            .map(IpAddr::V4)
            .or(self.gateway6.map(IpAddr::V6))
    }

    /// The nameservers a container of this network uses: the server's IPv4 address, then
    /// its IPv6 one.
    pub fn dns_servers(&self) -> Vec<IpAddr> {
        std::iter::once(self.dns_listen.ip())
            .chain(self.dns_listen6().map(|a| a.ip()))
            .collect()
    }
}

impl Endpoint {
    /// The address a container is known by on this network: its IPv4 one, else (IPv6-only
    /// network) its IPv6 one.
    pub fn address(&self) -> Option<IpAddr> {
        crate::dns::client_key((self.ip, self.ip6))
    }
}

/// A port to publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSpec {
    /// Protocol.
    pub proto: Proto,
    /// Host address (IPv4 or IPv6); `None` for all addresses of both families.
    pub host_ip: Option<IpAddr>,
    /// Host port.
    pub host_port: u16,
    /// Container port.
    pub container_port: u16,
}

/// An endpoint to connect.
#[derive(Debug, Clone, Default)]
pub struct EndpointSpec {
    /// Endpoint id (normally the container id).
    pub id: String,
    /// Network namespace file of the container (`/proc/<pid>/ns/net`, `/run/netns/X`).
    pub netns: PathBuf,
    /// Interface name inside (default: the first free `ethN` of that namespace).
    pub ifname: Option<String>,
    /// Static address.
    pub ip: Option<Ipv4Addr>,
    /// Static IPv6 address (IPv6 networks only).
    pub ip6: Option<Ipv6Addr>,
    /// Static MAC address (compose `mac_address`); default derived from the address.
    pub mac: Option<[u8; 6]>,
    /// DNS names: service name, container name, aliases.
    pub names: Vec<String>,
    /// Published ports.
    pub ports: Vec<PortSpec>,
    /// The container's own DNS servers (`--dns`, compose `dns`): the network's DNS server
    /// forwards this endpoint's queries for names it does not know to them instead of the
    /// host's resolvers (never on an internal network).
    pub dns_upstreams: Vec<SocketAddr>,
}

/// A connected endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Endpoint id.
    pub id: String,
    /// Network id.
    pub network_id: String,
    /// Address; `None` on an IPv6-only network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<Ipv4Addr>,
    /// IPv6 address (IPv6 networks).
    #[serde(default)]
    pub ip6: Option<Ipv6Addr>,
    /// MAC address.
    pub mac: [u8; 6],
    /// Host-side veth.
    pub host_if: String,
    /// Interface name inside the container.
    pub ifname: String,
    /// Namespace file the endpoint lives in.
    pub netns: PathBuf,
    /// Whether this endpoint carries the container's default route.
    pub default_route: bool,
    /// DNS names.
    pub names: Vec<String>,
    /// Published ports.
    pub ports: Vec<PortSpec>,
    /// The container's own DNS servers (see [`EndpointSpec::dns_upstreams`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_upstreams: Vec<SocketAddr>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct NetworkState {
    network: Network,
    endpoints: BTreeMap<String, Endpoint>,
}

#[derive(Debug)]
struct Inner {
    ipam: Ipam,
    ipam6: Ipam6,
    networks: BTreeMap<String, NetworkState>,
    dns: HashMap<String, (DnsServer, SharedRecords)>,
    /// `::1` forwarders by (network id, endpoint id); dropping one stops it.
    proxies: HashMap<(String, String), Vec<LoopbackProxy>>,
}

/// Creates and removes bridge networks and endpoints.
#[derive(Debug)]
pub struct NetworkManager {
    config: ManagerConfig,
    state_path: PathBuf,
    inner: Mutex<Inner>,
}

fn new_id(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    hex::encode(Sha256::digest(
        format!("{name}/{nanos}/{}", std::process::id()).as_bytes(),
    ))
}

async fn apply_links(netlink: &Arc<dyn Netlink>, steps: Vec<Step>) -> Result<(), NetlinkError> {
    let netlink = netlink.clone();
    tokio::task::spawn_blocking(move || netlink.apply(&steps))
        .await
        .unwrap_or_else(|e| {
            Err(NetlinkError::Io {
                what: "netlink task".into(),
                source: std::io::Error::other(e.to_string()),
            })
        })
}

fn firewall_rules(state: &NetworkState) -> NetworkRules {
    let net = &state.network;
    let ports = state
        .endpoints
        .values()
        .flat_map(|ep| {
            ep.ports.iter().map(|p| PortForward {
                proto: p.proto,
                host_ip: p.host_ip,
                host_port: p.host_port,
                container_ip: ep.ip,
                container_ip6: ep.ip6,
                container_port: p.container_port,
            })
        })
        .collect();
    NetworkRules {
        id: net.id[..12].to_string(),
        bridge: net.bridge.clone(),
        subnet: net.subnet,
        subnet6: net.subnet6,
        internal: net.internal,
        ports,
    }
}

/// Finds the first port of `wanted` already published by an endpoint of `networks`.
pub fn port_conflict<'a>(
    existing: impl IntoIterator<Item = &'a PortSpec>,
    wanted: &[PortSpec],
) -> Option<PortSpec> {
    let existing: Vec<&PortSpec> = existing.into_iter().collect();
    wanted.iter().enumerate().find_map(|(i, w)| {
        // Addresses clash when equal, when either is "all" (`None`), or when one is the
        // unspecified address (`0.0.0.0`, `::`) of the other's family.
        let wide = |a: Option<IpAddr>, b: Option<IpAddr>| match (a, b) {
            (None, _) | (_, None) => true,
            (Some(a), Some(b)) => {
                a == b || (a.is_ipv4() == b.is_ipv4() && (a.is_unspecified() || b.is_unspecified()))
            }
        };
        let clash = |p: &PortSpec| {
            p.proto == w.proto && p.host_port == w.host_port && wide(p.host_ip, w.host_ip)
        };
        (existing.iter().any(|p| clash(p)) || wanted[..i].iter().any(clash)).then_some(*w)
    })
}

impl NetworkManager {
    /// Opens the manager: loads IPAM and network state from `config.root`.
    /// DNS servers of persisted networks are started again by [`NetworkManager::restore_dns`].
    pub fn open(config: ManagerConfig) -> Result<Self, ManagerError> {
        let ipam = Ipam::open(
            &config.root,
            config.pools.clone(),
            config.host_routes.clone(),
        )?;
        let ipam6 = Ipam6::open(
            &config.root,
            config.pools6.clone(),
            config.host_routes6.clone(),
        )?;
        let state_path = config.root.join("networks.json");
        let networks = persist::read_json(&state_path)?.unwrap_or_default();
        let inner = Mutex::new(Inner {
            ipam,
            ipam6,
            networks,
            dns: HashMap::new(),
            proxies: HashMap::new(),
        });
        Ok(Self {
            config,
            state_path,
            inner,
        })
    }

    /// Restarts the DNS servers of every persisted network (after a daemon restart).
    pub async fn restore_dns(&self) -> Result<(), ManagerError> {
        let mut inner = self.inner.lock().await;
        let states: Vec<NetworkState> = inner.networks.values().cloned().collect();
        for state in states {
            if !inner.dns.contains_key(&state.network.id) {
                let entry = self.start_dns(&state).await?;
                inner.dns.insert(state.network.id.clone(), entry);
            }
        }
        let namespaces: std::collections::BTreeSet<PathBuf> = inner
            .networks
            .values()
            .flat_map(|s| s.endpoints.values().map(|e| e.netns.clone()))
            .collect();
        for netns in namespaces {
            refresh_peers(&inner, &netns);
        }
        let endpoints: Vec<(bool, Endpoint)> = inner
            .networks
            .values()
            .flat_map(|s| {
                s.endpoints
                    .values()
                    .map(|e| (s.network.internal, e.clone()))
            })
            .collect();
        for (internal, ep) in endpoints {
            let key = (ep.network_id.clone(), ep.id.clone());
            if internal || inner.proxies.contains_key(&key) {
                continue;
            }
            match start_proxies(&ep).await {
                Ok(proxies) => {
                    inner.proxies.insert(key, proxies);
                }
                Err(e) => tracing::warn!(error = %e, endpoint = %ep.id, "loopback forwarder"),
            }
        }
        Ok(())
    }

    /// Every network.
    pub async fn networks(&self) -> Vec<Network> {
        self.inner
            .lock()
            .await
            .networks
            .values()
            .map(|s| s.network.clone())
            .collect()
    }

    /// A network by name, full id or id prefix.
    pub async fn network(&self, name_or_id: &str) -> Result<Network, ManagerError> {
        let inner = self.inner.lock().await;
        find(&inner.networks, name_or_id).map(|s| s.network.clone())
    }

    /// Endpoints of a network.
    pub async fn endpoints(&self, network: &str) -> Result<Vec<Endpoint>, ManagerError> {
        let inner = self.inner.lock().await;
        Ok(find(&inner.networks, network)?
            .endpoints
            .values()
            .cloned()
            .collect())
    }

    fn save(&self, inner: &Inner) -> Result<(), ManagerError> {
        persist::write_json(&self.state_path, &inner.networks)?;
        Ok(())
    }

    async fn start_dns(
        &self,
        state: &NetworkState,
    ) -> Result<(DnsServer, SharedRecords), ManagerError> {
        let records = SharedRecords::default();
        if let Ok(mut r) = records.write() {
            for ep in state.endpoints.values() {
                publish_records(&mut r, ep, state.network.internal);
            }
        }
        let net = &state.network;
        let config = DnsConfig {
            listen: net.dns_listen,
            listen6: net.dns_listen6(),
            subnet: net.subnet,
            subnet6: net.subnet6,
            network: net.name.clone(),
            upstreams: if net.internal {
                vec![]
            } else {
                self.config.upstreams.clone()
            },
        };
        Ok((DnsServer::start(config, records.clone()).await?, records))
    }

    /// Creates a bridge network: subnet, bridge with gateway, firewall table, DNS server.
    /// A failure leaves nothing behind.
    pub async fn create_network(&self, spec: NetworkSpec) -> Result<Network, ManagerError> {
        let mut inner = self.inner.lock().await;
        if inner.networks.values().any(|s| s.network.name == spec.name) {
            return Err(ManagerError::AlreadyExists(format!(
                "network with name {}",
                spec.name
            )));
        }
        check_families(&spec)?;
        let id = new_id(&spec.name);
        let pool = match spec.ipv6_only {
            true => None,
            false => Some(inner.ipam.create_pool(&id, &spec.ipam)?),
        };
        let pool6 = match &spec.ipv6 {
            Some(request) => match inner.ipam6.create_pool(&id, request) {
                Ok(pool6) => Some(pool6),
                Err(e) => {
                    if let Err(undo) = inner.ipam.release_pool(&id) {
                        tracing::warn!(error = %undo, network = %spec.name, "rollback after failed create");
                    }
                    return Err(e.into());
                }
            },
            None => None,
        };
        let mtu = spec
            .driver_opts
            .get(bridge::MTU_OPT)
            .and_then(|m| m.parse().ok())
            .unwrap_or(bridge::DEFAULT_MTU);
        let network = Network {
            bridge: bridge::bridge_name(&id, &spec.driver_opts),
            name: spec.name.clone(),
            subnet: pool.as_ref().map(|p| p.subnet),
            gateway: pool.as_ref().map(|p| p.gateway),
            subnet6: pool6.as_ref().map(|p| p.subnet),
            gateway6: pool6.as_ref().map(|p| p.gateway),
            internal: spec.internal,
            mtu,
            dns_listen: spec.dns_listen.unwrap_or_else(|| {
                default_dns_listen(
                    pool.as_ref().map(|p| p.gateway),
                    pool6.as_ref().map(|p| p.gateway),
                )
            }),
            id,
        };
        let state = NetworkState {
            network: network.clone(),
            endpoints: BTreeMap::new(),
        };
        match self.build_network(&state).await {
            Ok(dns) => {
                inner.dns.insert(network.id.clone(), dns);
                inner.networks.insert(network.id.clone(), state);
                self.save(&inner)?;
                Ok(network)
            }
            Err(e) => {
                if let Err(cleanup) = self.teardown_network(&mut inner, &network).await {
                    tracing::warn!(error = %cleanup, network = %network.name, "rollback after failed create");
                }
                Err(e)
            }
        }
    }

    async fn build_network(
        &self,
        state: &NetworkState,
    ) -> Result<(DnsServer, SharedRecords), ManagerError> {
        self.build_links_and_rules(state).await?;
        self.start_dns(state).await
    }

    /// The bridge with its gateway address(es), forwarding sysctls and the firewall rules.
    async fn build_links_and_rules(&self, state: &NetworkState) -> Result<(), ManagerError> {
        let net = &state.network;
        let invalid =
            |e: ipnet::PrefixLenError| ManagerError::Ipam(IpamError::Invalid(e.to_string()));
        let gateway = match (net.gateway, net.subnet) {
            (Some(gw), Some(subnet)) => {
                Some(Ipv4Net::new(gw, subnet.prefix_len()).map_err(invalid)?)
            }
            _ => None,
        };
        let gateway6 = match (net.gateway6, net.subnet6) {
            (Some(gw), Some(subnet)) => {
                Some(Ipv6Net::new(gw, subnet.prefix_len()).map_err(invalid)?)
            }
            _ => None,
        };
        let plan = bridge::plan_bridge(&BridgePlan {
            name: net.bridge.clone(),
            gateway,
            gateway6,
            mtu: net.mtu,
        });
        apply_links(&self.config.netlink, plan).await?;
        firewall::enable_forwarding(&self.config.proc_sys, &net.bridge)?;
        if gateway6.is_some() {
            firewall::enable_forwarding6(&self.config.proc_sys)?;
        }
        self.config.firewall.apply(&firewall_rules(state))?;
        Ok(())
    }

    async fn teardown_network(&self, inner: &mut Inner, net: &Network) -> Result<(), ManagerError> {
        let mut errors = Vec::new();
        if let Some((server, _)) = inner.dns.remove(&net.id) {
            server.stop().await;
        }
        if let Err(e) = self.config.firewall.remove(&net.id[..12]) {
            errors.push(e.into());
        }
        if let Err(e) = apply_links(
            &self.config.netlink,
            bridge::plan_remove_bridge(&net.bridge),
        )
        .await
        {
            errors.push(e.into());
        }
        if let Err(e) = inner.ipam.release_pool(&net.id) {
            errors.push(e.into());
        }
        if let Err(e) = inner.ipam6.release_pool(&net.id) {
            errors.push(e.into());
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ManagerError::Teardown(errors))
        }
    }

    /// Removes a network without endpoints: DNS server, firewall table, bridge, subnet.
    pub async fn remove_network(&self, name_or_id: &str) -> Result<(), ManagerError> {
        let mut inner = self.inner.lock().await;
        let state = find(&inner.networks, name_or_id)?.clone();
        if !state.endpoints.is_empty() {
            return Err(ManagerError::ActiveEndpoints(state.network.name));
        }
        let result = self.teardown_network(&mut inner, &state.network).await;
        inner.networks.remove(&state.network.id);
        self.save(&inner)?;
        result
    }

    /// Replaces the DNS names of an endpoint (aliases changed, service renamed…).
    pub async fn set_dns_names(
        &self,
        network: &str,
        endpoint: &str,
        names: Vec<String>,
    ) -> Result<(), ManagerError> {
        let mut inner = self.inner.lock().await;
        let mut state = find(&inner.networks, network)?.clone();
        let ep = state
            .endpoints
            .get_mut(endpoint)
            .ok_or_else(|| ManagerError::NotFound(format!("endpoint {endpoint}")))?;
        ep.names = names.clone();
        let addrs = (ep.ip, ep.ip6);
        if let Some((_, records)) = inner.dns.get(&state.network.id) {
            if let Ok(mut r) = records.write() {
                r.upsert_dual(endpoint, addrs, names);
            }
        }
        inner.networks.insert(state.network.id.clone(), state);
        self.save(&inner)
    }

    /// The state directory.
    pub fn root(&self) -> &Path {
        &self.config.root
    }
}

/// Where a network's DNS server listens by default: port 53 of its IPv4 gateway, else (an
/// IPv6-only network) of its IPv6 gateway.
fn default_dns_listen(gateway: Option<Ipv4Addr>, gateway6: Option<Ipv6Addr>) -> SocketAddr {
    let ip: IpAddr = match (gateway, gateway6) {
        (Some(gw), _) => gw.into(),
        (None, Some(gw6)) => gw6.into(),
        (None, None) => Ipv4Addr::UNSPECIFIED.into(),
    };
    SocketAddr::new(ip, 53)
}

/// Checks the address families of a network to create: at least one, and no IPv4 wish on an
/// IPv6-only network.
fn check_families(spec: &NetworkSpec) -> Result<(), ManagerError> {
    if !spec.ipv6_only {
        return Ok(());
    }
    let invalid = |m: String| Err(ManagerError::Ipam(IpamError::Invalid(m)));
    if spec.ipv6.is_none() {
        return invalid(format!(
            "network {}: IPv4 or IPv6 must be enabled (add --ipv6, compose enable_ipv6: true)",
            spec.name
        ));
    }
    let wish = [
        spec.ipam.subnet.map(|s| format!("subnet {s}")),
        spec.ipam.gateway.map(|g| format!("gateway {g}")),
        spec.ipam.ip_range.map(|r| format!("ip_range {r}")),
    ];
    match wish.into_iter().flatten().next() {
        Some(what) => invalid(format!(
            "network {} is IPv6-only but has an IPv4 {what}: give an IPv6 subnet, or enable IPv4",
            spec.name
        )),
        None => Ok(()),
    }
}

/// Starts the userland forwarders of an endpoint's published ports: on `::1` for ports
/// published on `::1` (their absence is an error) and on every address (best effort, as
/// dockerd's proxy: a program already on `[::1]:<port>` keeps it); and, for an endpoint
/// without IPv4 (IPv6-only network), on the IPv4 host addresses (`0.0.0.0` for every address),
/// which no DNAT rule can send to an IPv6 container.
async fn start_proxies(ep: &Endpoint) -> Result<Vec<LoopbackProxy>, ManagerError> {
    let mut proxies = Vec::new();
    if let (None, Some(ip6)) = (ep.ip, ep.ip6) {
        for p in &ep.ports {
            let listen = match p.host_ip {
                None => Ipv4Addr::UNSPECIFIED,
                Some(IpAddr::V4(ip)) => ip,
                Some(IpAddr::V6(_)) => continue,
            };
            let listen = SocketAddr::new(listen.into(), p.host_port);
            let target = SocketAddr::new(ip6.into(), p.container_port);
            proxies.push(LoopbackProxy::start(p.proto, listen, target).await?);
        }
    }
    for p in &ep.ports {
        let explicit = match p.host_ip {
            None => false,
            Some(IpAddr::V6(ip)) if ip == Ipv6Addr::LOCALHOST || ip.is_unspecified() => true,
            Some(_) => continue,
        };
        let listen = SocketAddr::new(Ipv6Addr::LOCALHOST.into(), p.host_port);
        let target = match (ep.ip6, ep.ip) {
            (Some(ip6), _) => SocketAddr::new(ip6.into(), p.container_port),
            (None, Some(ip)) => SocketAddr::new(ip.into(), p.container_port),
            (None, None) => continue,
        };
        match LoopbackProxy::start(p.proto, listen, target).await {
            Ok(proxy) => proxies.push(proxy),
            Err(e) if explicit => return Err(e.into()),
            Err(e) => tracing::debug!(error = %e, endpoint = %ep.id, "no ::1 forwarder"),
        }
    }
    Ok(proxies)
}

/// Puts an endpoint's names and, on a network that forwards, its own DNS servers into the
/// records its network's DNS server answers from.
fn publish_records(records: &mut crate::dns::Records, ep: &Endpoint, internal: bool) {
    records.upsert_dual(&ep.id, (ep.ip, ep.ip6), ep.names.clone());
    if let Some(client) = crate::dns::client_key((ep.ip, ep.ip6)) {
        let upstreams = if internal {
            Vec::new()
        } else {
            ep.dns_upstreams.clone()
        };
        records.set_upstreams(client, upstreams);
    }
}

/// Lets every endpoint of the namespace `netns` resolve the names of all networks it is on.
fn refresh_peers(inner: &Inner, netns: &Path) {
    let attached: Vec<(&Network, &Endpoint)> = inner
        .networks
        .values()
        .flat_map(|s| {
            s.endpoints
                .values()
                .filter(|e| e.netns == netns)
                .map(move |e| (&s.network, e))
        })
        .collect();
    for (net, ep) in &attached {
        let peers = attached
            .iter()
            .filter(|(other, _)| other.id != net.id)
            .filter_map(|(other, _)| {
                let (_, records) = inner.dns.get(&other.id)?;
                Some((other.name.clone(), records.clone()))
            })
            .collect();
        let Some(client) = crate::dns::client_key((ep.ip, ep.ip6)) else {
            continue;
        };
        if let Some((_, records)) = inner.dns.get(&net.id) {
            if let Ok(mut r) = records.write() {
                r.set_peers(client, peers);
            }
        }
    }
}

fn find<'a>(
    networks: &'a BTreeMap<String, NetworkState>,
    key: &str,
) -> Result<&'a NetworkState, ManagerError> {
    networks
        .values()
        .find(|s| s.network.name == key || s.network.id == key)
        .or_else(|| {
            let mut matches = networks
                .values()
                .filter(|s| !key.is_empty() && s.network.id.starts_with(key));
            match (matches.next(), matches.next()) {
                (Some(one), None) => Some(one),
                _ => None,
            }
        })
        .ok_or_else(|| ManagerError::NotFound(format!("network {key}")))
}

mod endpoints;
mod recovery;
pub use recovery::Reconciled;

#[cfg(test)]
mod tests;
