//! Unit tests of the firewall renderers (nft scripts, iptables chains).

use super::*;

fn rules(internal: bool) -> NetworkRules {
    NetworkRules {
        id: "abc".into(),
        bridge: "br-abc".into(),
        subnet: Some("10.203.0.0/24".parse().unwrap()),
        subnet6: None,
        internal,
        ports: vec![PortForward {
            proto: Proto::Tcp,
            host_ip: None,
            host_port: 8080,
            container_ip: Some("10.203.0.2".parse().unwrap()),
            container_ip6: None,
            container_port: 80,
        }],
    }
}

#[test]
fn nft_script_has_masquerade_dnat_and_isolation() {
    let s = render_nft(&rules(false));
    assert!(s.starts_with(&render_nft_delete("abc")));
    assert!(s.contains("\ntable ip berth-abc {"));
    assert!(!s.contains("table ip6 berth-abc {\n"), "{s}");
    assert!(s.contains("ip saddr 10.203.0.0/24 oifname != \"br-abc\" masquerade"));
    assert_eq!(
        s.matches("fib daddr type local tcp dport 8080 dnat to 10.203.0.2:80")
            .count(),
        2
    );
    assert!(s.contains("oifname \"br-abc\" ct status dnat accept\n    oifname \"br-abc\" drop"));
}

#[test]
fn hairpin_masquerades_dnat_from_the_own_subnet() {
    let s = render_nft(&rules(false));
    assert!(
        s.contains(
            "ip saddr 10.203.0.0/24 ip daddr 10.203.0.2 tcp dport 80 ct status dnat masquerade"
        ),
        "{s}"
    );
}

#[test]
fn ipv6_network_gets_an_ip6_table_and_v6_dnat() {
    let mut r = rules(false);
    r.subnet6 = Some("fd00:b::/64".parse().unwrap());
    r.ports[0].container_ip6 = Some("fd00:b::2".parse().unwrap());
    r.ports.push(PortForward {
        proto: Proto::Udp,
        host_ip: Some("::1".parse().unwrap()),
        host_port: 5000,
        container_ip: Some("10.203.0.2".parse().unwrap()),
        container_ip6: Some("fd00:b::2".parse().unwrap()),
        container_port: 5000,
    });
    let s = render_nft(&r);
    let (v4, v6) = s.split_once("table ip6 berth-abc {\n").expect("ip6 table");
    assert!(
        v4.contains("dnat to 10.203.0.2:80") && !v4.contains("5000"),
        "{v4}"
    );
    assert_eq!(
        v6.matches("fib daddr type local ip6 daddr != ::1 tcp dport 8080 dnat to [fd00:b::2]:80")
            .count(),
        2
    );
    assert!(
        !v6.contains("5000"),
        "::1 is the userland forwarder's: {v6}"
    );
    assert!(v6.contains("ip6 saddr fd00:b::/64 oifname != \"br-abc\" masquerade"));
    assert!(v6.contains("oifname \"br-abc\" drop"));
    r.ports[1].host_ip = Some("fd00:b::1".parse().unwrap());
    let ipt6 = render_iptables(&r, Family::V6);
    assert!(
        ipt6[0].rules[1].ends_with(
            "-d fd00:b::1 -p udp -m udp --dport 5000 -j DNAT --to-destination [fd00:b::2]:5000"
        ),
        "{:?}",
        ipt6[0]
    );
}

#[test]
fn internal_network_has_no_masquerade_nor_ports() {
    let s = render_nft(&rules(true));
    assert!(!s.contains("masquerade"));
    assert!(!s.contains("dnat"));
    assert!(s.contains("iifname \"br-abc\" drop"));
    let ipt = render_iptables(&rules(true), Family::V4);
    assert!(ipt.iter().all(|c| {
        c.rules
            .iter()
            .all(|r| !r.contains("MASQUERADE") && !r.contains("DNAT"))
    }));
}

#[test]
fn iptables_chains_are_berth_owned() {
    let chains = render_iptables(&rules(false), Family::V4);
    assert!(render_iptables(&rules(false), Family::V6).is_empty());
    assert!(
        chains
            .iter()
            .all(|c| c.chain.starts_with("BERTH-") && c.chain.len() <= 28)
    );
    assert_eq!(
        chains[0].rules,
        vec![
            "-m addrtype --dst-type LOCAL -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.203.0.2:80"
        ]
    );
    assert_eq!(
        render_nft_delete("abc"),
        "table ip berth-abc {}\ndelete table ip berth-abc\ntable ip6 berth-abc {}\ndelete table ip6 berth-abc\n"
    );
}

#[test]
fn owned_rules_are_recognised_by_name() {
    let nft = "table ip nat\ntable ip berth-0123456789ab\ntable inet filter\ntable ip6 berth-0123456789ab\ntable ip berth-ffffffffffff\ntable ip6 berth-eeeeeeeeeeee\n";
    assert_eq!(
        parse_nft_tables(nft),
        vec!["0123456789ab", "eeeeeeeeeeee", "ffffffffffff"]
    );
    let save = "*nat\n:PREROUTING ACCEPT [0:0]\n:BERTH-PRE-0123456789ab - [0:0]\n:BERTH-POST-0123456789ab - [0:0]\n:DOCKER - [0:0]\n";
    assert_eq!(parse_iptables_chains(save), vec!["0123456789ab"]);
}

#[test]
fn sysctls_written_under_root() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("net/ipv4/conf/br-x")).unwrap();
    enable_forwarding(dir.path(), "br-x").unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("net/ipv4/ip_forward")).unwrap(),
        "1"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("net/ipv4/conf/br-x/route_localnet")).unwrap(),
        "1"
    );
}

#[test]
fn detect_prefers_nft() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        Firewall::detect(dir.path().to_str().unwrap()),
        Firewall::Disabled
    );
    std::fs::write(dir.path().join("iptables"), "").unwrap();
    assert!(matches!(
        Firewall::detect(dir.path().to_str().unwrap()),
        Firewall::Iptables { .. }
    ));
    std::fs::write(dir.path().join("nft"), "").unwrap();
    assert!(matches!(
        Firewall::detect(dir.path().to_str().unwrap()),
        Firewall::Nftables { .. }
    ));
}

#[test]
fn ipv6_only_network_has_only_the_ip6_table() {
    let mut r = rules(false);
    r.subnet = None;
    r.subnet6 = Some("fd00:b::/64".parse().unwrap());
    r.ports[0].container_ip = None;
    r.ports[0].container_ip6 = Some("fd00:b::2".parse().unwrap());
    r.ports.push(PortForward {
        proto: Proto::Tcp,
        host_ip: Some("127.0.0.1".parse().unwrap()),
        host_port: 9000,
        container_ip: None,
        container_ip6: Some("fd00:b::2".parse().unwrap()),
        container_port: 90,
    });
    let s = render_nft(&r);
    let created = s.strip_prefix(&render_nft_delete("abc")).unwrap();
    assert!(!created.contains("table ip berth-abc"), "{s}");
    assert!(created.starts_with("table ip6 berth-abc {\n"), "{s}");
    assert!(created.contains("dnat to [fd00:b::2]:80"), "{s}");
    assert!(
        !created.contains("9000"),
        "IPv4 host addresses go to the forwarder: {s}"
    );
    assert!(render_iptables(&r, Family::V4).is_empty());
    assert!(!render_iptables(&r, Family::V6).is_empty());
}
