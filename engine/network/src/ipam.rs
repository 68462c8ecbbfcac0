//! IPv4 address management: picks a subnet for each network from the default pools (or takes the
//! one the user asked for), hands out container addresses and persists every change crash-safely
//! under a root directory passed in, so the daemon finds the same allocations after a restart.
//!
//! Default pools. Docker's defaults (`172.17-31.0.0/16` plus `192.168.0.0/16` cut into `/20`s)
//! run out after 31 local networks, which a machine running many compose projects reaches
//! quickly. berth cuts `172.17.0.0/16`..`172.31.255.0/24` (the `172.16.0.0/12` block minus
//! `172.16.0.0/16`, often used by VPNs) into `/24`s (3840 networks of 253 containers) and adds
//! `10.200.0.0/16` in `/24`s (256 more). Any candidate overlapping a host route (passed in, the
//! default route excluded) or another berth network is skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::persist::{self, PersistError};

/// Errors of address management.
#[derive(Debug, thiserror::Error)]
pub enum IpamError {
    /// Every candidate subnet of every pool is taken or overlaps a host route.
    #[error("all predefined address pools have been fully subnetted")]
    PoolsExhausted,
    /// The requested subnet overlaps the subnet of another network.
    #[error("subnet {subnet} overlaps with network {other} ({other_subnet})")]
    Overlap {
        /// Requested subnet.
        subnet: Ipv4Net,
        /// Network already holding an overlapping subnet.
        other: String,
        /// Its subnet.
        other_subnet: Ipv4Net,
    },
    /// A gateway, ip_range or static address is not inside the subnet, or is reserved.
    #[error("invalid address request: {0}")]
    Invalid(String),
    /// The network id is unknown to IPAM.
    #[error("network {0} has no address pool")]
    UnknownNetwork(String),
    /// The network id already has a pool.
    #[error("network {0} already has an address pool")]
    Exists(String),
    /// A static address is already in use.
    #[error("address {0} is already in use")]
    AddressInUse(Ipv4Addr),
    /// No free address is left in the network.
    #[error("no available IPv4 addresses on network {0}")]
    Full(String),
    /// Reading or writing the state file failed.
    #[error(transparent)]
    Persist(#[from] PersistError),
}

/// A pool of candidate subnets: `base` cut into subnets of prefix length `size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    /// The address block.
    pub base: Ipv4Net,
    /// Prefix length of each network carved from it.
    pub size: u8,
}

/// berth's default pools (see the module doc for why).
pub fn default_pools() -> Vec<Pool> {
    vec![
        Pool {
            base: "172.17.0.0/16".parse().expect("literal"),
            size: 24,
        },
        Pool {
            base: "172.18.0.0/15".parse().expect("literal"),
            size: 24,
        },
        Pool {
            base: "172.20.0.0/14".parse().expect("literal"),
            size: 24,
        },
        Pool {
            base: "172.24.0.0/13".parse().expect("literal"),
            size: 24,
        },
        Pool {
            base: "10.200.0.0/16".parse().expect("literal"),
            size: 24,
        },
    ]
}

/// What the user asked for in `ipam.config` of a network (all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetRequest {
    /// Explicit subnet.
    pub subnet: Option<Ipv4Net>,
    /// Explicit gateway (default: first host address).
    pub gateway: Option<Ipv4Addr>,
    /// Sub-range dynamic addresses come from (default: the whole subnet).
    pub ip_range: Option<Ipv4Net>,
}

/// The address pool of one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkPool {
    /// Subnet of the network.
    pub subnet: Ipv4Net,
    /// Gateway address (on the bridge).
    pub gateway: Ipv4Addr,
    /// Range dynamic addresses come from.
    pub ip_range: Ipv4Net,
    /// Addresses handed out to endpoints.
    pub allocated: BTreeSet<Ipv4Addr>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    networks: BTreeMap<String, NetworkPool>,
}

/// Address manager persisted to `<root>/ipam.json`.
#[derive(Debug)]
pub struct Ipam {
    path: PathBuf,
    pools: Vec<Pool>,
    host_routes: Vec<Ipv4Net>,
    state: State,
}

impl Ipam {
    /// Opens (or starts) the state under `root`; `host_routes` are the host's route destinations.
    pub fn open(
        root: &Path,
        pools: Vec<Pool>,
        host_routes: Vec<Ipv4Net>,
    ) -> Result<Self, IpamError> {
        let path = root.join("ipam.json");
        let state = persist::read_json(&path)?.unwrap_or_default();
        let host_routes = host_routes
            .into_iter()
            .filter(|r| r.prefix_len() > 0)
            .collect();
        Ok(Self {
            path,
            pools,
            host_routes,
            state,
        })
    }

    /// The pool of `network`, if any.
    pub fn pool(&self, network: &str) -> Option<&NetworkPool> {
        self.state.networks.get(network)
    }

    /// Creates the address pool of `network` from `request` or the default pools.
    pub fn create_pool(
        &mut self,
        network: &str,
        request: &SubnetRequest,
    ) -> Result<NetworkPool, IpamError> {
        if self.state.networks.contains_key(network) {
            return Err(IpamError::Exists(network.to_string()));
        }
        let subnet = match request.subnet {
            Some(subnet) => {
                let subnet = subnet.trunc();
                if let Some((other, pool)) = self.overlapping(subnet) {
                    return Err(IpamError::Overlap {
                        subnet,
                        other: other.clone(),
                        other_subnet: pool.subnet,
                    });
                }
                subnet
            }
            None => self.pick_subnet()?,
        };
        if subnet.prefix_len() > 30 {
            return Err(IpamError::Invalid(format!("subnet {subnet} is too small")));
        }
        let ip_range = match request.ip_range {
            Some(range) if !subnet.contains(&range) => {
                return Err(IpamError::Invalid(format!(
                    "ip_range {range} is not inside {subnet}"
                )));
            }
            Some(range) => range.trunc(),
            None => subnet,
        };
        let gateway = match request.gateway {
            Some(gw) if !is_host(subnet, gw) => {
                return Err(IpamError::Invalid(format!(
                    "gateway {gw} is not a host address of {subnet}"
                )));
            }
            Some(gw) => gw,
            None => first_host(subnet),
        };
        let pool = NetworkPool {
            subnet,
            gateway,
            ip_range,
            allocated: BTreeSet::new(),
        };
        self.state
            .networks
            .insert(network.to_string(), pool.clone());
        self.save()?;
        Ok(pool)
    }

    /// Releases the pool of `network` (idempotent).
    pub fn release_pool(&mut self, network: &str) -> Result<(), IpamError> {
        if self.state.networks.remove(network).is_some() {
            self.save()?;
        }
        Ok(())
    }

    /// Allocates `requested` (static address) or the lowest free address in the ip range.
    pub fn allocate(
        &mut self,
        network: &str,
        requested: Option<Ipv4Addr>,
    ) -> Result<Ipv4Addr, IpamError> {
        let pool = self
            .state
            .networks
            .get_mut(network)
            .ok_or_else(|| IpamError::UnknownNetwork(network.to_string()))?;
        let addr = match requested {
            Some(ip) => {
                if !is_host(pool.subnet, ip) || ip == pool.gateway {
                    return Err(IpamError::Invalid(format!(
                        "address {ip} is not usable in {}",
                        pool.subnet
                    )));
                }
                if pool.allocated.contains(&ip) {
                    return Err(IpamError::AddressInUse(ip));
                }
                ip
            }
            None => pool
                .ip_range
                .hosts()
                .find(|ip| {
                    is_host(pool.subnet, *ip) && *ip != pool.gateway && !pool.allocated.contains(ip)
                })
                .ok_or_else(|| IpamError::Full(network.to_string()))?,
        };
        pool.allocated.insert(addr);
        self.save()?;
        Ok(addr)
    }

    /// Returns `addr` to the pool of `network` (idempotent).
    pub fn release(&mut self, network: &str, addr: Ipv4Addr) -> Result<(), IpamError> {
        if let Some(pool) = self.state.networks.get_mut(network) {
            if pool.allocated.remove(&addr) {
                self.save()?;
            }
        }
        Ok(())
    }

    fn overlapping(&self, subnet: Ipv4Net) -> Option<(&String, &NetworkPool)> {
        self.state
            .networks
            .iter()
            .find(|(_, p)| overlaps(p.subnet, subnet))
    }

    fn pick_subnet(&self) -> Result<Ipv4Net, IpamError> {
        for pool in &self.pools {
            let Ok(mut candidates) = pool.base.subnets(pool.size) else {
                continue;
            };
            if let Some(found) = candidates.find(|c| {
                self.overlapping(*c).is_none() && !self.host_routes.iter().any(|r| overlaps(*r, *c))
            }) {
                return Ok(found);
            }
        }
        Err(IpamError::PoolsExhausted)
    }

    fn save(&self) -> Result<(), IpamError> {
        persist::write_json(&self.path, &self.state)?;
        Ok(())
    }
}

/// Whether two subnets share any address.
pub fn overlaps(a: Ipv4Net, b: Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

fn is_host(subnet: Ipv4Net, ip: Ipv4Addr) -> bool {
    subnet.contains(&ip) && ip != subnet.network() && ip != subnet.broadcast()
}

fn first_host(subnet: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.network()) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn ipam(dir: &Path, routes: &[&str]) -> Ipam {
        Ipam::open(
            dir,
            default_pools(),
            routes.iter().map(|r| net(r)).collect(),
        )
        .unwrap()
    }

    #[test]
    fn default_pools_give_far_more_than_31_networks() {
        let dir = tempfile::tempdir().unwrap();
        let mut ipam = ipam(dir.path(), &["0.0.0.0/0", "192.0.2.0/24"]);
        for i in 0..300 {
            let pool = ipam
                .create_pool(&format!("n{i}"), &SubnetRequest::default())
                .unwrap();
            assert_eq!(pool.subnet.prefix_len(), 24);
        }
        assert_eq!(ipam.pool("n0").unwrap().subnet, net("172.17.0.0/24"));
        assert_eq!(
            ipam.pool("n0").unwrap().gateway,
            "172.17.0.1".parse::<Ipv4Addr>().unwrap()
        );
        assert_eq!(ipam.pool("n256").unwrap().subnet, net("172.18.0.0/24"));
        let total: usize = default_pools()
            .iter()
            .map(|p| p.base.subnets(p.size).unwrap().count())
            .sum();
        assert_eq!(total, 4096);
    }

    #[test]
    fn skips_subnets_overlapping_host_routes() {
        let dir = tempfile::tempdir().unwrap();
        let mut ipam = ipam(dir.path(), &["172.17.0.0/23", "172.17.2.128/25"]);
        let pool = ipam.create_pool("a", &SubnetRequest::default()).unwrap();
        assert_eq!(pool.subnet, net("172.17.3.0/24"));
    }

    #[test]
    fn exhaustion_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let pools = vec![Pool {
            base: net("10.9.0.0/23"),
            size: 24,
        }];
        let mut ipam = Ipam::open(dir.path(), pools, vec![]).unwrap();
        ipam.create_pool("a", &SubnetRequest::default()).unwrap();
        ipam.create_pool("b", &SubnetRequest::default()).unwrap();
        assert!(matches!(
            ipam.create_pool("c", &SubnetRequest::default()),
            Err(IpamError::PoolsExhausted)
        ));
        ipam.release_pool("a").unwrap();
        assert_eq!(
            ipam.create_pool("c", &SubnetRequest::default())
                .unwrap()
                .subnet,
            net("10.9.0.0/24")
        );
    }

    #[test]
    fn explicit_subnet_gateway_and_range() {
        let dir = tempfile::tempdir().unwrap();
        let mut ipam = ipam(dir.path(), &[]);
        let req = SubnetRequest {
            subnet: Some(net("10.203.0.0/16")),
            gateway: Some("10.203.0.254".parse().unwrap()),
            ip_range: Some(net("10.203.5.0/24")),
        };
        let pool = ipam.create_pool("x", &req).unwrap();
        assert_eq!(pool.gateway, "10.203.0.254".parse::<Ipv4Addr>().unwrap());
        assert_eq!(
            ipam.allocate("x", None).unwrap(),
            "10.203.5.1".parse::<Ipv4Addr>().unwrap()
        );
        let overlap = SubnetRequest {
            subnet: Some(net("10.203.7.0/24")),
            ..Default::default()
        };
        assert!(matches!(
            ipam.create_pool("y", &overlap),
            Err(IpamError::Overlap { .. })
        ));
        let bad_gw = SubnetRequest {
            subnet: Some(net("10.204.0.0/24")),
            gateway: Some("10.205.0.1".parse().unwrap()),
            ..Default::default()
        };
        assert!(matches!(
            ipam.create_pool("z", &bad_gw),
            Err(IpamError::Invalid(_))
        ));
    }

    #[test]
    fn allocation_static_release_and_persistence() {
        let dir = tempfile::tempdir().unwrap();
        let mut ipam = ipam(dir.path(), &[]);
        let req = SubnetRequest {
            subnet: Some(net("10.203.1.0/29")),
            ..Default::default()
        };
        ipam.create_pool("n", &req).unwrap();
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(
            ipam.allocate("n", Some(ip("10.203.1.5"))).unwrap(),
            ip("10.203.1.5")
        );
        assert!(matches!(
            ipam.allocate("n", Some(ip("10.203.1.5"))),
            Err(IpamError::AddressInUse(_))
        ));
        assert!(matches!(
            ipam.allocate("n", Some(ip("10.203.1.1"))),
            Err(IpamError::Invalid(_))
        ));
        assert!(matches!(
            ipam.allocate("n", Some(ip("10.203.1.7"))),
            Err(IpamError::Invalid(_))
        ));
        assert_eq!(ipam.allocate("n", None).unwrap(), ip("10.203.1.2"));
        assert_eq!(ipam.allocate("n", None).unwrap(), ip("10.203.1.3"));
        assert_eq!(ipam.allocate("n", None).unwrap(), ip("10.203.1.4"));
        assert_eq!(ipam.allocate("n", None).unwrap(), ip("10.203.1.6"));
        assert!(matches!(ipam.allocate("n", None), Err(IpamError::Full(_))));
        ipam.release("n", ip("10.203.1.3")).unwrap();
        drop(ipam);
        let mut reopened = Ipam::open(dir.path(), default_pools(), vec![]).unwrap();
        assert_eq!(reopened.allocate("n", None).unwrap(), ip("10.203.1.3"));
        assert!(matches!(
            reopened.allocate("missing", None),
            Err(IpamError::UnknownNetwork(_))
        ));
    }
}
