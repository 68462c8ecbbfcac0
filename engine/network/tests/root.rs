//! Root tests: real bridges, veths, namespaces, nftables and DNS on the kernel.
//!
//! Every test needs root and fails (never passes) without it. Each test uses its own namespaces,
//! bridge names, subnet (inside 10.203.0.0/16) and host ports, and a guard that deletes all of
//! them even when the test fails. No packet is sent anywhere but the test's own bridges,
//! namespaces and loopback.

mod harness;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;

use berth_network::firewall::{Firewall, Proto};
use berth_network::manager::{ManagerError, PortSpec};
use berth_network::netlink::{Netlink, RtNetlink};
use harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_on_one_network_talk_and_static_address_is_honoured() {
    let mut fx = Fixture::new("t1").await;
    let net = fx.network("10.203.11.0/24", false).await;
    let a = fx.netns("a");
    let b = fx.netns("b");
    let static_ip: Ipv4Addr = "10.203.11.50".parse().unwrap();
    let ep_a = fx
        .connect(&net.name, "a", &a, Some(static_ip), &["a"], vec![])
        .await
        .unwrap();
    let ep_b = fx
        .connect(&net.name, "b", &b, None, &["b"], vec![])
        .await
        .unwrap();
    assert_eq!(ep_a.ip, Some(static_ip));
    assert_eq!(ep_b.ip, Some("10.203.11.2".parse::<Ipv4Addr>().unwrap()));
    let addr = ip_cmd(&["-n", &a.name, "addr", "show", "eth0"]);
    assert!(addr.contains("inet 10.203.11.50/24"), "{addr}");
    assert!(addr.contains("02:42:0a:cb:0b:32"), "{addr}");
    let route = ip_cmd(&["-n", &b.name, "route", "show", "default"]);
    assert!(route.contains("via 10.203.11.1 dev eth0"), "{route}");
    let _listener = Listener::start(&a, SocketAddr::new(static_ip.into(), 7000), "hello-a");
    assert_eq!(
        connect_from(Some(&b), SocketAddr::new(static_ip.into(), 7000)).unwrap(),
        "hello-a"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_on_different_networks_cannot_talk() {
    let mut fx = Fixture::new("t2").await;
    let one = fx.network("10.203.21.0/24", false).await;
    let two = fx.network("10.203.22.0/24", false).await;
    let a = fx.netns("a");
    let b = fx.netns("b");
    let c = fx.netns("c");
    fx.connect(&one.name, "a", &a, None, &[], vec![])
        .await
        .unwrap();
    let ep_b = fx
        .connect(&two.name, "b", &b, None, &[], vec![])
        .await
        .unwrap();
    fx.connect(&two.name, "c", &c, None, &[], vec![])
        .await
        .unwrap();
    let target = SocketAddr::new(ep_b.ip.unwrap().into(), 7000);
    let _listener = Listener::start(&b, target, "hello-b");
    assert_eq!(
        connect_from(Some(&c), target).unwrap(),
        "hello-b",
        "same network must work"
    );
    let blocked = connect_from(Some(&a), target);
    assert!(
        blocked.is_err(),
        "network {} reached network {}: {blocked:?}",
        one.name,
        two.name
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_answers_service_name_with_three_rotating_addresses() {
    let mut fx = Fixture::new("t3").await;
    let net = fx.network("10.203.31.0/24", false).await;
    let mut replicas = Vec::new();
    for i in 0..3 {
        let ns = fx.netns(&format!("w{i}"));
        let ep = fx
            .connect(
                &net.name,
                &format!("w{i}"),
                &ns,
                None,
                &["web", &format!("web-{i}")],
                vec![],
            )
            .await;
        replicas.push(ep.unwrap().ip.unwrap());
    }
    let client = fx.netns("cl");
    fx.connect(&net.name, "cl", &client, None, &["client"], vec![])
        .await
        .unwrap();
    let server = SocketAddr::new(net.gateway.unwrap().into(), 53);
    let first = dns_a_from(&client, server, "web").await;
    let second = dns_a_from(&client, server, &format!("web.{}", net.name)).await;
    let mut sorted = first.clone();
    sorted.sort();
    assert_eq!(sorted, replicas);
    assert_eq!(second.len(), 3);
    assert_ne!(
        first[0], second[0],
        "order must rotate: {first:?} then {second:?}"
    );
    assert_eq!(
        dns_a_from(&client, server, "web-1").await,
        vec![replicas[1]]
    );
    assert_eq!(fx.upstream_queries.load(Ordering::SeqCst), 0);
    assert_eq!(
        dns_a_from(&client, server, "outside.test").await,
        vec![FAKE_UPSTREAM_ANSWER]
    );
    assert_eq!(fx.upstream_queries.load(Ordering::SeqCst), 1);
    fx.manager.disconnect(&net.name, "w0").await.unwrap();
    assert_eq!(dns_a_from(&client, server, "web").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_port_answers_on_localhost_and_gateway() {
    let mut fx = Fixture::new("t4").await;
    let net = fx.network("10.203.41.0/24", false).await;
    let ns = fx.netns("srv");
    let port = PortSpec {
        proto: Proto::Tcp,
        host_ip: None,
        host_port: 41080,
        container_port: 80,
    };
    let udp = PortSpec {
        proto: Proto::Udp,
        host_ip: Some(Ipv4Addr::LOCALHOST.into()),
        host_port: 41081,
        container_port: 5353,
    };
    let ep = fx
        .connect(&net.name, "srv", &ns, None, &["srv"], vec![port, udp])
        .await
        .unwrap();
    let _listener = Listener::start(&ns, SocketAddr::new(ep.ip.unwrap().into(), 80), "hello-srv");
    let _udp = UdpEcho::start(
        &ns,
        SocketAddr::new(ep.ip.unwrap().into(), 5353),
        "hello-udp",
    );
    assert_eq!(
        udp_ask("127.0.0.1:41081".parse().unwrap()).unwrap(),
        "hello-udp"
    );
    assert_eq!(
        connect_from(None, "127.0.0.1:41080".parse().unwrap()).unwrap(),
        "hello-srv"
    );
    assert_eq!(
        connect_from(None, SocketAddr::new(net.gateway.unwrap().into(), 41080)).unwrap(),
        "hello-srv"
    );
    let other = fx.netns("other");
    let clash = fx
        .connect(&net.name, "other", &other, None, &[], vec![port])
        .await;
    assert!(
        matches!(clash, Err(ManagerError::PortAllocated { port: 41080, .. })),
        "second publish of 41080 must be refused: {clash:?}"
    );
    let links = ip_cmd(&["-n", &other.name, "link", "show"]);
    assert!(
        !links.contains("eth0"),
        "nothing may be created on conflict: {links}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_network_has_no_masquerade_and_no_upstream_dns() {
    let mut fx = Fixture::new("t5").await;
    let net = fx.network("10.203.51.0/24", true).await;
    let ns = fx.netns("in");
    fx.connect(&net.name, "in", &ns, None, &["inside"], vec![])
        .await
        .unwrap();
    let table = nft(&["list", "table", "ip", &format!("berth-{}", &net.id[..12])]);
    assert!(
        table.contains("iifname \"") && !table.contains("masquerade"),
        "{table}"
    );
    let route = ip_cmd(&["-n", &ns.name, "route", "show", "default"]);
    assert!(
        route.trim().is_empty(),
        "internal network must have no default route: {route}"
    );
    let server = SocketAddr::new(net.gateway.unwrap().into(), 53);
    assert_eq!(
        dns_a_from(&ns, server, "inside").await,
        vec!["10.203.51.2".parse::<Ipv4Addr>().unwrap()]
    );
    assert!(dns_a_from(&ns, server, "outside.test").await.is_empty());
    assert_eq!(
        fx.upstream_queries.load(Ordering::SeqCst),
        0,
        "internal DNS must not forward"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_the_network_leaves_nothing_behind() {
    let mut fx = Fixture::new("t6").await;
    let net = fx.network("10.203.61.0/24", false).await;
    let table = format!("berth-{}", &net.id[..12]);
    let a = fx.netns("a");
    let b = fx.netns("b");
    let port = PortSpec {
        proto: Proto::Tcp,
        host_ip: None,
        host_port: 41680,
        container_port: 80,
    };
    let ep_a = fx
        .connect(&net.name, "a", &a, None, &[], vec![port])
        .await
        .unwrap();
    let ep_b = fx
        .connect(&net.name, "b", &b, None, &[], vec![])
        .await
        .unwrap();
    assert!(nft(&["list", "tables"]).contains(&table));
    assert!(ip_cmd(&["link", "show"]).contains(&ep_a.host_if));
    assert!(RtNetlink.link_exists(&net.bridge).unwrap());
    assert!(RtNetlink.links().unwrap().contains(&ep_b.host_if));
    let firewall = Firewall::detect(&search_path());
    assert!(
        firewall
            .owned_ids()
            .unwrap()
            .contains(&net.id[..12].to_string())
    );
    let busy = fx.manager.remove_network(&net.name).await;
    assert!(
        matches!(busy, Err(ManagerError::ActiveEndpoints(_))),
        "{busy:?}"
    );
    fx.manager.disconnect(&net.name, "a").await.unwrap();
    fx.manager.disconnect(&net.name, "b").await.unwrap();
    fx.manager.remove_network(&net.name).await.unwrap();
    let links = ip_cmd(&["link", "show"]);
    for name in [&net.bridge, &ep_a.host_if, &ep_b.host_if] {
        assert!(
            !links.contains(name.as_str()),
            "{name} left behind: {links}"
        );
    }
    assert!(
        !nft(&["list", "tables"]).contains(&table),
        "nft table left behind"
    );
    assert!(!RtNetlink.link_exists(&net.bridge).unwrap());
    assert!(!RtNetlink.links().unwrap().contains(&ep_b.host_if));
    assert!(
        !firewall
            .owned_ids()
            .unwrap()
            .contains(&net.id[..12].to_string())
    );
    assert!(
        ip_cmd(&["-n", &a.name, "link", "show"])
            .lines()
            .all(|l| !l.contains("eth0"))
    );
    let names = [a.name.clone(), b.name.clone()];
    drop((a, b));
    let listing = ip_cmd(&["netns", "list"]);
    assert!(
        names.iter().all(|n| !listing.contains(n.as_str())),
        "netns left behind: {listing}"
    );
    assert!(fx.manager.networks().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iptables_fallback_publishes_isolates_and_cleans_up() {
    require_root();
    let path = search_path();
    let iptables = std::env::split_paths(&path)
        .map(|d| d.join("iptables"))
        .find(|p| p.is_file());
    let iptables = iptables.expect("iptables not found: install iptables");
    let mut fx = Fixture::with_firewall("t7", Firewall::Iptables { iptables }).await;
    let one = fx.network("10.203.71.0/24", false).await;
    let two = fx.network("10.203.72.0/24", false).await;
    let (a, b) = (fx.netns("a"), fx.netns("b"));
    let port = PortSpec {
        proto: Proto::Tcp,
        host_ip: None,
        host_port: 41780,
        container_port: 80,
    };
    let ep_a = fx
        .connect(&one.name, "a", &a, None, &[], vec![port])
        .await
        .unwrap();
    fx.connect(&two.name, "b", &b, None, &[], vec![])
        .await
        .unwrap();
    let target = SocketAddr::new(ep_a.ip.unwrap().into(), 80);
    let _listener = Listener::start(&a, target, "hello-ipt");
    assert_eq!(
        connect_from(None, "127.0.0.1:41780".parse().unwrap()).unwrap(),
        "hello-ipt"
    );
    assert!(
        connect_from(Some(&b), target).is_err(),
        "networks must be isolated with iptables too"
    );
    let id = one.id[..12].to_string();
    assert!(iptables_save().contains(&format!("BERTH-PRE-{id}")));
    fx.manager.disconnect(&one.name, "a").await.unwrap();
    fx.manager.remove_network(&one.name).await.unwrap();
    let rules = iptables_save();
    assert!(!rules.contains(&id), "iptables rules left behind: {rules}");
    assert!(
        rules.contains(&two.id[..12]),
        "the other network's rules must stay"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_on_two_networks_gets_eth0_and_eth1_and_one_default_route() {
    let mut fx = Fixture::new("t8").await;
    let mtu = [("com.docker.network.driver.mtu", "1400")];
    let front = fx.network_opts("10.203.81.0/24", false, &mtu).await;
    let back = fx.network("10.203.82.0/24", false).await;
    let (app, web, db) = (fx.netns("app"), fx.netns("web"), fx.netns("db"));
    let app_front = fx
        .connect(&front.name, "app", &app, None, &["app"], vec![])
        .await
        .unwrap();
    let app_back = fx
        .connect(&back.name, "app", &app, None, &["app"], vec![])
        .await
        .unwrap();
    assert_eq!(
        (app_front.ifname.as_str(), app_back.ifname.as_str()),
        ("eth0", "eth1")
    );
    assert!(app_front.default_route && !app_back.default_route);
    fx.connect(&front.name, "web", &web, None, &[], vec![])
        .await
        .unwrap();
    let ep_db = fx
        .connect(&back.name, "db", &db, None, &["db"], vec![])
        .await
        .unwrap();
    let links = ip_cmd(&["-n", &app.name, "link", "show", "eth0"]);
    assert!(links.contains("mtu 1400"), "{links}");
    let route = ip_cmd(&["-n", &app.name, "route", "show", "default"]);
    assert_eq!(route.trim().lines().count(), 1, "{route}");
    assert!(
        route.starts_with("default via 10.203.81.1 dev eth0"),
        "{route}"
    );
    let on_front = SocketAddr::new(app_front.ip.unwrap().into(), 7000);
    let on_back = SocketAddr::new(app_back.ip.unwrap().into(), 7001);
    let _l1 = Listener::start(&app, on_front, "front");
    let _l2 = Listener::start(&app, on_back, "back");
    assert_eq!(connect_from(Some(&web), on_front).unwrap(), "front");
    assert_eq!(connect_from(Some(&db), on_back).unwrap(), "back");
    let front_dns = SocketAddr::new(front.gateway.unwrap().into(), 53);
    assert_eq!(
        dns_a_from(&app, front_dns, "db").await,
        vec![ep_db.ip.unwrap()],
        "app must resolve back's names"
    );
    let from_web = dns_a_from(&web, front_dns, "db").await;
    assert_eq!(
        from_web,
        vec![FAKE_UPSTREAM_ANSWER],
        "web is not on back: db goes upstream"
    );
}

#[test]
fn host_routes_are_read_over_netlink() {
    // Routes of 10.203.0.0/16 come and go with the other tests running in parallel: ignored.
    require_root();
    let routes = RtNetlink.ipv4_routes().unwrap();
    let listing = ip_cmd(&["-4", "route", "show", "table", "main"]);
    for line in listing
        .lines()
        .filter(|l| !l.starts_with("default") && !l.starts_with("10.203."))
    {
        let dst = line.split_whitespace().next().unwrap();
        let dst = if dst.contains('/') {
            dst.to_string()
        } else {
            format!("{dst}/32")
        };
        assert!(
            routes.contains(&dst.parse().unwrap()),
            "{dst} missing from {routes:?}"
        );
    }
    assert!(routes.iter().all(|r| r.prefix_len() > 0));
}

#[test]
fn ipv6_host_routes_are_read_over_netlink() {
    // Routes of fd00:b37::/48 come and go with the other tests running in parallel: ignored.
    require_root();
    if !std::path::Path::new("/proc/net/if_inet6").exists() {
        eprintln!("SKIP ipv6_host_routes_are_read_over_netlink: the kernel has no IPv6");
        return;
    }
    let routes = RtNetlink.ipv6_routes().unwrap();
    let listing = ip_cmd(&["-6", "route", "show", "table", "main"]);
    for line in listing.lines().filter(|l| {
        !l.starts_with("default")
            && !l.starts_with("fd00:b37:")
            && !l.starts_with(char::is_whitespace)
    }) {
        let dst = line.split_whitespace().next().unwrap();
        let dst = if dst.contains('/') {
            dst.to_string()
        } else {
            format!("{dst}/128")
        };
        assert!(
            routes.contains(&dst.parse().unwrap()),
            "{dst} missing from {routes:?}"
        );
    }
    assert!(routes.iter().all(|r| r.prefix_len() > 0));
}
