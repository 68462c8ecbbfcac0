//! Networks of the real backend: wires one [`NetworkManager`] under the data root, keeps the
//! Docker-only metadata of each network (labels, options, creation time) next to it, creates the
//! default `bridge` network, and answers the `/networks` API with Docker's JSON shapes.
//!
//! The manager owns the kernel state (bridges, veths, firewall tables, DNS servers); this file
//! only translates between Docker's requests and the manager's specs.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use berth_network::firewall::Firewall;
use berth_network::ipam::{self, Pool, SubnetRequest};
use berth_network::ipam6::SubnetRequest6;
use berth_network::manager::{
    Endpoint, ManagerConfig, ManagerError, Network as NetState, NetworkManager, NetworkSpec,
};
use berth_network::netlink::RtNetlink;
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use super::{RealBackend, RealError};
use crate::api::models::{
    Filters, Ipam, IpamConfig, Labels, Network, NetworkContainer, NetworkCreateRequest,
    NetworkCreateResponse,
};
use crate::backend::{BackendError, BackendResult, ErrorKind};
use crate::config::DaemonConfig;
use crate::state::write_json;

/// Name of the default network.
pub const DEFAULT_NETWORK: &str = "bridge";

/// The nameservers the engine gives a container whose first network is `net`: that network's
/// embedded DNS server (IPv4 gateway, then IPv6 one); none on the default bridge, which has
/// no embedded DNS (as Docker's: the host's servers are used).
pub fn embedded_dns(net: &berth_network::manager::Network) -> Vec<std::net::IpAddr> {
    match net.name == DEFAULT_NETWORK {
        true => Vec::new(),
        false => net.dns_servers(),
    }
}
/// Linux bridge of the default network.
pub const DEFAULT_BRIDGE: &str = "berth0";

/// How networking is wired, built from the daemon config (roots are parameters).
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// `bip`: gateway address and prefix of the default bridge.
    pub bip: Option<Ipv4Net>,
    /// Address pools for networks without a subnet (`default-address-pools`).
    pub pools: Vec<Pool>,
    /// The host's resolv.conf (upstreams of the embedded DNS, copied for the default bridge).
    pub resolv_conf: PathBuf,
    /// Where sysctls live (`/proc/sys`).
    pub proc_sys: PathBuf,
    /// `PATH`-style list searched for `nft` and `iptables`.
    pub search_path: String,
}

impl NetConfig {
    /// The wiring for `config` with the host's usual roots.
    pub fn from_daemon(config: &DaemonConfig) -> Self {
        let v4 = |c: &crate::config::Cidr| match c.addr {
            std::net::IpAddr::V4(a) => Ipv4Net::new(a, c.prefix).ok(),
            std::net::IpAddr::V6(_) => None,
        };
        let pools: Vec<Pool> = config
            .default_address_pools
            .iter()
            .filter_map(|p| {
                Some(Pool {
                    base: v4(&p.base)?.trunc(),
                    size: p.size,
                })
            })
            .collect();
        Self {
            bip: config.bip.as_ref().and_then(v4),
            pools: if pools.is_empty() {
                ipam::default_pools()
            } else {
                pools
            },
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            proc_sys: PathBuf::from("/proc/sys"),
            search_path: std::env::var("PATH")
                .unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".to_owned()),
        }
    }
}

/// Docker-only facts about a network, persisted in `networks/meta.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct NetMeta {
    pub created: String,
    pub labels: Labels,
    pub options: BTreeMap<String, String>,
    pub attachable: bool,
    pub ip_range: String,
}

/// The wired network state of the backend.
pub(super) struct Networking {
    pub manager: NetworkManager,
    meta: Mutex<BTreeMap<String, NetMeta>>,
    meta_path: PathBuf,
    /// The host's resolv.conf text.
    pub host_resolv: String,
    /// Endpoints per container id, per network name (a synchronous mirror for inspect).
    pub attached: Mutex<BTreeMap<String, BTreeMap<String, Endpoint>>>,
    /// Gateway and prefix length per network name (a synchronous mirror for inspect).
    pub views: Mutex<BTreeMap<String, NetState>>,
}

impl std::fmt::Debug for Networking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Networking")
            .field("meta_path", &self.meta_path)
            .finish()
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Maps a manager failure onto the API's categories.
pub(super) fn manager_err(e: ManagerError) -> BackendError {
    let kind = match &e {
        ManagerError::NotFound(_) => ErrorKind::NotFound,
        ManagerError::AlreadyExists(_)
        | ManagerError::PortAllocated { .. }
        | ManagerError::ActiveEndpoints(_) => ErrorKind::Conflict,
        ManagerError::Ipam(ipam::IpamError::AddressInUse(_)) => ErrorKind::Conflict,
        ManagerError::Ipam(ipam::IpamError::Invalid(_)) => ErrorKind::InvalidArgument,
        _ => ErrorKind::Internal,
    };
    let message = match &e {
        ManagerError::ActiveEndpoints(n) => {
            format!("error while removing network: network {n} has active endpoints")
        }
        other => other.to_string(),
    };
    BackendError::new(kind, message).with_source(e)
}

fn now() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

fn parse_net(what: &str, v: &str) -> BackendResult<Option<Ipv4Net>> {
    if v.is_empty() {
        return Ok(None);
    }
    v.parse::<Ipv4Net>().map(Some).map_err(|_| {
        BackendError::invalid(format!(
            "invalid {what} {v:?}: expected an IPv4 CIDR such as 10.203.0.0/24"
        ))
    })
}

/// Whether an `IPAM.Config` entry is an IPv6 pool (its subnet or gateway is IPv6).
fn is_v6(cfg: &IpamConfig) -> bool {
    cfg.subnet.contains(':') || cfg.gateway.contains(':')
}

/// The manager's IPv6 request for a network created with `EnableIPv6`: the IPv6 entry of
/// `IPAM.Config` (subnet, gateway), or the default pool when there is none. An IPv6 entry
/// without `EnableIPv6` is refused, as dockerd does.
pub(super) fn subnet_request6(
    ipam: Option<&Ipam>,
    enable_ipv6: bool,
) -> BackendResult<Option<SubnetRequest6>> {
    let mut v6 = ipam
        .iter()
        .flat_map(|i| i.config.iter())
        .filter(|c| is_v6(c));
    let cfg = v6.next();
    if v6.next().is_some() {
        return Err(BackendError::invalid(
            "more than one IPv6 pool in IPAM config: give one IPv6 subnet",
        ));
    }
    let Some(cfg) = cfg else {
        return Ok(enable_ipv6.then(SubnetRequest6::default));
    };
    if !enable_ipv6 {
        return Err(BackendError::invalid(format!(
            "IPv6 subnet {:?} given but IPv6 is not enabled: add --ipv6 (compose: enable_ipv6: true)",
            cfg.subnet
        )));
    }
    if !cfg.ip_range.is_empty() {
        return Err(BackendError::invalid(format!(
            "ip_range {:?} on an IPv6 pool is not supported: give only subnet and gateway",
            cfg.ip_range
        )));
    }
    let subnet = match cfg.subnet.as_str() {
        "" => None,
        v => Some(v.parse::<ipnet::Ipv6Net>().map_err(|_| {
            BackendError::invalid(format!(
                "invalid subnet {v:?}: expected an IPv6 CIDR such as fd00:1::/64"
            ))
        })?),
    };
    let gateway = match cfg.gateway.as_str() {
        "" => None,
        v => Some(v.parse::<std::net::Ipv6Addr>().map_err(|_| {
            BackendError::invalid(format!("invalid gateway {v:?}: not an IPv6 address"))
        })?),
    };
    if gateway.is_some() && subnet.is_none() {
        return Err(BackendError::invalid(
            "an IPv6 gateway needs an IPv6 subnet (add --subnet)",
        ));
    }
    Ok(Some(SubnetRequest6 { subnet, gateway }))
}

/// The manager's subnet request for the IPv4 entry of `IPAM.Config` (the first one).
pub(super) fn subnet_request(ipam: Option<&Ipam>) -> BackendResult<SubnetRequest> {
    let Some(cfg) = ipam.and_then(|i| i.config.iter().find(|c| !is_v6(c))) else {
        return Ok(SubnetRequest::default());
    };
    let gateway = if cfg.gateway.is_empty() {
        None
    } else {
        Some(cfg.gateway.parse::<Ipv4Addr>().map_err(|_| {
            BackendError::invalid(format!(
                "invalid gateway {:?}: not an IPv4 address",
                cfg.gateway
            ))
        })?)
    };
    let subnet = parse_net("subnet", &cfg.subnet)?;
    if gateway.is_some() && subnet.is_none() {
        return Err(BackendError::invalid(
            "a gateway needs a subnet (add --subnet)",
        ));
    }
    Ok(SubnetRequest {
        subnet,
        gateway,
        ip_range: parse_net("ip-range", &cfg.ip_range)?,
    })
}

/// Refuses what the bridge driver cannot do, with a hint.
pub(super) fn validate_create(req: &NetworkCreateRequest) -> BackendResult<()> {
    if req.name.is_empty() {
        return Err(BackendError::invalid("network name is empty"));
    }
    if !matches!(req.driver.as_str(), "" | "bridge") {
        return Err(BackendError::invalid(format!(
            "network driver {:?} is not supported: berth provides the bridge driver",
            req.driver
        )));
    }
    if req.enable_ipv4 == Some(false) && !req.enable_ipv6 {
        return Err(BackendError::invalid(format!(
            "network {}: IPv4 or IPv6 must be enabled: add --ipv6 (compose: enable_ipv6: true) \
             to --ipv4=false, or leave IPv4 on",
            req.name
        )));
    }
    if let Some(mtu) = req.options.get(berth_network::bridge::MTU_OPT) {
        if !mtu.parse::<u32>().is_ok_and(|m| (68..=65535).contains(&m)) {
            return Err(BackendError::invalid(format!(
                "invalid MTU {mtu:?} in option {}: expected 68..65535",
                berth_network::bridge::MTU_OPT
            )));
        }
    }
    if let Some(name) = req.options.get(berth_network::bridge::BRIDGE_NAME_OPT) {
        let ok = !name.is_empty()
            && name.len() <= 15
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !ok {
            return Err(BackendError::invalid(format!(
                "invalid bridge name {name:?}: 1-15 letters, digits, '-', '_' or '.'"
            )));
        }
    }
    Ok(())
}

impl Networking {
    /// The network named (or with the id or id prefix) `name`; Docker's 404 wording when there
    /// is none, any other failure as what it is.
    pub(super) async fn find(&self, name: &str) -> BackendResult<berth_network::manager::Network> {
        self.manager.network(name).await.map_err(|e| match e {
            ManagerError::NotFound(_) => {
                BackendError::not_found(format!("network {name} not found"))
            }
            other => manager_err(other),
        })
    }

    /// Opens the manager under `root`, reconciles it with the kernel and restarts DNS.
    async fn open(root: PathBuf, cfg: &NetConfig) -> Result<Self, RealError> {
        let io = |path: &PathBuf| {
            let path = path.clone();
            move |source| RealError::Io { path, source }
        };
        std::fs::create_dir_all(&root).map_err(io(&root))?;
        let host_resolv = std::fs::read_to_string(&cfg.resolv_conf).unwrap_or_default();
        let upstreams = berth_network::dns::parse_resolv_conf(&host_resolv);
        let (host_routes, host_routes6) = tokio::task::spawn_blocking(|| {
            // A kernel without IPv6 has no IPv6 routes to avoid.
            let v6 = RtNetlink.ipv6_routes().unwrap_or_else(|e| {
                tracing::debug!(error = %e, "no IPv6 routes");
                Vec::new()
            });
            RtNetlink.ipv4_routes().map(|v4| (v4, v6))
        })
        .await
        .map_err(|e| RealError::Network(e.to_string()))?
        .map_err(|e| RealError::Network(e.to_string()))?;
        let manager = NetworkManager::open(ManagerConfig {
            root: root.clone(),
            proc_sys: cfg.proc_sys.clone(),
            host_routes,
            host_routes6,
            pools: cfg.pools.clone(),
            pools6: berth_network::ipam6::default_pools6(),
            firewall: Firewall::detect(&cfg.search_path),
            netlink: Arc::new(RtNetlink),
            upstreams,
        })
        .map_err(|e| RealError::Network(e.to_string()))?;
        let net_err = |e: ManagerError| RealError::Network(e.to_string());
        manager.reconcile().await.map_err(net_err)?;
        let meta_path = root.join("meta.json");
        let mut meta: BTreeMap<String, NetMeta> = match std::fs::read(&meta_path) {
            Ok(data) => serde_json::from_slice(&data).unwrap_or_default(),
            Err(_) => BTreeMap::new(),
        };
        if drop_unfinished(&manager, &mut meta).await? {
            write_json(&meta_path, &meta).map_err(|e| RealError::Network(e.to_string()))?;
        }
        manager.restore_networks().await.map_err(net_err)?;
        manager.restore_dns().await.map_err(net_err)?;
        let mut attached: BTreeMap<String, BTreeMap<String, Endpoint>> = BTreeMap::new();
        let mut views = BTreeMap::new();
        for net in manager.networks().await {
            views.insert(net.name.clone(), net.clone());
            for ep in manager.endpoints(&net.id).await.map_err(net_err)? {
                attached
                    .entry(ep.id.clone())
                    .or_default()
                    .insert(net.name.clone(), ep);
            }
        }
        Ok(Self {
            manager,
            meta: Mutex::new(meta),
            meta_path,
            host_resolv,
            attached: Mutex::new(attached),
            views: Mutex::new(views),
        })
    }

    fn save_meta(&self, meta: &BTreeMap<String, NetMeta>) -> BackendResult<()> {
        write_json(&self.meta_path, meta).map_err(|e| {
            BackendError::new(
                ErrorKind::Internal,
                format!("cannot persist network metadata: {e}"),
            )
        })
    }

    /// Creates a network and records its metadata.
    async fn create(&self, req: &NetworkCreateRequest) -> BackendResult<NetState> {
        validate_create(req)?;
        let ipam = subnet_request(req.ipam.as_ref())?;
        let ipv6 = subnet_request6(req.ipam.as_ref(), req.enable_ipv6)?;
        let net = self
            .manager
            .create_network(NetworkSpec {
                name: req.name.clone(),
                internal: req.internal,
                ipam,
                driver_opts: req.options.clone(),
                dns_listen: None,
                ipv6,
                ipv6_only: req.enable_ipv4 == Some(false),
            })
            .await
            .map_err(manager_err)?;
        let ip_range = req
            .ipam
            .as_ref()
            .and_then(|i| i.config.iter().find(|c| !is_v6(c)))
            .map(|c| c.ip_range.clone())
            .unwrap_or_default();
        lock(&self.views).insert(net.name.clone(), net.clone());
        let mut meta = lock(&self.meta);
        meta.insert(
            net.id.clone(),
            NetMeta {
                created: now(),
                labels: req.labels.clone(),
                options: req.options.clone(),
                attachable: req.attachable,
                ip_range,
            },
        );
        self.save_meta(&meta)?;
        Ok(net)
    }

    fn meta(&self, id: &str) -> NetMeta {
        lock(&self.meta).get(id).cloned().unwrap_or_default()
    }

    /// The Docker view of `net`; `names` maps container ids to names.
    fn view(&self, net: &NetState, names: &BTreeMap<String, String>) -> Network {
        let meta = self.meta(&net.id);
        let containers = lock(&self.attached)
            .iter()
            .filter_map(|(cid, eps)| {
                let ep = eps.get(&net.name)?;
                Some((
                    cid.clone(),
                    NetworkContainer {
                        name: names.get(cid).cloned().unwrap_or_default(),
                        endpoint_id: endpoint_id(&net.id, cid),
                        mac_address: mac_text(ep.mac),
                        ipv4_address: match (ep.ip, net.subnet) {
                            (Some(ip), Some(s)) => format!("{ip}/{}", s.prefix_len()),
                            _ => String::new(),
                        },
                        ipv6_address: match (ep.ip6, net.subnet6) {
                            (Some(ip6), Some(s6)) => format!("{ip6}/{}", s6.prefix_len()),
                            _ => String::new(),
                        },
                    },
                ))
            })
            .collect();
        let mut options = meta.options.clone();
        if net.name == DEFAULT_NETWORK {
            options
                .entry(berth_network::bridge::BRIDGE_NAME_OPT.to_owned())
                .or_insert_with(|| net.bridge.clone());
        }
        Network {
            name: net.name.clone(),
            id: net.id.clone(),
            created: meta.created,
            scope: "local".to_owned(),
            driver: "bridge".to_owned(),
            enable_ipv4: net.subnet.is_some(),
            enable_ipv6: net.subnet6.is_some(),
            ipam: Ipam {
                driver: "default".to_owned(),
                config: net
                    .subnet
                    .map(|subnet| IpamConfig {
                        subnet: subnet.to_string(),
                        ip_range: meta.ip_range,
                        gateway: net.gateway.map(|g| g.to_string()).unwrap_or_default(),
                    })
                    .into_iter()
                    .chain(net.subnet6.map(|s6| IpamConfig {
                        subnet: s6.to_string(),
                        ip_range: String::new(),
                        gateway: net.gateway6.map(|g| g.to_string()).unwrap_or_default(),
                    }))
                    .collect(),
                options: BTreeMap::new(),
            },
            internal: net.internal,
            attachable: meta.attachable,
            ingress: false,
            containers,
            options,
            labels: meta.labels,
        }
    }
}

/// Docker-style MAC text.
pub(super) fn mac_text(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A stable endpoint id for a container on a network.
pub(super) fn endpoint_id(network_id: &str, container_id: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(
        format!("{network_id}/{container_id}").as_bytes(),
    ))
}

/// Whether `net` passes the Docker network list filters.
fn matches(f: &Filters, net: &Network) -> bool {
    let builtin = net.name == DEFAULT_NETWORK;
    f.any("name", |v| net.name.contains(v))
        && f.any("id", |v| net.id.starts_with(v))
        && f.any("driver", |v| v == net.driver)
        && f.any("scope", |v| v == net.scope)
        && f.any("type", |v| match v {
            "builtin" => builtin,
            "custom" => !builtin,
            _ => false,
        })
        && f.match_labels(&net.labels)
}

/// Makes the manager's networks and their metadata agree after a crash; returns whether the
/// metadata changed. A network without metadata is a create cut short between the two saves:
/// its client never got an answer, so it is removed (it has no endpoints yet; one that has
/// gets fresh metadata instead). Metadata of a network the manager no longer has (a remove cut
/// short) is dropped.
async fn drop_unfinished(
    manager: &NetworkManager,
    meta: &mut BTreeMap<String, NetMeta>,
) -> Result<bool, RealError> {
    let net_err = |e: ManagerError| RealError::Network(e.to_string());
    let mut changed = false;
    for net in manager.networks().await {
        if meta.contains_key(&net.id) {
            continue;
        }
        if manager
            .endpoints(&net.id)
            .await
            .map_err(net_err)?
            .is_empty()
        {
            tracing::info!(network = %net.name, "removing a network whose create was cut short");
            if let Err(e) = manager.remove_network(&net.id).await {
                tracing::warn!(network = %net.name, error = %e, "cannot tear down an unfinished network");
            }
        } else {
            meta.insert(
                net.id.clone(),
                NetMeta {
                    created: now(),
                    ..NetMeta::default()
                },
            );
            changed = true;
        }
    }
    let ids: std::collections::BTreeSet<String> =
        manager.networks().await.into_iter().map(|n| n.id).collect();
    let before = meta.len();
    meta.retain(|id, _| ids.contains(id));
    Ok(changed || meta.len() != before)
}

impl RealBackend {
    /// Wires networking: opens the manager under `<data-root>/networks`, reconciles it with the
    /// kernel and creates the default `bridge` network (Linux bridge `berth0`) when absent.
    /// Then what start-up recovery left for this moment runs (exits, watchers, restart
    /// policies: [`RealBackend::resume_after_recovery`]).
    pub async fn open_networks(&self, cfg: NetConfig) -> Result<(), RealError> {
        let root = self.inner.paths.data_root.join("networks");
        let net = Networking::open(root, &cfg).await?;
        if net.manager.network(DEFAULT_NETWORK).await.is_err() {
            let mut options = BTreeMap::new();
            options.insert(
                berth_network::bridge::BRIDGE_NAME_OPT.to_owned(),
                DEFAULT_BRIDGE.to_owned(),
            );
            options.insert(
                "com.docker.network.bridge.default_bridge".to_owned(),
                "true".to_owned(),
            );
            let ipam = cfg.bip.map(|bip| Ipam {
                config: vec![IpamConfig {
                    subnet: bip.trunc().to_string(),
                    gateway: bip.addr().to_string(),
                    ip_range: String::new(),
                }],
                ..Ipam::default()
            });
            let req = NetworkCreateRequest {
                name: DEFAULT_NETWORK.to_owned(),
                ipam,
                options,
                ..NetworkCreateRequest::default()
            };
            net.create(&req)
                .await
                .map_err(|e| RealError::Network(e.to_string()))?;
        }
        self.inner
            .net
            .set(Arc::new(net))
            .map_err(|_| RealError::Network("networking is already open".to_owned()))?;
        // Containers that ended while the daemon was down still hold endpoints and handles.
        let stopped: Vec<String> = self
            .lock()
            .values()
            .filter(|e| !e.record.running)
            .map(|e| e.record.id.clone())
            .collect();
        for id in stopped {
            self.net_detach(&id).await;
        }
        self.resume_after_recovery();
        Ok(())
    }

    /// The wired networking, or a clear error when the daemon did not wire it.
    pub(super) fn net(&self) -> BackendResult<Arc<Networking>> {
        self.inner.net.get().cloned().ok_or_else(|| {
            BackendError::new(
                ErrorKind::Unavailable,
                "networking is not set up in this engine (RealBackend::open_networks was not called)",
            )
        })
    }

    fn container_names(&self) -> BTreeMap<String, String> {
        self.lock()
            .values()
            .map(|e| (e.record.id.clone(), e.record.name.clone()))
            .collect()
    }

    pub(super) async fn network_list(&self, filters: &Filters) -> BackendResult<Vec<Network>> {
        let net = self.net()?;
        let names = self.container_names();
        let mut out: Vec<Network> = net
            .manager
            .networks()
            .await
            .iter()
            .map(|n| net.view(n, &names))
            .filter(|n| matches(filters, n))
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    pub(super) async fn network_inspect(&self, id: &str) -> BackendResult<Network> {
        let net = self.net()?;
        let found = net.find(id).await?;
        Ok(net.view(&found, &self.container_names()))
    }

    pub(super) async fn network_create(
        &self,
        req: NetworkCreateRequest,
    ) -> BackendResult<NetworkCreateResponse> {
        let net = self.net()?;
        if net
            .manager
            .network(&req.name)
            .await
            .is_ok_and(|n| n.name == req.name)
        {
            return Err(BackendError::conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        let created = net.create(&req).await?;
        Ok(NetworkCreateResponse {
            id: created.id,
            warning: String::new(),
        })
    }

    pub(super) async fn network_remove(&self, id: &str) -> BackendResult<()> {
        let net = self.net()?;
        let found = net.find(id).await?;
        if found.name == DEFAULT_NETWORK {
            return Err(BackendError::new(
                ErrorKind::Forbidden,
                "bridge is a pre-defined network and cannot be removed",
            ));
        }
        net.manager
            .remove_network(&found.id)
            .await
            .map_err(manager_err)?;
        lock(&net.views).remove(&found.name);
        let mut meta = lock(&net.meta);
        meta.remove(&found.id);
        net.save_meta(&meta)
    }

    /// Removes every custom network without endpoints; returns their names.
    pub(super) async fn network_prune(&self, filters: &Filters) -> BackendResult<Vec<String>> {
        let mut removed = Vec::new();
        for n in self.network_list(filters).await? {
            if n.name == DEFAULT_NETWORK || !n.containers.is_empty() {
                continue;
            }
            match self.network_remove(&n.id).await {
                Ok(()) => removed.push(n.name),
                Err(e) if e.kind == ErrorKind::Conflict => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests;
