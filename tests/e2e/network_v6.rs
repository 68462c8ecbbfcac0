//! IPv6 networks (addresses, AAAA names, IPv6 published ports, ip6 rules removed with the
//! network), published ports of containers on several networks, and hairpin access from a peer
//! to a published port through a host address.
//!
//! As in `network.rs`, each engine has its own network namespace: these tests only reach
//! addresses of bridges the engine creates there and that namespace's loopback.

use crate::harness::{Engine, IMAGE};
use crate::network::{diag, fetch, gateway_of, http_args, in_engine_ns, ip_of, web};
use crate::util::show;

/// [`HTTP_SH`] over IPv6: `HOST` is an IPv6 literal or a name resolved with an AAAA query
/// (`ONCE` set: a single try).
pub(super) const HTTP6_SH: &str = r#"h=$1; p=$2
for i in $(seq 100); do
  a=$h
  case $h in *:*) ;; *) a=$(nslookup -type=aaaa "$h" 2>/dev/null | awk '/^Address/ && !/:53$/ && /:/ {print $NF; exit}');; esac
  if [ -n "$a" ]; then
    r=$(printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 "$a" "$p" 2>/dev/null)
    if [ -n "$r" ]; then echo "$r" | tail -n 1; exit 0; fi
  fi
  [ -n "$ONCE" ] && exit 1
  sleep 0.1
done
exit 1"#;

/// Whether the engine's namespace has IPv6 (a kernel without it is a visible skip).
pub(super) fn ipv6_missing(e: &Engine) -> Option<String> {
    let probe = in_engine_ns(e, &["test", "-e", "/proc/net/if_inet6"]);
    if !probe.status.success() {
        return Some("the kernel has no IPv6 (/proc/net/if_inet6 is missing)".into());
    }
    let lo = in_engine_ns(e, &["ip", "-6", "addr", "show", "dev", "lo"]);
    if !String::from_utf8_lossy(&lo.stdout).contains("::1/128") {
        return Some(format!("loopback has no ::1: {}", show(&lo)));
    }
    None
}

/// Asserts a removed network left no nftables table (`berth-<id prefix>`), no bridge `bridge`
/// and no container veth (`vb…`) in the engine's namespace.
pub(super) fn assert_network_gone(e: &Engine, id: &str, bridge: &str) {
    let nft = in_engine_ns(e, &["nft", "list", "tables"]);
    assert!(nft.status.success(), "{}", show(&nft));
    let tables = String::from_utf8_lossy(&nft.stdout);
    assert!(
        !tables.contains(&format!("berth-{}", &id[..12])),
        "{tables}"
    );
    let links = in_engine_ns(e, &["ip", "-o", "link"]);
    let links = String::from_utf8_lossy(&links.stdout);
    assert!(!links.contains(bridge) && !links.contains(" vb"), "{links}");
}

/// `network create --ipv6` with the subnets `10.203.N.0/24` and `fd00:203:N::/64`, then `rest`
/// (options and the name).
fn dual_stack_network(e: &Engine, n: u8, rest: &[&str]) {
    let (v4, v6) = (format!("10.203.{n}.0/24"), format!("fd00:203:{n}::/64"));
    let mut args = vec![
        "network", "create", "--ipv6", "--subnet", &v4, "--subnet", &v6,
    ];
    args.extend_from_slice(rest);
    e.ok(&args);
}

fn ip6_of(e: &Engine, container: &str, network: &str) -> String {
    let fmt = format!("{{{{(index .NetworkSettings.Networks \"{network}\").GlobalIPv6Address}}}}");
    e.ok(&["inspect", "-f", &fmt, container])
}

#[test]
fn network_ipv6_containers_reach_each_other_by_name_and_publish_over_ipv6() {
    let e = Engine::start("net_ipv6");
    if let Some(reason) = ipv6_missing(&e) {
        eprintln!(
            "SKIP network_ipv6_containers_reach_each_other_by_name_and_publish_over_ipv6: {reason}"
        );
        return;
    }
    dual_stack_network(
        &e,
        11,
        &["-o", "com.docker.network.bridge.name=brv6test", "v6net"],
    );
    let gw6 = e.ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .IPAM.Config}}{{if .Gateway}}{{.Gateway}} {{end}}{{end}}",
        "v6net",
    ]);
    assert!(gw6.contains("fd00:203:11::1"), "{gw6}");
    web(
        &e,
        &[
            "--name",
            "srv6",
            "--network",
            "v6net",
            "--network-alias",
            "svc6",
            "-p",
            "18094:8080",
            "-p",
            "[::1]:18095:8080",
        ],
        "hello-v6",
    );
    let ip6 = ip6_of(&e, "srv6", "v6net");
    assert!(ip6.starts_with("fd00:203:11::"), "{ip6}");
    let got = e.docker(&[
        "run",
        "--rm",
        "--network",
        "v6net",
        IMAGE,
        "sh",
        "-c",
        HTTP6_SH,
        "http",
        "svc6",
        "8080",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&got.stdout).trim(),
        "hello-v6",
        "{}\n{}",
        show(&got),
        diag(&e)
    );
    let addr = e.ok(&[
        "run",
        "--rm",
        "--network",
        "v6net",
        IMAGE,
        "ip",
        "-6",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(addr.contains("inet6 fd00:203:11::"), "{addr}");
    // From the engine's namespace (the host side): the bridge's IPv6 address and ::1.
    for (host, port) in [("fd00:203:11::1", "18094"), ("::1", "18095")] {
        let got = in_engine_ns(
            &e,
            &[
                crate::harness::BUSYBOX,
                "sh",
                "-c",
                HTTP6_SH,
                "http",
                host,
                port,
            ],
        );
        assert_eq!(
            String::from_utf8_lossy(&got.stdout).trim(),
            "hello-v6",
            "[{host}]:{port}: {}\n{}",
            show(&got),
            diag(&e)
        );
    }
    let ports = e.ok(&["port", "srv6", "8080"]);
    assert!(
        ports.contains("[::1]:18095") || ports.contains("::1:18095"),
        "{ports}"
    );
    e.ok(&["rm", "-f", "srv6"]);
    let id = e.ok(&["network", "inspect", "-f", "{{.Id}}", "v6net"]);
    e.ok(&["network", "rm", "v6net"]);
    assert_network_gone(&e, &id, "brv6test");
}

#[test]
fn network_ipv6_is_refused_with_a_hint_when_not_enabled() {
    let e = Engine::start("net_ipv6_off");
    let out = e.docker(&["network", "create", "--subnet", "fd00:203:12::/64", "nov6"]);
    assert!(!out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--ipv6"),
        "{}",
        show(&out)
    );
}

#[test]
fn network_ports_publish_through_the_first_non_internal_network_and_hairpin() {
    let e = Engine::start("net_multi_ports");
    e.ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        "10.203.12.0/24",
        "inner",
    ]);
    e.ok(&["network", "create", "--subnet", "10.203.13.0/24", "outer"]);
    let script = "mkdir -p /www && echo multi > /www/index.html && exec httpd -f -p 8080 -h /www";
    e.ok(&[
        "create",
        "--name",
        "multi",
        "--network",
        "inner",
        "-p",
        "18096:8080",
        IMAGE,
        "sh",
        "-c",
        script,
    ]);
    e.ok(&["network", "connect", "outer", "multi"]);
    e.ok(&["start", "multi"]);
    let outer_ip = ip_of(&e, "multi", "outer");
    assert!(outer_ip.starts_with("10.203.13."), "{outer_ip}");
    let lo = fetch(&e, "127.0.0.1", "18096");
    assert_eq!(
        String::from_utf8_lossy(&lo.stdout).trim(),
        "multi",
        "{}\n{}",
        show(&lo),
        diag(&e)
    );
    let rules =
        String::from_utf8_lossy(&in_engine_ns(&e, &["nft", "list", "ruleset"]).stdout).to_string();
    assert!(
        rules.contains(&format!("dnat to {outer_ip}:8080")),
        "DNAT does not go to the outer address: {rules}"
    );
    // Hairpin: a peer on the same network reaches the published port through the host's
    // address on `outer`.
    let gw = gateway_of(&e, "outer");
    let mut args = vec!["run", "--rm", "--network", "outer", IMAGE];
    args.extend(http_args(&gw, "18096", false));
    let peer = e.docker(&args);
    assert_eq!(
        String::from_utf8_lossy(&peer.stdout).trim(),
        "multi",
        "{}\n{}",
        show(&peer),
        diag(&e)
    );
}

#[test]
fn network_ipv6_dns_answers_on_the_ipv6_gateway_too() {
    let e = Engine::start("net_ipv6_dns");
    if let Some(reason) = ipv6_missing(&e) {
        eprintln!("SKIP network_ipv6_dns_answers_on_the_ipv6_gateway_too: {reason}");
        return;
    }
    dual_stack_network(&e, 16, &["dnsv6"]);
    e.ok(&[
        "run",
        "-d",
        "--name",
        "named6",
        "--network",
        "dnsv6",
        "--network-alias",
        "svc",
        IMAGE,
        "sleep",
        "1000",
    ]);
    let (ip4, ip6) = (ip_of(&e, "named6", "dnsv6"), ip6_of(&e, "named6", "dnsv6"));
    let resolv = e.ok(&["exec", "named6", "cat", "/etc/resolv.conf"]);
    let servers: Vec<&str> = resolv
        .lines()
        .filter(|l| l.starts_with("nameserver"))
        .collect();
    assert_eq!(
        servers,
        ["nameserver 10.203.16.1", "nameserver fd00:203:16::1"],
        "both gateways, IPv4 first: {resolv}"
    );
    // Asked on the IPv6 gateway, from a peer (over IPv6), for both record types.
    for (kind, want) in [("aaaa", &ip6), ("a", &ip4)] {
        let ty = format!("-type={kind}");
        let got = e.docker(&[
            "run",
            "--rm",
            "--network",
            "dnsv6",
            IMAGE,
            "nslookup",
            &ty,
            "svc",
            "fd00:203:16::1",
        ]);
        let text = String::from_utf8_lossy(&got.stdout);
        assert!(
            got.status.success() && text.contains(want.as_str()),
            "{kind} of svc on [fd00:203:16::1]:53 should be {want}: {}\n{}",
            show(&got),
            diag(&e)
        );
    }
    e.ok(&["rm", "-f", "named6"]);
    e.ok(&["network", "rm", "dnsv6"]);
}
