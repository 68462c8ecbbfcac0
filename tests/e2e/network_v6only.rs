//! IPv6-only networks (`--ipv4=false --ipv6`, API `EnableIPv4: false`, compose
//! `enable_ipv4: false`): containers with only an IPv6 address talking by name over AAAA,
//! published ports on IPv6 host addresses by DNAT and on IPv4 ones through the userland
//! forwarder, internal networks without a route out, compose up/down, and the refusals.
//!
//! As in `network.rs`, each engine has its own network namespace.

use crate::harness::{BUSYBOX, Engine, IMAGE};
use crate::network::{diag, fetch, in_engine_ns, web};
use crate::network_v6::{HTTP6_SH, assert_network_gone, ipv6_missing};
use crate::util::show;

/// `docker network create --ipv4=false --ipv6 --subnet fd00:204:N::/64` plus `rest`.
fn v6_only_network(e: &Engine, n: u8, rest: &[&str]) -> String {
    let subnet = format!("fd00:204:{n}::/64");
    let mut args = vec![
        "network",
        "create",
        "--ipv4=false",
        "--ipv6",
        "--subnet",
        &subnet,
    ];
    args.extend_from_slice(rest);
    e.ok(&args)
}

/// The page at `[host]:port` fetched over IPv6 from the engine's namespace.
fn fetch6(e: &Engine, host: &str, port: &str) -> String {
    let got = in_engine_ns(e, &[BUSYBOX, "sh", "-c", HTTP6_SH, "http", host, port]);
    String::from_utf8_lossy(&got.stdout).trim().to_owned()
}

fn nft_tables(e: &Engine) -> String {
    let nft = in_engine_ns(e, &["nft", "list", "tables"]);
    assert!(nft.status.success(), "{}", show(&nft));
    String::from_utf8_lossy(&nft.stdout).into_owned()
}

/// The IPv4 host port in `port` output (`0.0.0.0:N`).
fn ipv4_port_in(ports: &str) -> String {
    ports
        .lines()
        .find_map(|l| l.strip_prefix("0.0.0.0:"))
        .unwrap_or_else(|| panic!("no IPv4 binding in {ports:?}"))
        .to_owned()
}

#[test]
fn network_ipv6_only_containers_talk_by_name_and_publish_on_both_families() {
    let mut e = Engine::start("net_v6only");
    if let Some(reason) = ipv6_missing(&e) {
        eprintln!(
            "SKIP network_ipv6_only_containers_talk_by_name_and_publish_on_both_families: {reason}"
        );
        return;
    }
    let id = v6_only_network(
        &e,
        1,
        &["-o", "com.docker.network.bridge.name=brv6only", "only6"],
    );
    let fmt =
        "{{.EnableIPv4}} {{.EnableIPv6}} {{range .IPAM.Config}}{{.Subnet}}={{.Gateway}} {{end}}";
    let view = e.ok(&["network", "inspect", "-f", fmt, "only6"]);
    assert_eq!(view, "false true fd00:204:1::/64=fd00:204:1::1", "{view}");
    let bridge = in_engine_ns(&e, &["ip", "-4", "-o", "addr", "show", "dev", "brv6only"]);
    assert!(
        String::from_utf8_lossy(&bridge.stdout).trim().is_empty(),
        "{}",
        show(&bridge)
    );
    web(
        &e,
        &[
            "--name",
            "srv",
            "--network",
            "only6",
            "--network-alias",
            "svc",
            "-p",
            "18190:8080",
        ],
        "hello-only6",
    );
    web(
        &e,
        &["--name", "rnd", "--network", "only6", "-p", "8080"],
        "hello-random",
    );
    let fmt = "{{with index .NetworkSettings.Networks \"only6\"}}[{{.IPAddress}}] {{.IPPrefixLen}} [{{.Gateway}}] {{.GlobalIPv6Address}}/{{.GlobalIPv6PrefixLen}} {{.IPv6Gateway}} {{.MacAddress}}{{end}}";
    let settings = e.ok(&["inspect", "-f", fmt, "srv"]);
    let words: Vec<&str> = settings.split_whitespace().collect();
    assert_eq!(words[..3], ["[]", "0", "[]"], "{settings}");
    assert!(
        words[3].starts_with("fd00:204:1::") && words[3].ends_with("/64"),
        "{settings}"
    );
    assert_eq!(words[4], "fd00:204:1::1", "{settings}");
    assert!(
        words[5].starts_with("02:") && words[5].split(':').count() == 6,
        "a locally administered MAC: {settings}"
    );
    // A peer reaches the server by its service alias (AAAA) over TCP.
    let got = e.docker(&[
        "run",
        "--rm",
        "--network",
        "only6",
        IMAGE,
        "sh",
        "-c",
        HTTP6_SH,
        "http",
        "svc",
        "8080",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&got.stdout).trim(),
        "hello-only6",
        "{}\n{}",
        show(&got),
        diag(&e)
    );
    let inside = e.ok(&[
        "exec",
        "srv",
        "sh",
        "-c",
        "ip -4 -o addr; echo ---; cat /etc/resolv.conf; echo ---; cat /etc/hosts; echo ---; ip -6 route",
    ]);
    let parts: Vec<&str> = inside.split("---").collect();
    let v4: Vec<&str> = parts[0].lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        v4.iter().all(|l| l.contains(" lo ")),
        "IPv4 beyond lo: {inside}"
    );
    let servers: Vec<&str> = parts[1]
        .lines()
        .filter(|l| l.starts_with("nameserver"))
        .collect();
    assert_eq!(servers, ["nameserver fd00:204:1::1"], "{inside}");
    assert!(
        parts[2].contains(&format!("{}\t", &words[3][..words[3].len() - 3])),
        "{inside}"
    );
    assert!(parts[3].contains("default via fd00:204:1::1"), "{inside}");
    // Published: [::1] and the bridge by DNAT/forwarder, 127.0.0.1 through the forwarder.
    assert_eq!(fetch6(&e, "::1", "18190"), "hello-only6", "{}", diag(&e));
    let lo4 = fetch(&e, "127.0.0.1", "18190");
    assert_eq!(
        String::from_utf8_lossy(&lo4.stdout).trim(),
        "hello-only6",
        "{}\n{}",
        show(&lo4),
        diag(&e)
    );
    let random = ipv4_port_in(&e.ok(&["port", "rnd", "8080"]));
    assert_ne!(random, "0", "a random port is reported");
    let got = fetch(&e, "127.0.0.1", &random);
    assert_eq!(
        String::from_utf8_lossy(&got.stdout).trim(),
        "hello-random",
        "{}",
        show(&got)
    );
    assert_eq!(fetch6(&e, "::1", &random), "hello-random");
    let tables = nft_tables(&e);
    let table = format!("berth-{}", &id[..12]);
    assert!(tables.contains(&format!("table ip6 {table}")), "{tables}");
    assert!(!tables.contains(&format!("table ip {table}")), "{tables}");
    // The network comes back as it was after a daemon crash.
    let before = e.ok(&["network", "inspect", "only6"]);
    e.crash_and_restart();
    let after = e.ok(&["network", "inspect", "only6"]);
    let strip = |s: &str| -> String {
        let v: serde_json::Value = serde_json::from_str(s).unwrap();
        let mut net = v[0].clone();
        net["Containers"] = serde_json::Value::Null;
        net.to_string()
    };
    assert_eq!(strip(&before), strip(&after));
    let again = fetch(&e, "127.0.0.1", "18190");
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        "hello-only6",
        "the forwarder is back after the restart: {}\n{}",
        show(&again),
        diag(&e)
    );
    e.ok(&["rm", "-f", "srv", "rnd"]);
    e.ok(&["network", "rm", "only6"]);
    assert_network_gone(&e, &id, "brv6only");
}

#[test]
fn network_ipv6_only_internal_has_no_route_out_and_ipv4_peers_keep_working() {
    let e = Engine::start("net_v6only_int");
    if let Some(reason) = ipv6_missing(&e) {
        eprintln!(
            "SKIP network_ipv6_only_internal_has_no_route_out_and_ipv4_peers_keep_working: {reason}"
        );
        return;
    }
    v6_only_network(&e, 2, &["--internal", "inner6"]);
    let routes = e.ok(&[
        "run",
        "--rm",
        "--network",
        "inner6",
        IMAGE,
        "sh",
        "-c",
        "ip -6 route; echo ---; ip -4 route",
    ]);
    let (v6, v4) = routes.split_once("---").unwrap();
    assert!(
        !v6.contains("default"),
        "internal network with a default route: {routes}"
    );
    assert!(v6.contains("fd00:204:2::/64"), "{routes}");
    assert!(v4.trim().is_empty(), "{routes}");
    // A container on an IPv4 network and an IPv6-only one: published over IPv4 as before, and
    // reachable by name from the IPv6-only side.
    e.ok(&["network", "create", "--subnet", "10.203.40.0/24", "plain4"]);
    v6_only_network(&e, 3, &["side6"]);
    let script = "mkdir -p /www && echo both > /www/index.html && exec httpd -f -p 8080 -h /www";
    e.ok(&[
        "create",
        "--name",
        "both",
        "--network",
        "plain4",
        "-p",
        "18191:8080",
        IMAGE,
        "sh",
        "-c",
        script,
    ]);
    e.ok(&["network", "connect", "side6", "both"]);
    e.ok(&["start", "both"]);
    let lo = fetch(&e, "127.0.0.1", "18191");
    assert_eq!(
        String::from_utf8_lossy(&lo.stdout).trim(),
        "both",
        "{}\n{}",
        show(&lo),
        diag(&e)
    );
    let got = e.docker(&[
        "run",
        "--rm",
        "--network",
        "side6",
        IMAGE,
        "sh",
        "-c",
        HTTP6_SH,
        "http",
        "both",
        "8080",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&got.stdout).trim(),
        "both",
        "{}",
        show(&got)
    );
    e.ok(&["rm", "-f", "both"]);
}

#[test]
fn network_ipv6_only_compose_up_and_down_leave_nothing() {
    let e = Engine::start("net_v6only_compose");
    if let Some(reason) = ipv6_missing(&e) {
        eprintln!("SKIP network_ipv6_only_compose_up_and_down_leave_nothing: {reason}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("compose.yaml"),
        format!(
            "name: v6c\nservices:\n  web:\n    image: {IMAGE}\n    command: [sh, -c, 'mkdir -p /www && echo composed > /www/index.html && exec httpd -f -p 8080 -h /www']\n    ports: ['8080']\nnetworks:\n  default:\n    enable_ipv4: false\n    enable_ipv6: true\n    driver_opts:\n      com.docker.network.bridge.name: brv6compose\n"
        ),
    )
    .unwrap();
    e.berth(dir.path())
        .args(["up", "-d", "--progress", "quiet"])
        .ok();
    let view = e.ok(&[
        "network",
        "inspect",
        "-f",
        "{{.EnableIPv4}} {{.EnableIPv6}}",
        "v6c_default",
    ]);
    assert_eq!(view, "false true");
    let id = e.ok(&["network", "inspect", "-f", "{{.Id}}", "v6c_default"]);
    let got = e.docker(&[
        "run",
        "--rm",
        "--network",
        "v6c_default",
        IMAGE,
        "sh",
        "-c",
        HTTP6_SH,
        "http",
        "web",
        "8080",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&got.stdout).trim(),
        "composed",
        "{}\n{}",
        show(&got),
        diag(&e)
    );
    let random = ipv4_port_in(&e.berth(dir.path()).args(["port", "web", "8080"]).ok());
    let got = fetch(&e, "127.0.0.1", &random);
    assert_eq!(
        String::from_utf8_lossy(&got.stdout).trim(),
        "composed",
        "{}",
        show(&got)
    );
    let cid = e.ok(&[
        "ps",
        "-q",
        "--no-trunc",
        "--filter",
        "label=com.docker.compose.project=v6c",
    ]);
    e.berth(dir.path())
        .args(["down", "--progress", "quiet"])
        .ok();
    assert_network_gone(&e, &id, "brv6compose");
    assert!(
        !e.data_root()
            .join("containers")
            .join(cid.trim())
            .join("netns")
            .exists()
    );
}

#[test]
fn network_ipv6_only_refusals_name_the_problem_and_build_nothing() {
    let e = Engine::start("net_v6only_err");
    let before = in_engine_ns(&e, &["ip", "-o", "link", "show"]);
    let refused = |args: &[&str], want: &str| {
        let out = e.docker(args);
        assert!(!out.status.success(), "{args:?}: {}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(want),
            "{args:?}: {}",
            show(&out)
        );
    };
    refused(
        &["network", "create", "--ipv4=false", "neither"],
        "IPv4 or IPv6 must be enabled",
    );
    refused(
        &[
            "network",
            "create",
            "--ipv4=false",
            "--ipv6",
            "--subnet",
            "10.203.41.0/24",
            "v4sub",
        ],
        "IPv4 subnet 10.203.41.0/24",
    );
    let dir = tempfile::tempdir().unwrap();
    let err = e
        .berth(dir.path())
        .args(["network", "create", "--ipv4=false", "neither"])
        .fails();
    assert!(err.contains("IPv4 or IPv6 must be enabled"), "{err}");
    let ls = e.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!ls.contains("neither") && !ls.contains("v4sub"), "{ls}");
    let after = in_engine_ns(&e, &["ip", "-o", "link", "show"]);
    assert_eq!(before.stdout, after.stdout, "links appeared");
    if ipv6_missing(&e).is_none() {
        e.berth(dir.path())
            .args(["network", "create", "--ipv4=false", "--ipv6", "only6"])
            .ok();
        let view = e.ok(&["network", "inspect", "-f", "{{.EnableIPv4}}", "only6"]);
        assert_eq!(view, "false");
        refused(
            &[
                "run",
                "--rm",
                "--network",
                "only6",
                "--ip",
                "10.203.42.5",
                IMAGE,
                "true",
            ],
            "IPv6-only",
        );
    }
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  web:\n    image: busybox\nnetworks:\n  default:\n    enable_ipv4: false\n",
    )
    .unwrap();
    let err = e
        .berth(dir.path())
        .args(["up", "-d", "--progress", "quiet"])
        .fails();
    assert!(
        err.contains("compose.yaml:6:18") && err.contains("IPv4 or IPv6"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
}
