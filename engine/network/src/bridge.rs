//! Pure planner for the links of a bridge network: which bridge, veth pairs, addresses, MACs and
//! routes to create or delete, returned as data ([`Step`]s). The one applier that performs them
//! over netlink lives in [`crate::netlink`]; tests assert on the plan without touching the kernel.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `driver_opts` key naming the bridge, as in Docker.
pub const BRIDGE_NAME_OPT: &str = "com.docker.network.bridge.name";
/// `driver_opts` key setting the MTU, as in Docker.
pub const MTU_OPT: &str = "com.docker.network.driver.mtu";
/// Default MTU of bridges and veths.
pub const DEFAULT_MTU: u32 = 1500;

/// One link operation, performed on the host (`netns: None`) or inside a network namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Network namespace file the operation runs in; `None` is the caller's namespace.
    pub netns: Option<PathBuf>,
    /// What to do.
    pub op: LinkOp,
}

/// The link operations berth needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinkOp {
    /// Create a Linux bridge.
    AddBridge { name: String, mtu: u32 },
    /// Create a veth pair.
    AddVeth {
        name: String,
        peer: String,
        mtu: u32,
    },
    /// Enslave `link` to the bridge `master`.
    SetMaster { link: String, master: String },
    /// Put the bridge port `link` in hairpin mode: the bridge may send a frame back out of the
    /// port it came in on. With `br_netfilter` a container's connection to its own published
    /// port is DNATed while still bridged and must go back out of the container's own port.
    SetHairpin { link: String },
    /// Move `link` into the namespace at `netns`.
    SetNetns { link: String, netns: PathBuf },
    /// Rename `link` to `to`.
    Rename { link: String, to: String },
    /// Set the hardware address of `link`.
    SetMac { link: String, mac: [u8; 6] },
    /// Add an IPv4 address with prefix to `link`.
    AddAddress { link: String, address: Ipv4Net },
    /// Bring `link` up.
    Up { link: String },
    /// Add an IPv6 address with prefix to `link`, usable at once (no duplicate address
    /// detection: berth's IPAM hands each address out once).
    AddAddress6 { link: String, address: Ipv6Net },
    /// Add the default route via `gateway` out of `link`.
    AddDefaultRoute { link: String, gateway: Ipv4Addr },
    /// Add the IPv6 default route via `gateway` out of `link`.
    AddDefaultRoute6 { link: String, gateway: Ipv6Addr },
    /// Delete `link` (a missing link is not an error).
    Delete { link: String },
}

fn host(op: LinkOp) -> Step {
    Step { netns: None, op }
}

/// Bridge name of a network: from `driver_opts` or `br-<first 12 hex of the id>`.
pub fn bridge_name(network_id: &str, driver_opts: &BTreeMap<String, String>) -> String {
    match driver_opts.get(BRIDGE_NAME_OPT) {
        Some(name) => name.clone(),
        None => format!("br-{}", &network_id[..network_id.len().min(12)]),
    }
}

/// Docker-style MAC derived from the IPv4 address: `02:42:a:b:c:d`.
pub fn mac_from_ip(ip: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = ip.octets();
    [0x02, 0x42, a, b, c, d]
}

/// MAC of an endpoint without an IPv4 address (IPv6-only network): locally administered,
/// unicast, from a digest of the network and endpoint ids (Docker picks a random one).
pub fn mac_from_ids(network_id: &str, endpoint_id: &str) -> [u8; 6] {
    let d = Sha256::digest(format!("mac/{network_id}/{endpoint_id}").as_bytes());
    [0x02, d[0], d[1], d[2], d[3], d[4]]
}

/// Host-side veth name and temporary peer name for an endpoint (both 15 bytes or less).
pub fn veth_names(network_id: &str, endpoint_id: &str) -> (String, String) {
    let digest = Sha256::digest(format!("{network_id}/{endpoint_id}").as_bytes());
    let tag = &hex::encode(digest)[..11];
    (format!("vb{tag}"), format!("vp{tag}"))
}

/// Whether `name` has the shape of a host-side veth made by [`veth_names`].
pub fn is_berth_veth(name: &str) -> bool {
    name.len() == 13
        && name.starts_with("vb")
        && name[2..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether `name` has the shape of a bridge named by [`bridge_name`] without a name option
/// (`br-` and 12 hex digits of the network id).
pub fn is_berth_bridge(name: &str) -> bool {
    name.len() == 15
        && name.starts_with("br-")
        && name[3..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Bridge of a network to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgePlan {
    /// Interface name.
    pub name: String,
    /// Gateway address with the subnet's prefix length; `None` on an IPv6-only network.
    pub gateway: Option<Ipv4Net>,
    /// IPv6 gateway with the IPv6 subnet's prefix length, for IPv6 networks.
    pub gateway6: Option<Ipv6Net>,
    /// MTU.
    pub mtu: u32,
}

/// Steps creating a bridge with its gateway address(es), up.
pub fn plan_bridge(bridge: &BridgePlan) -> Vec<Step> {
    let mut steps = vec![host(LinkOp::AddBridge {
        name: bridge.name.clone(),
        mtu: bridge.mtu,
    })];
    if let Some(address) = bridge.gateway {
        steps.push(host(LinkOp::AddAddress {
            link: bridge.name.clone(),
            address,
        }));
    }
    if let Some(address) = bridge.gateway6 {
        steps.push(host(LinkOp::AddAddress6 {
            link: bridge.name.clone(),
            address,
        }));
    }
    steps.push(host(LinkOp::Up {
        link: bridge.name.clone(),
    }));
    steps
}

/// Steps deleting a bridge.
pub fn plan_remove_bridge(name: &str) -> Vec<Step> {
    vec![host(LinkOp::Delete {
        link: name.to_string(),
    })]
}

/// An endpoint's links to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointPlan {
    /// Bridge to attach to.
    pub bridge: String,
    /// Host-side veth name.
    pub host_if: String,
    /// Temporary peer name before it moves.
    pub peer_if: String,
    /// Namespace file of the container.
    pub netns: PathBuf,
    /// Name inside the container (`eth0`, `eth1`…).
    pub ifname: String,
    /// Address with the subnet's prefix length; `None` on an IPv6-only network.
    pub address: Option<Ipv4Net>,
    /// Default gateway; `None` for internal networks or secondary interfaces.
    pub gateway: Option<Ipv4Addr>,
    /// IPv6 address with the IPv6 subnet's prefix length, on IPv6 networks.
    pub address6: Option<Ipv6Net>,
    /// IPv6 default gateway (same rule as `gateway`).
    pub gateway6: Option<Ipv6Addr>,
    /// Hardware address.
    pub mac: [u8; 6],
    /// MTU.
    pub mtu: u32,
}

/// Steps creating an endpoint: veth pair, host side on the bridge in hairpin mode, peer moved,
/// renamed, addressed and routed inside the namespace, loopback up.
pub fn plan_endpoint(ep: &EndpointPlan) -> Vec<Step> {
    let ns = |op| Step {
        netns: Some(ep.netns.clone()),
        op,
    };
    let mut steps = vec![
        host(LinkOp::AddVeth {
            name: ep.host_if.clone(),
            peer: ep.peer_if.clone(),
            mtu: ep.mtu,
        }),
        host(LinkOp::SetMaster {
            link: ep.host_if.clone(),
            master: ep.bridge.clone(),
        }),
        host(LinkOp::SetHairpin {
            link: ep.host_if.clone(),
        }),
        host(LinkOp::SetNetns {
            link: ep.peer_if.clone(),
            netns: ep.netns.clone(),
        }),
        host(LinkOp::Up {
            link: ep.host_if.clone(),
        }),
        ns(LinkOp::Rename {
            link: ep.peer_if.clone(),
            to: ep.ifname.clone(),
        }),
        ns(LinkOp::SetMac {
            link: ep.ifname.clone(),
            mac: ep.mac,
        }),
    ];
    if let Some(address) = ep.address {
        steps.push(ns(LinkOp::AddAddress {
            link: ep.ifname.clone(),
            address,
        }));
    }
    if let Some(address) = ep.address6 {
        steps.push(ns(LinkOp::AddAddress6 {
            link: ep.ifname.clone(),
            address,
        }));
    }
    steps.push(ns(LinkOp::Up {
        link: "lo".to_string(),
    }));
    steps.push(ns(LinkOp::Up {
        link: ep.ifname.clone(),
    }));
    if let Some(gateway) = ep.gateway6 {
        steps.push(ns(LinkOp::AddDefaultRoute6 {
            link: ep.ifname.clone(),
            gateway,
        }));
    }
    if let Some(gateway) = ep.gateway {
        steps.push(ns(LinkOp::AddDefaultRoute {
            link: ep.ifname.clone(),
            gateway,
        }));
    }
    steps
}

/// Steps putting existing endpoints' host-side veths in hairpin mode (endpoints made before
/// [`plan_endpoint`] did it; setting it again is harmless).
pub fn plan_hairpin<'a>(host_ifs: impl IntoIterator<Item = &'a str>) -> Vec<Step> {
    host_ifs
        .into_iter()
        .map(|link| {
            host(LinkOp::SetHairpin {
                link: link.to_string(),
            })
        })
        .collect()
}

/// Steps removing an endpoint: deleting the host side deletes the peer too.
pub fn plan_remove_endpoint(host_if: &str) -> Vec<Step> {
    vec![host(LinkOp::Delete {
        link: host_if.to_string(),
    })]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_mac() {
        let id = "0123456789abcdef0123";
        assert_eq!(bridge_name(id, &BTreeMap::new()), "br-0123456789ab");
        let opts = BTreeMap::from([(BRIDGE_NAME_OPT.to_string(), "mybr0".to_string())]);
        assert_eq!(bridge_name(id, &opts), "mybr0");
        assert_eq!(
            mac_from_ip("172.17.0.2".parse().unwrap()),
            [0x02, 0x42, 172, 17, 0, 2]
        );
        let (h, p) = veth_names(id, "c1");
        assert!(h.len() <= 15 && p.len() <= 15 && h.starts_with("vb") && p.starts_with("vp"));
        assert_eq!(h[2..], p[2..]);
        assert!(is_berth_veth(&h) && !is_berth_veth(&p) && !is_berth_veth("vbox0"));
        assert_ne!(veth_names(id, "c2").0, h);
    }

    #[test]
    fn bridge_plan() {
        let plan = plan_bridge(&BridgePlan {
            name: "br-x".into(),
            gateway: Some("10.203.0.1/24".parse().unwrap()),
            gateway6: None,
            mtu: 1400,
        });
        assert_eq!(
            plan[0].op,
            LinkOp::AddBridge {
                name: "br-x".into(),
                mtu: 1400
            }
        );
        assert_eq!(plan.len(), 3);
        assert!(plan.iter().all(|s| s.netns.is_none()));
        let v6 = plan_bridge(&BridgePlan {
            name: "br-x".into(),
            gateway: Some("10.203.0.1/24".parse().unwrap()),
            gateway6: Some("fd00:b37::1/64".parse().unwrap()),
            mtu: 1400,
        });
        assert_eq!(
            v6[2].op,
            LinkOp::AddAddress6 {
                link: "br-x".into(),
                address: "fd00:b37::1/64".parse().unwrap()
            }
        );
        assert!(matches!(v6[3].op, LinkOp::Up { .. }));
        let v6_only = plan_bridge(&BridgePlan {
            name: "br-x".into(),
            gateway: None,
            gateway6: Some("fd00:b37::1/64".parse().unwrap()),
            mtu: 1500,
        });
        let ops: Vec<&LinkOp> = v6_only.iter().map(|s| &s.op).collect();
        assert!(
            matches!(
                ops[..],
                [
                    LinkOp::AddBridge { .. },
                    LinkOp::AddAddress6 { .. },
                    LinkOp::Up { .. }
                ]
            ),
            "{ops:?}"
        );
    }

    #[test]
    fn endpoint_plan_internal_has_no_route() {
        let mut ep = EndpointPlan {
            bridge: "br-x".into(),
            host_if: "vbabc".into(),
            peer_if: "vpabc".into(),
            netns: "/run/netns/c1".into(),
            ifname: "eth0".into(),
            address: Some("10.203.0.2/24".parse().unwrap()),
            gateway: Some("10.203.0.1".parse().unwrap()),
            address6: None,
            gateway6: None,
            mac: mac_from_ip("10.203.0.2".parse().unwrap()),
            mtu: 1500,
        };
        let plan = plan_endpoint(&ep);
        let last = plan.last().unwrap();
        assert_eq!(
            last.netns.as_deref(),
            Some(std::path::Path::new("/run/netns/c1"))
        );
        assert_eq!(
            last.op,
            LinkOp::AddDefaultRoute {
                link: "eth0".into(),
                gateway: "10.203.0.1".parse().unwrap()
            }
        );
        let master = plan
            .iter()
            .position(|s| matches!(s.op, LinkOp::SetMaster { .. }))
            .expect("set master");
        assert_eq!(
            plan[master + 1],
            Step {
                netns: None,
                op: LinkOp::SetHairpin {
                    link: "vbabc".into()
                }
            },
            "hairpin once the veth is a bridge port"
        );
        assert!(plan.contains(&Step {
            netns: Some("/run/netns/c1".into()),
            op: LinkOp::SetMac {
                link: "eth0".into(),
                mac: [2, 0x42, 10, 203, 0, 2]
            }
        }));
        ep.gateway = None;
        assert!(
            !plan_endpoint(&ep)
                .iter()
                .any(|s| matches!(s.op, LinkOp::AddDefaultRoute { .. }))
        );
        ep.address6 = Some("fd00:b37::2/64".parse().unwrap());
        ep.gateway6 = Some("fd00:b37::1".parse().unwrap());
        let v6: Vec<LinkOp> = plan_endpoint(&ep).into_iter().map(|s| s.op).collect();
        let addr = v6
            .iter()
            .position(|o| matches!(o, LinkOp::AddAddress6 { .. }))
            .expect("v6 address");
        let up = v6
            .iter()
            .position(|o| matches!(o, LinkOp::Up { link } if link == "eth0"))
            .expect("up");
        assert!(addr < up);
        assert_eq!(
            v6.last(),
            Some(&LinkOp::AddDefaultRoute6 {
                link: "eth0".into(),
                gateway: "fd00:b37::1".parse().unwrap()
            })
        );
        ep.address = None;
        ep.mac = mac_from_ids("net", "c1");
        let v6_only: Vec<LinkOp> = plan_endpoint(&ep).into_iter().map(|s| s.op).collect();
        assert!(
            !v6_only
                .iter()
                .any(|o| matches!(o, LinkOp::AddAddress { .. })),
            "{v6_only:?}"
        );
        assert!(
            v6_only
                .iter()
                .any(|o| matches!(o, LinkOp::AddAddress6 { .. }))
        );
        assert_eq!(ep.mac[0], 0x02, "locally administered unicast");
        assert_ne!(mac_from_ids("net", "c2"), ep.mac);
    }
}
