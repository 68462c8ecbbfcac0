//! Unit tests of the manager over a recording fake netlink, no firewall and DNS on loopback.

use super::*;
use crate::bridge::LinkOp;
use crate::ipam::default_pools;
use std::sync::Mutex as StdMutex;

/// Fake link applier: records every step, fails the first `AddVeth` when asked.
#[derive(Debug, Default)]
struct FakeNetlink {
    steps: StdMutex<Vec<Step>>,
    fail_veth: std::sync::atomic::AtomicBool,
}

impl Netlink for FakeNetlink {
    fn apply(&self, steps: &[Step]) -> Result<(), NetlinkError> {
        for step in steps {
            if matches!(step.op, LinkOp::AddVeth { .. })
                && self
                    .fail_veth
                    .swap(false, std::sync::atomic::Ordering::SeqCst)
            {
                return Err(NetlinkError::NoSuchLink("injected".into()));
            }
            self.steps.lock().unwrap().push(step.clone());
        }
        Ok(())
    }

    fn links(&self) -> Result<Vec<String>, NetlinkError> {
        let mut names = Vec::new();
        for step in self.steps.lock().unwrap().iter() {
            match &step.op {
                LinkOp::AddBridge { name, .. } | LinkOp::AddVeth { name, .. } => {
                    names.push(name.clone())
                }
                LinkOp::Delete { link } => names.retain(|n| n != link),
                _ => {}
            }
        }
        Ok(names)
    }

    fn link_exists(&self, name: &str) -> Result<bool, NetlinkError> {
        Ok(self.steps.lock().unwrap().iter().any(|s| {
            s.op == LinkOp::AddBridge {
                name: name.into(),
                mtu: 1500,
            }
        }))
    }
}

struct Env {
    dir: tempfile::TempDir,
    fake: Arc<FakeNetlink>,
}

impl Env {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for br in ["brtest0", "brtest1"] {
            std::fs::create_dir_all(dir.path().join("sys/net/ipv4/conf").join(br)).unwrap();
        }
        std::fs::create_dir_all(dir.path().join("sys/net/ipv6/conf/all")).unwrap();
        Self {
            dir,
            fake: Arc::default(),
        }
    }

    fn manager(&self) -> NetworkManager {
        self.manager_with_routes6(vec![])
    }

    fn manager_with_routes6(&self, host_routes6: Vec<Ipv6Net>) -> NetworkManager {
        NetworkManager::open(ManagerConfig {
            root: self.dir.path().join("state"),
            proc_sys: self.dir.path().join("sys"),
            host_routes: vec!["192.0.2.0/24".parse().unwrap()],
            host_routes6,
            pools: default_pools(),
            pools6: crate::ipam6::default_pools6(),
            firewall: Firewall::Disabled,
            netlink: self.fake.clone(),
            upstreams: vec![],
        })
        .unwrap()
    }

    fn steps(&self) -> Vec<Step> {
        std::mem::take(&mut *self.fake.steps.lock().unwrap())
    }
}

fn spec(name: &str, bridge: &str) -> NetworkSpec {
    NetworkSpec {
        name: name.into(),
        driver_opts: [(bridge::BRIDGE_NAME_OPT.to_string(), bridge.to_string())].into(),
        dns_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..Default::default()
    }
}

fn endpoint(id: &str, ports: Vec<PortSpec>) -> EndpointSpec {
    EndpointSpec {
        id: id.into(),
        netns: format!("/run/netns/{id}").into(),
        names: vec![id.into()],
        ports,
        ..Default::default()
    }
}

fn tcp(host_ip: Option<&str>, host_port: u16) -> PortSpec {
    PortSpec {
        proto: Proto::Tcp,
        host_ip: host_ip.map(|s| s.parse().unwrap()),
        host_port,
        container_port: 80,
    }
}

#[tokio::test]
async fn lifecycle_plans_links_and_persists() {
    let env = Env::new();
    let mgr = env.manager();
    let net = mgr.create_network(spec("front", "brtest0")).await.unwrap();
    assert_eq!(
        net.subnet,
        Some("172.17.0.0/24".parse::<Ipv4Net>().unwrap())
    );
    assert!(env.fake.link_exists("brtest0").unwrap());
    assert_eq!(
        env.steps()[0].op,
        LinkOp::AddBridge {
            name: "brtest0".into(),
            mtu: 1500
        }
    );
    assert!(matches!(
        mgr.create_network(spec("front", "brtest1")).await,
        Err(ManagerError::AlreadyExists(_))
    ));
    let ep = mgr.connect("front", endpoint("c1", vec![])).await.unwrap();
    assert_eq!(ep.ip, Some("172.17.0.2".parse::<Ipv4Addr>().unwrap()));
    assert!(env.steps().iter().any(|s| s.op
        == LinkOp::Rename {
            link: ep.host_if.replace("vb", "vp"),
            to: "eth0".into()
        }));
    drop(mgr);
    let mgr = env.manager();
    assert_eq!(mgr.network(&net.id[..10]).await.unwrap(), net);
    assert_eq!(mgr.endpoints("front").await.unwrap(), vec![ep.clone()]);
    assert!(matches!(
        mgr.remove_network("front").await,
        Err(ManagerError::ActiveEndpoints(_))
    ));
    mgr.disconnect("front", "c1").await.unwrap();
    mgr.remove_network("front").await.unwrap();
    let removed: Vec<LinkOp> = env.steps().into_iter().map(|s| s.op).collect();
    assert_eq!(
        removed,
        vec![
            LinkOp::Delete { link: ep.host_if },
            LinkOp::Delete {
                link: "brtest0".into()
            }
        ]
    );
    assert!(matches!(
        mgr.network("front").await,
        Err(ManagerError::NotFound(_))
    ));
    let again = mgr.create_network(spec("again", "brtest1")).await.unwrap();
    assert_eq!(again.subnet, net.subnet, "the subnet must be released");
}

#[tokio::test]
async fn ipv6_network_plans_v6_addresses_routes_and_aaaa_records() {
    let env = Env::new();
    let mgr = env.manager();
    let mut wanted = spec("v6", "brtest0");
    wanted.ipv6 = Some(SubnetRequest6::default());
    let net = mgr.create_network(wanted).await.unwrap();
    assert_eq!(net.subnet6, Some("fd00:b37::/64".parse().unwrap()));
    assert_eq!(net.gateway6, Some("fd00:b37::1".parse().unwrap()));
    assert!(env.steps().iter().any(|s| s.op
        == LinkOp::AddAddress6 {
            link: "brtest0".into(),
            address: "fd00:b37::1/64".parse().unwrap()
        }));
    assert_eq!(
        std::fs::read_to_string(env.dir.path().join("sys/net/ipv6/conf/all/forwarding")).unwrap(),
        "1"
    );
    let ep = mgr.connect("v6", endpoint("c1", vec![])).await.unwrap();
    assert_eq!(ep.ip6, Some("fd00:b37::2".parse().unwrap()));
    let ops: Vec<LinkOp> = env.steps().into_iter().map(|s| s.op).collect();
    assert!(ops.contains(&LinkOp::AddDefaultRoute6 {
        link: "eth0".into(),
        gateway: "fd00:b37::1".parse().unwrap()
    }));
    let records = {
        let inner = mgr.inner.lock().await;
        inner.dns.get(&net.id).unwrap().1.clone()
    };
    assert_eq!(
        records.read().unwrap().lookup_dual("c1", "v6"),
        vec![(ep.ip, ep.ip6)]
    );
    let v4_only = mgr.create_network(spec("v4", "brtest1")).await.unwrap();
    let mut static6 = endpoint("c2", vec![]);
    static6.ip6 = Some("fd00:b37::9".parse().unwrap());
    let err = mgr.connect(&v4_only.name, static6).await.unwrap_err();
    assert!(err.to_string().contains("no IPv6 subnet"), "{err}");
    mgr.disconnect("v6", "c1").await.unwrap();
    mgr.remove_network("v6").await.unwrap();
    let mut again = spec("v6b", "brtest0");
    again.ipv6 = Some(SubnetRequest6::default());
    let again = mgr.create_network(again).await.unwrap();
    assert_eq!(
        again.subnet6, net.subnet6,
        "the IPv6 subnet must be released"
    );
}

#[tokio::test]
async fn default_ipv6_subnet_skips_the_hosts_ipv6_routes() {
    let env = Env::new();
    let routes = ["::/0", "fe80::/64", "fd00:b37::/64"].map(|r| r.parse().unwrap());
    let mgr = env.manager_with_routes6(routes.to_vec());
    let mut wanted = spec("v6", "brtest0");
    wanted.ipv6 = Some(SubnetRequest6::default());
    let net = mgr.create_network(wanted).await.unwrap();
    assert_eq!(net.subnet6, Some("fd00:b37:0:1::/64".parse().unwrap()));
    let mut explicit = spec("routed", "brtest1");
    explicit.ipv6 = Some(SubnetRequest6 {
        subnet: Some("fd00:b37::/64".parse().unwrap()),
        gateway: None,
    });
    let routed = mgr.create_network(explicit).await.unwrap();
    assert_eq!(routed.subnet6, Some("fd00:b37::/64".parse().unwrap()));
}

#[tokio::test]
async fn port_conflict_is_detected_before_anything_is_built() {
    let env = Env::new();
    let mgr = env.manager();
    mgr.create_network(spec("a", "brtest0")).await.unwrap();
    mgr.create_network(spec("b", "brtest1")).await.unwrap();
    mgr.connect("a", endpoint("c1", vec![tcp(None, 8080)]))
        .await
        .unwrap();
    env.steps();
    let err = mgr
        .connect("b", endpoint("c2", vec![tcp(Some("127.0.0.1"), 8080)]))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Bind for 127.0.0.1:8080 failed: port is already allocated"
    );
    assert!(env.steps().is_empty());
    mgr.connect("b", endpoint("c3", vec![tcp(None, 8081)]))
        .await
        .unwrap();
}

#[tokio::test]
async fn failed_connect_rolls_back() {
    let env = Env::new();
    let mgr = env.manager();
    mgr.create_network(spec("a", "brtest0")).await.unwrap();
    env.fake
        .fail_veth
        .store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(matches!(
        mgr.connect("a", endpoint("c1", vec![])).await,
        Err(ManagerError::Netlink(_))
    ));
    let (host_if, _) = bridge::veth_names(&mgr.network("a").await.unwrap().id, "c1");
    assert!(env.steps().iter().any(|s| s.op
        == LinkOp::Delete {
            link: host_if.clone()
        }));
    assert!(mgr.endpoints("a").await.unwrap().is_empty());
    let ep = mgr.connect("a", endpoint("c1", vec![])).await.unwrap();
    assert_eq!(
        ep.ip,
        Some("172.17.0.2".parse::<Ipv4Addr>().unwrap()),
        "the address must be released"
    );
}

#[test]
fn port_conflict_rules() {
    let existing = [tcp(Some("127.0.0.1"), 80)];
    assert!(port_conflict(&existing, &[tcp(Some("127.0.0.2"), 80)]).is_none());
    assert!(port_conflict(&existing, &[tcp(None, 80)]).is_some());
    let udp = PortSpec {
        proto: Proto::Udp,
        ..tcp(None, 80)
    };
    assert!(port_conflict(&existing, &[udp]).is_none());
    assert!(
        port_conflict(&[], &[tcp(None, 90), tcp(None, 90)]).is_some(),
        "duplicates within one request"
    );
}

#[tokio::test]
async fn failed_create_rolls_back_bridge_and_subnet() {
    let env = Env::new();
    let mgr = env.manager();
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut bad = spec("a", "brtest0");
    bad.dns_listen = Some(taken.local_addr().unwrap());
    assert!(matches!(
        mgr.create_network(bad).await,
        Err(ManagerError::Dns(_))
    ));
    let ops: Vec<LinkOp> = env.steps().into_iter().map(|s| s.op).collect();
    assert_eq!(
        ops.last(),
        Some(&LinkOp::Delete {
            link: "brtest0".into()
        })
    );
    assert!(mgr.networks().await.is_empty());
    let net = mgr.create_network(spec("a", "brtest0")).await.unwrap();
    assert_eq!(
        net.subnet,
        Some("172.17.0.0/24".parse::<Ipv4Net>().unwrap())
    );
}

#[tokio::test]
async fn dns_records_follow_endpoints_and_survive_restart() {
    let env = Env::new();
    let mgr = env.manager();
    let net = mgr.create_network(spec("front", "brtest0")).await.unwrap();
    mgr.connect("front", endpoint("c1", vec![])).await.unwrap();
    mgr.set_dns_names("front", "c1", vec!["db".into(), "alias".into()])
        .await
        .unwrap();
    assert_eq!(
        mgr.endpoints("front").await.unwrap()[0].names,
        vec!["db", "alias"]
    );
    let records = mgr
        .inner
        .lock()
        .await
        .dns
        .get(&net.id)
        .map(|(_, r)| r.clone())
        .unwrap();
    assert_eq!(records.read().unwrap().lookup("alias", "front").len(), 1);
    assert!(records.read().unwrap().lookup("c1", "front").is_empty());
    drop(mgr);
    let mgr = env.manager();
    mgr.restore_dns().await.unwrap();
    let records = mgr
        .inner
        .lock()
        .await
        .dns
        .get(&net.id)
        .map(|(_, r)| r.clone())
        .unwrap();
    assert_eq!(records.read().unwrap().lookup("db.front", "front").len(), 1);
}

#[tokio::test]
async fn a_containers_own_dns_servers_reach_its_records_except_on_internal_networks() {
    let env = Env::new();
    let mgr = env.manager();
    let front = mgr.create_network(spec("front", "brtest0")).await.unwrap();
    let sealed = mgr
        .create_network(NetworkSpec {
            internal: true,
            ..spec("sealed", "brtest1")
        })
        .await
        .unwrap();
    let own: SocketAddr = "10.203.99.53:53".parse().unwrap();
    let with_dns = |id: &str| EndpointSpec {
        dns_upstreams: vec![own],
        ..endpoint(id, vec![])
    };
    let c1 = mgr.connect("front", with_dns("c1")).await.unwrap();
    let c2 = mgr.connect("sealed", with_dns("c2")).await.unwrap();
    let upstreams_of = |net: &str, ep: &Endpoint| {
        let inner = mgr.inner.try_lock().unwrap();
        let records = inner.dns.get(net).map(|(_, r)| r.clone()).unwrap();
        let client = crate::dns::client_key((ep.ip, ep.ip6)).unwrap();
        records.read().unwrap().upstreams_of(client)
    };
    assert_eq!(upstreams_of(&front.id, &c1), Some(vec![own]));
    assert_eq!(
        upstreams_of(&sealed.id, &c2),
        None,
        "internal networks never forward"
    );
    // Kept with the endpoint: a restarted daemon forwards the same way.
    drop(mgr);
    let mgr = env.manager();
    mgr.restore_dns().await.unwrap();
    let inner = mgr.inner.lock().await;
    let records = inner.dns.get(&front.id).map(|(_, r)| r.clone()).unwrap();
    let client = crate::dns::client_key((c1.ip, c1.ip6)).unwrap();
    assert_eq!(
        records.read().unwrap().upstreams_of(client),
        Some(vec![own])
    );
}

#[tokio::test]
async fn a_container_on_two_networks_resolves_names_of_both() {
    let env = Env::new();
    let mgr = env.manager();
    let front = mgr.create_network(spec("front", "brtest0")).await.unwrap();
    let back = mgr.create_network(spec("back", "brtest1")).await.unwrap();
    let app_front = mgr.connect("front", endpoint("app", vec![])).await.unwrap();
    mgr.connect("back", endpoint("app", vec![])).await.unwrap();
    let web = mgr.connect("front", endpoint("web", vec![])).await.unwrap();
    let db = mgr.connect("back", endpoint("db", vec![])).await.unwrap();
    let records = |id: &str| {
        let inner = mgr.inner.try_lock().unwrap();
        inner.dns.get(id).map(|(_, r)| r.clone()).unwrap()
    };
    let (front_records, back_records) = (records(&front.id), records(&back.id));
    let v4 = |ep: &Endpoint| IpAddr::V4(ep.ip.unwrap());
    let resolve =
        |client: IpAddr, name| crate::dns::resolve(&front_records, "front", Some(client), name);
    assert_eq!(
        resolve(v4(&app_front), "db"),
        vec![db.ip.unwrap()],
        "app sees back's names"
    );
    assert_eq!(resolve(v4(&app_front), "db.back"), vec![db.ip.unwrap()]);
    assert!(resolve(v4(&web), "db").is_empty(), "web is not on back");
    assert_eq!(
        crate::dns::resolve(&back_records, "back", Some(v4(&db)), "app").len(),
        1
    );
    mgr.disconnect("back", "app").await.unwrap();
    assert!(
        resolve(v4(&app_front), "db").is_empty(),
        "peers must follow disconnect"
    );
}

#[tokio::test]
async fn reconcile_drops_dead_endpoints_and_stray_veths() {
    let env = Env::new();
    let mgr = env.manager();
    mgr.create_network(spec("front", "brtest0")).await.unwrap();
    let c1 = mgr.connect("front", endpoint("c1", vec![])).await.unwrap();
    mgr.connect("front", endpoint("c2", vec![])).await.unwrap();
    // The kernel changed behind berth's back: c1's veth vanished, strays appeared.
    let outside = [
        LinkOp::Delete {
            link: c1.host_if.clone(),
        },
        LinkOp::AddVeth {
            name: "vb0123456789a".into(),
            peer: "vp0123456789a".into(),
            mtu: 1500,
        },
        LinkOp::AddBridge {
            name: "vboxnet0".into(),
            mtu: 1500,
        },
    ];
    let steps: Vec<Step> = outside
        .into_iter()
        .map(|op| Step { netns: None, op })
        .collect();
    env.fake.apply(&steps).unwrap();
    let before = env.fake.steps.lock().unwrap().len();
    let done = mgr.reconcile().await.unwrap();
    assert_eq!(
        done.endpoints,
        vec![("front".to_string(), "c1".to_string())]
    );
    let c2_if = mgr.endpoints("front").await.unwrap()[0].host_if.clone();
    assert!(
        env.fake.steps.lock().unwrap()[before..].contains(&Step {
            netns: None,
            op: LinkOp::SetHairpin { link: c2_if }
        }),
        "a surviving endpoint's port is put in hairpin mode again"
    );
    assert_eq!(done.veths, vec!["vb0123456789a".to_string()]);
    assert!(
        env.fake.links().unwrap().contains(&"vboxnet0".to_string()),
        "not ours: untouched"
    );
    let ids: Vec<String> = mgr
        .endpoints("front")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, vec!["c2"]);
    let again = mgr.connect("front", endpoint("c3", vec![])).await.unwrap();
    assert_eq!(
        again.ip, c1.ip,
        "the dead endpoint's address must be released"
    );
    assert_eq!(mgr.reconcile().await.unwrap(), Reconciled::default());
}

/// A create cut short after the bridge was made but before the network was saved leaves a
/// `br-<id>` bridge no network owns: reconcile deletes it, and nothing else.
#[tokio::test]
async fn reconcile_deletes_bridges_of_unsaved_networks() {
    let env = Env::new();
    let mgr = env.manager();
    mgr.create_network(spec("front", "brtest0")).await.unwrap();
    let steps: Vec<Step> = ["br-0123456789ab", "br-notours"]
        .into_iter()
        .map(|name| Step {
            netns: None,
            op: LinkOp::AddBridge {
                name: name.into(),
                mtu: 1500,
            },
        })
        .collect();
    env.fake.apply(&steps).unwrap();
    let done = mgr.reconcile().await.unwrap();
    assert_eq!(done.bridges, vec!["br-0123456789ab".to_string()]);
    let links = env.fake.links().unwrap();
    assert!(!links.contains(&"br-0123456789ab".to_string()));
    assert!(
        links.contains(&"br-notours".to_string()),
        "not berth-shaped"
    );
    assert!(links.contains(&"brtest0".to_string()), "a known network's");
    assert_eq!(mgr.reconcile().await.unwrap(), Reconciled::default());
}

#[tokio::test]
async fn static_mac_overrides_the_derived_one() {
    let env = Env::new();
    let mgr = env.manager();
    mgr.create_network(spec("front", "brtest0")).await.unwrap();
    let mac = [0x02, 0x42, 0xde, 0xad, 0xbe, 0xef];
    let ep = mgr
        .connect(
            "front",
            EndpointSpec {
                mac: Some(mac),
                ..endpoint("c1", vec![])
            },
        )
        .await
        .unwrap();
    assert_eq!(ep.mac, mac);
    let set = LinkOp::SetMac {
        link: "eth0".into(),
        mac,
    };
    assert!(env.steps().iter().any(|s| s.op == set));
}

fn v6_only(name: &str, bridge: &str) -> NetworkSpec {
    NetworkSpec {
        ipv6: Some(SubnetRequest6::default()),
        ipv6_only: true,
        dns_listen: Some("[::1]:0".parse().unwrap()),
        ..spec(name, bridge)
    }
}

#[tokio::test]
async fn ipv6_only_network_has_no_ipv4_anywhere() {
    let env = Env::new();
    let mgr = env.manager();
    let net = mgr
        .create_network(v6_only("v6only", "brtest0"))
        .await
        .unwrap();
    assert_eq!((net.subnet, net.gateway), (None, None));
    assert_eq!(net.subnet6, Some("fd00:b37::/64".parse().unwrap()));
    assert_eq!(net.dns_listen6(), None, "one listen address, the IPv6 one");
    assert_eq!(
        default_dns_listen(None, net.gateway6),
        "[fd00:b37::1]:53".parse().unwrap()
    );
    assert_eq!(
        default_dns_listen(Some("10.0.0.1".parse().unwrap()), net.gateway6),
        "10.0.0.1:53".parse().unwrap()
    );
    assert_eq!(net.dns_servers(), vec![net.dns_listen.ip()]);
    let bridge_ops: Vec<LinkOp> = env.steps().into_iter().map(|s| s.op).collect();
    assert!(
        !bridge_ops
            .iter()
            .any(|o| matches!(o, LinkOp::AddAddress { .. })),
        "{bridge_ops:?}"
    );
    assert!(
        bridge_ops
            .iter()
            .any(|o| matches!(o, LinkOp::AddAddress6 { .. }))
    );
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ep = mgr
        .connect("v6only", endpoint("c1", vec![tcp(Some("127.0.0.1"), free)]))
        .await
        .unwrap();
    assert_eq!(ep.ip, None);
    assert_eq!(ep.ip6, Some("fd00:b37::2".parse().unwrap()));
    assert_eq!(ep.mac, bridge::mac_from_ids(&net.id, "c1"));
    let ops: Vec<LinkOp> = env.steps().into_iter().map(|s| s.op).collect();
    assert!(
        !ops.iter().any(|o| matches!(
            o,
            LinkOp::AddAddress { .. } | LinkOp::AddDefaultRoute { .. }
        )),
        "{ops:?}"
    );
    assert!(ops.contains(&LinkOp::AddDefaultRoute6 {
        link: "eth0".into(),
        gateway: "fd00:b37::1".parse().unwrap()
    }));
    let rules = {
        let inner = mgr.inner.lock().await;
        let proxies = inner
            .proxies
            .get(&(net.id.clone(), "c1".into()))
            .map_or(0, Vec::len);
        assert_eq!(proxies, 1, "127.0.0.1 goes through the userland forwarder");
        firewall_rules(&inner.networks[&net.id])
    };
    assert_eq!(rules.subnet, None);
    assert!(crate::firewall::render_nft(&rules).contains("table ip6 berth-"));
    assert!(!crate::firewall::render_nft(&rules).contains("\ntable ip berth-"));
    let records = {
        let inner = mgr.inner.lock().await;
        inner.dns.get(&net.id).unwrap().1.clone()
    };
    assert_eq!(
        records.read().unwrap().lookup_dual("c1", "v6only"),
        vec![(None, ep.ip6)]
    );
    assert!(records.read().unwrap().lookup("c1", "v6only").is_empty());
    let mut static4 = endpoint("c2", vec![]);
    static4.ip = Some("10.203.0.9".parse().unwrap());
    let err = mgr.connect("v6only", static4).await.unwrap_err();
    assert!(err.to_string().contains("IPv6-only"), "{err}");
    mgr.disconnect("v6only", "c1").await.unwrap();
    mgr.remove_network("v6only").await.unwrap();
}

#[tokio::test]
async fn ipv6_only_errors_build_nothing() {
    let env = Env::new();
    let mgr = env.manager();
    let mut neither = spec("none", "brtest0");
    neither.ipv6_only = true;
    let err = mgr.create_network(neither).await.unwrap_err();
    assert!(
        err.to_string().contains("IPv4 or IPv6 must be enabled"),
        "{err}"
    );
    let mut v4_subnet = v6_only("sub4", "brtest0");
    v4_subnet.ipam.subnet = Some("10.203.9.0/24".parse().unwrap());
    let err = mgr.create_network(v4_subnet).await.unwrap_err();
    assert!(
        err.to_string().contains("IPv4 subnet 10.203.9.0/24"),
        "{err}"
    );
    assert!(matches!(err, ManagerError::Ipam(IpamError::Invalid(_))));
    assert!(env.steps().is_empty());
    assert!(mgr.networks().await.is_empty());
    // Nothing was taken from either pool.
    let first = mgr.create_network(v6_only("ok", "brtest0")).await.unwrap();
    assert_eq!(first.subnet6, Some("fd00:b37::/64".parse().unwrap()));
    assert_eq!(
        mgr.create_network(spec("v4", "brtest1"))
            .await
            .unwrap()
            .subnet,
        Some("172.17.0.0/24".parse().unwrap())
    );
}

#[tokio::test]
async fn state_files_from_before_ipv6_only_load_and_round_trip() {
    let env = Env::new();
    let root = env.dir.path().join("state");
    std::fs::create_dir_all(&root).unwrap();
    let old = r#"{"abc":{"network":{"id":"abc0123456789","name":"old","bridge":"br-old","subnet":"10.203.7.0/24","gateway":"10.203.7.1","internal":false,"mtu":1500,"dns_listen":"10.203.7.1:53"},"endpoints":{"c1":{"id":"c1","network_id":"abc0123456789","ip":"10.203.7.2","mac":[2,66,10,203,7,2],"host_if":"vbx","ifname":"eth0","netns":"/x","default_route":true,"names":["c1"],"ports":[]}}}}"#;
    std::fs::write(root.join("networks.json"), old).unwrap();
    let mgr = env.manager();
    let net = mgr.network("old").await.unwrap();
    assert_eq!(net.subnet, Some("10.203.7.0/24".parse().unwrap()));
    assert_eq!(net.gateway, Some("10.203.7.1".parse().unwrap()));
    let ep = &mgr.endpoints("old").await.unwrap()[0];
    assert_eq!(ep.ip, Some("10.203.7.2".parse().unwrap()));
    let inner = mgr.inner.lock().await;
    let again: serde_json::Value = serde_json::to_value(&inner.networks).unwrap();
    let before: serde_json::Value = serde_json::from_str(old).unwrap();
    let pick = |v: &serde_json::Value, k: &str| v["abc"]["network"][k].clone();
    for key in ["subnet", "gateway", "dns_listen"] {
        assert_eq!(pick(&again, key), pick(&before, key), "{key}");
    }
    assert_eq!(
        again["abc"]["endpoints"]["c1"]["ip"],
        before["abc"]["endpoints"]["c1"]["ip"]
    );
}
