//! IPv6 address management for networks created with `enable_ipv6`: a subnet per network (the
//! one asked for, else the next free `/64` of a unique-local pool), the gateway and container
//! addresses, persisted crash-safely to `<root>/ipam6.json` apart from the IPv4 state so
//! IPv4-only setups keep their files unchanged.
//!
//! Default pool. Like dockerd's `default-address-pools` entries for IPv6, berth slices a
//! unique-local (RFC 4193, `fd00::/8`) block: `fd00:b37:0::/48` cut into `/64`s, 65536
//! networks. A `/64` keeps SLAAC-style host parts and what IPv6 hosts expect; addresses are
//! handed out from `::2` upwards (the gateway is `::1`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv6Net;
use serde::{Deserialize, Serialize};

use crate::ipam::IpamError;
use crate::persist;

/// A pool of candidate IPv6 subnets: `base` cut into subnets of prefix length `size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool6 {
    /// The address block.
    pub base: Ipv6Net,
    /// Prefix length of each network carved from it.
    pub size: u8,
}

/// berth's default IPv6 pool (see the module doc).
pub fn default_pools6() -> Vec<Pool6> {
    vec![Pool6 {
        base: "fd00:b37::/48".parse().expect("literal"),
        size: 64,
    }]
}

/// What the user asked for in the IPv6 entry of `ipam.config` (all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetRequest6 {
    /// Explicit subnet.
    pub subnet: Option<Ipv6Net>,
    /// Explicit gateway (default: `<subnet>::1`).
    pub gateway: Option<Ipv6Addr>,
}

/// The IPv6 address pool of one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkPool6 {
    /// Subnet of the network.
    pub subnet: Ipv6Net,
    /// Gateway address (on the bridge).
    pub gateway: Ipv6Addr,
    /// Addresses handed out to endpoints.
    pub allocated: BTreeSet<Ipv6Addr>,
}

/// IPv6 address manager persisted to `<root>/ipam6.json`.
#[derive(Debug)]
pub struct Ipam6 {
    path: PathBuf,
    pools: Vec<Pool6>,
    host_routes: Vec<Ipv6Net>,
    networks: BTreeMap<String, NetworkPool6>,
}

/// Whether two subnets share any address.
pub fn overlaps6(a: Ipv6Net, b: Ipv6Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

fn nth_host(subnet: Ipv6Net, n: u128) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(subnet.network()) + n)
}

impl Ipam6 {
    /// Opens (or starts) the state under `root`; `host_routes` are the destinations of the
    /// host's IPv6 routes, which default subnets must not overlap (default routes are ignored).
    pub fn open(
        root: &Path,
        pools: Vec<Pool6>,
        host_routes: Vec<Ipv6Net>,
    ) -> Result<Self, IpamError> {
        let path = root.join("ipam6.json");
        let networks = persist::read_json(&path)?.unwrap_or_default();
        let host_routes = host_routes
            .into_iter()
            .filter(|r| r.prefix_len() > 0)
            .collect();
        Ok(Self {
            path,
            pools,
            host_routes,
            networks,
        })
    }

    /// The pool of `network`, if any.
    pub fn pool(&self, network: &str) -> Option<&NetworkPool6> {
        self.networks.get(network)
    }

    /// Creates the IPv6 pool of `network` from `request` or the default pools.
    pub fn create_pool(
        &mut self,
        network: &str,
        request: &SubnetRequest6,
    ) -> Result<NetworkPool6, IpamError> {
        if self.networks.contains_key(network) {
            return Err(IpamError::Exists(network.to_string()));
        }
        let subnet = match request.subnet {
            Some(subnet) => {
                let subnet = subnet.trunc();
                if let Some((other, pool)) = self
                    .networks
                    .iter()
                    .find(|(_, p)| overlaps6(p.subnet, subnet))
                {
                    return Err(IpamError::Invalid(format!(
                        "subnet {subnet} overlaps with network {other} ({})",
                        pool.subnet
                    )));
                }
                subnet
            }
            None => self.pick_subnet()?,
        };
        if subnet.prefix_len() > 126 {
            return Err(IpamError::Invalid(format!("subnet {subnet} is too small")));
        }
        let gateway = match request.gateway {
            Some(gw) if !subnet.contains(&gw) || gw == subnet.network() => {
                return Err(IpamError::Invalid(format!(
                    "gateway {gw} is not a host address of {subnet}"
                )));
            }
            Some(gw) => gw,
            None => nth_host(subnet, 1),
        };
        let pool = NetworkPool6 {
            subnet,
            gateway,
            allocated: BTreeSet::new(),
        };
        self.networks.insert(network.to_string(), pool.clone());
        self.save()?;
        Ok(pool)
    }

    /// Releases the pool of `network` (idempotent).
    pub fn release_pool(&mut self, network: &str) -> Result<(), IpamError> {
        if self.networks.remove(network).is_some() {
            self.save()?;
        }
        Ok(())
    }

    /// Allocates `requested` (static address) or the lowest free address from `::2` up.
    pub fn allocate(
        &mut self,
        network: &str,
        requested: Option<Ipv6Addr>,
    ) -> Result<Ipv6Addr, IpamError> {
        let pool = self
            .networks
            .get_mut(network)
            .ok_or_else(|| IpamError::UnknownNetwork(network.to_string()))?;
        let addr = match requested {
            Some(ip) => {
                if !pool.subnet.contains(&ip) || ip == pool.gateway || ip == pool.subnet.network() {
                    return Err(IpamError::Invalid(format!(
                        "address {ip} is not usable in {}",
                        pool.subnet
                    )));
                }
                if pool.allocated.contains(&ip) {
                    return Err(IpamError::Invalid(format!(
                        "address {ip} is already in use"
                    )));
                }
                ip
            }
            None => {
                let size = 1u128
                    .checked_shl(128 - u32::from(pool.subnet.prefix_len()))
                    .unwrap_or(u128::MAX);
                (1..size)
                    .map(|n| nth_host(pool.subnet, n))
                    .find(|ip| *ip != pool.gateway && !pool.allocated.contains(ip))
                    .ok_or_else(|| IpamError::Full(network.to_string()))?
            }
        };
        pool.allocated.insert(addr);
        self.save()?;
        Ok(addr)
    }

    /// Returns `addr` to the pool of `network` (idempotent).
    pub fn release(&mut self, network: &str, addr: Ipv6Addr) -> Result<(), IpamError> {
        if let Some(pool) = self.networks.get_mut(network) {
            if pool.allocated.remove(&addr) {
                self.save()?;
            }
        }
        Ok(())
    }

    fn pick_subnet(&self) -> Result<Ipv6Net, IpamError> {
        for pool in &self.pools {
            let Ok(mut candidates) = pool.base.subnets(pool.size) else {
                continue;
            };
            if let Some(found) = candidates.find(|c| {
                !self.networks.values().any(|p| overlaps6(p.subnet, *c))
                    && !self.host_routes.iter().any(|r| overlaps6(*r, *c))
            }) {
                return Ok(found);
            }
        }
        Err(IpamError::PoolsExhausted)
    }

    fn save(&self) -> Result<(), IpamError> {
        persist::write_json(&self.path, &self.networks)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn default_pool_hands_out_ula_64s_and_addresses_from_2() {
        let dir = tempfile::tempdir().unwrap();
        let mut ipam = Ipam6::open(dir.path(), default_pools6(), vec![]).unwrap();
        let a = ipam.create_pool("a", &SubnetRequest6::default()).unwrap();
        let b = ipam.create_pool("b", &SubnetRequest6::default()).unwrap();
        assert_eq!(a.subnet, "fd00:b37::/64".parse::<Ipv6Net>().unwrap());
        assert_eq!(a.gateway, ip("fd00:b37::1"));
        assert_eq!(b.subnet, "fd00:b37:0:1::/64".parse::<Ipv6Net>().unwrap());
        assert_eq!(ipam.allocate("a", None).unwrap(), ip("fd00:b37::2"));
        assert_eq!(ipam.allocate("a", None).unwrap(), ip("fd00:b37::3"));
        ipam.release("a", ip("fd00:b37::2")).unwrap();
        drop(ipam);
        let mut again = Ipam6::open(dir.path(), default_pools6(), vec![]).unwrap();
        assert_eq!(again.allocate("a", None).unwrap(), ip("fd00:b37::2"));
        again.release_pool("a").unwrap();
        assert_eq!(
            again
                .create_pool("c", &SubnetRequest6::default())
                .unwrap()
                .subnet,
            "fd00:b37::/64".parse::<Ipv6Net>().unwrap()
        );
    }

    #[test]
    fn default_subnets_skip_host_routes_but_not_the_default_route() {
        let dir = tempfile::tempdir().unwrap();
        let routes = ["::/0", "fe80::/64", "fd00:b37::/63", "fd00:b37:0:2::5/128"]
            .map(|r| r.parse::<Ipv6Net>().unwrap())
            .to_vec();
        let mut ipam = Ipam6::open(dir.path(), default_pools6(), routes).unwrap();
        let pool = ipam.create_pool("a", &SubnetRequest6::default()).unwrap();
        assert_eq!(pool.subnet, "fd00:b37:0:3::/64".parse::<Ipv6Net>().unwrap());
        // A route covering the whole pool leaves nothing to pick.
        let all = vec!["fd00::/8".parse().unwrap()];
        let mut none = Ipam6::open(&dir.path().join("x"), default_pools6(), all).unwrap();
        assert!(matches!(
            none.create_pool("b", &SubnetRequest6::default()),
            Err(IpamError::PoolsExhausted)
        ));
        // An explicit subnet is the user's choice, routed or not.
        let routed = SubnetRequest6 {
            subnet: Some("fd00:b37::/64".parse().unwrap()),
            gateway: None,
        };
        none.create_pool("c", &routed).unwrap();
    }

    #[test]
    fn explicit_subnet_gateway_static_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let mut ipam = Ipam6::open(dir.path(), default_pools6(), vec![]).unwrap();
        let req = SubnetRequest6 {
            subnet: Some("2001:db8:1::/64".parse().unwrap()),
            gateway: Some(ip("2001:db8:1::fe")),
        };
        let pool = ipam.create_pool("x", &req).unwrap();
        assert_eq!(pool.gateway, ip("2001:db8:1::fe"));
        assert_eq!(
            ipam.allocate("x", Some(ip("2001:db8:1::10"))).unwrap(),
            ip("2001:db8:1::10")
        );
        assert!(ipam.allocate("x", Some(ip("2001:db8:1::10"))).is_err());
        assert!(ipam.allocate("x", Some(ip("2001:db8:1::fe"))).is_err());
        assert!(ipam.allocate("x", Some(ip("2001:db8:2::1"))).is_err());
        let overlap = SubnetRequest6 {
            subnet: Some("2001:db8:1::/56".parse().unwrap()),
            gateway: None,
        };
        let err = ipam.create_pool("y", &overlap).unwrap_err().to_string();
        assert!(err.contains("overlaps"), "{err}");
        let tiny = SubnetRequest6 {
            subnet: Some("2001:db8:9::/127".parse().unwrap()),
            gateway: None,
        };
        assert!(ipam.create_pool("z", &tiny).is_err());
        let full = SubnetRequest6 {
            subnet: Some("2001:db8:8::/126".parse().unwrap()),
            gateway: None,
        };
        ipam.create_pool("f", &full).unwrap();
        assert_eq!(ipam.allocate("f", None).unwrap(), ip("2001:db8:8::2"));
        assert_eq!(ipam.allocate("f", None).unwrap(), ip("2001:db8:8::3"));
        assert!(matches!(ipam.allocate("f", None), Err(IpamError::Full(_))));
    }
}
