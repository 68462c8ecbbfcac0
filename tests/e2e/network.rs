//! Real networking end to end through the docker CLI and `berth network`: name resolution and
//! TCP between containers, isolation between networks, DNS rotation, published ports, internal
//! networks, static addresses, `container:` mode, and nothing left behind after removal.
//!
//! Every engine of the harness runs in its own network namespace, so these tests only ever
//! reach addresses inside that namespace (its bridges, its loopback).

use std::process::{Command, Output};

use crate::harness::{BUSYBOX, Engine, IMAGE};
use crate::util::show;

/// Runs `argv` in the engine's network namespace (where its bridges and published ports are).
pub(super) fn in_engine_ns(e: &Engine, argv: &[&str]) -> Output {
    Command::new("nsenter")
        .arg(format!("--net=/proc/{}/ns/net", e.pid()))
        .arg("--")
        .args(argv)
        .output()
        .expect("run nsenter")
}

/// One HTTP GET with busybox `nc` (busybox's `wget` crashes on refused connections): prints
/// the body's last line. `HOST` may be a name, resolved by `nslookup` (the static busybox
/// cannot use NSS). Retried while the server starts (about 10 s at most).
pub(super) const HTTP_SH: &str = r#"h=$1; p=$2
for i in $(seq 100); do
  a=$h
  case $h in *[!0-9.]*) a=$(nslookup -type=a "$h" 2>/dev/null | awk '/^Address/ && !/:53$/ {print $NF; exit}');; esac
  if [ -n "$a" ]; then
    r=$(printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 "$a" "$p" 2>/dev/null)
    if [ -n "$r" ]; then echo "$r" | tail -n 1; exit 0; fi
  fi
  [ -n "$ONCE" ] && exit 1
  sleep 0.1
done
exit 1"#;

/// `ip -4 -o addr show eth0` in a running container.
pub(super) fn eth0_v4(e: &Engine, container: &str) -> String {
    e.ok(&["exec", container, "ip", "-4", "-o", "addr", "show", "eth0"])
}

/// The page at `host:port` fetched from the engine's namespace (the host side of its networks).
pub(super) fn fetch(e: &Engine, host: &str, port: &str) -> Output {
    in_engine_ns(e, &[BUSYBOX, "sh", "-c", HTTP_SH, "http", host, port])
}

/// docker-run arguments fetching `host:port` from inside a container; `once` tries only once.
pub(super) fn http_args<'a>(host: &'a str, port: &'a str, once: bool) -> Vec<&'a str> {
    let env = if once { "ONCE=1" } else { "ONCE=" };
    vec!["env", env, "sh", "-c", HTTP_SH, "http", host, port]
}

/// What the engine's namespace looks like, for failure messages.
pub(super) fn diag(e: &Engine) -> String {
    let mut out = String::new();
    for argv in [
        &["ip", "-o", "addr"][..],
        &["ip", "-o", "link"],
        &["nft", "list", "ruleset"],
    ] {
        out.push_str(&show(&in_engine_ns(e, argv)));
    }
    out.push_str(&e.log());
    out
}

/// A detached busybox web server answering `body` on port 8080.
pub(super) fn web(e: &Engine, extra: &[&str], body: &str) -> String {
    let script =
        format!("mkdir -p /www && echo {body} > /www/index.html && exec httpd -f -p 8080 -h /www");
    let mut args = vec!["run", "-d"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[IMAGE, "sh", "-c", &script]);
    e.ok(&args)
}

pub(super) fn ip_of(e: &Engine, container: &str, network: &str) -> String {
    let fmt = format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}");
    e.ok(&["inspect", "-f", &fmt, container])
}

pub(super) fn gateway_of(e: &Engine, network: &str) -> String {
    e.ok(&[
        "network",
        "inspect",
        "-f",
        "{{(index .IPAM.Config 0).Gateway}}",
        network,
    ])
}

#[test]
fn network_containers_reach_each_other_by_name_and_not_across_networks() {
    let e = Engine::start("net_name");
    e.ok(&["network", "create", "--subnet", "10.203.1.0/24", "front"]);
    e.ok(&["network", "create", "--subnet", "10.203.2.0/24", "back"]);
    web(&e, &["--name", "srv", "--network", "front"], "hello-front");
    let mut args = vec!["run", "--rm", "--network", "front", IMAGE];
    args.extend(http_args("srv", "8080", false));
    let got = e.ok(&args);
    assert_eq!(got, "hello-front");
    let ip = ip_of(&e, "srv", "front");
    assert!(ip.starts_with("10.203.1."), "{ip}");
    let mut args = vec!["run", "--rm", "--network", "back", IMAGE];
    args.extend(http_args(&ip, "8080", true));
    let across = e.docker(&args);
    assert!(
        !across.status.success(),
        "back reached front: {}",
        show(&across)
    );
    let name_across = e.docker(&["run", "--rm", "--network", "back", IMAGE, "nslookup", "srv"]);
    assert!(
        !String::from_utf8_lossy(&name_across.stdout).contains(&ip),
        "back resolved a name of front: {}",
        show(&name_across)
    );
}

#[test]
fn network_dns_answers_rotate_across_three_replicas() {
    let e = Engine::start("net_dns");
    e.ok(&["network", "create", "--subnet", "10.203.3.0/24", "dnsnet"]);
    let mut ips = Vec::new();
    for i in 1..=3 {
        let name = format!("replica{i}");
        e.ok(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "dnsnet",
            "--network-alias",
            "svc",
            "--label",
            "com.docker.compose.service=svc",
            IMAGE,
            "sleep",
            "300",
        ]);
        ips.push(ip_of(&e, &name, "dnsnet"));
    }
    let out = e.ok(&[
        "run", "--rm", "--network", "dnsnet", IMAGE, "sh", "-c",
        "for i in 1 2 3 4 5 6; do nslookup -type=a svc | grep '^Address' | grep -v ':53' | head -n1; done",
    ]);
    let firsts: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    assert_eq!(firsts.len(), 6, "{out}");
    for f in &firsts {
        assert!(
            ips.iter().any(|ip| ip == f),
            "{f} is not a replica: {ips:?}"
        );
    }
    let distinct: std::collections::BTreeSet<&&str> = firsts.iter().collect();
    assert!(distinct.len() >= 2, "answers never rotate: {out}");
}

#[test]
fn network_published_ports_answer_on_loopback_gateway_and_random_port() {
    let e = Engine::start("net_ports");
    web(&e, &["--name", "pub", "-p", "18080:8080"], "published");
    web(&e, &["--name", "rnd", "-p", "8080"], "random");
    let lo = fetch(&e, "127.0.0.1", "18080");
    assert_eq!(
        String::from_utf8_lossy(&lo.stdout).trim(),
        "published",
        "{}\n{}\n{}",
        show(&lo),
        show(&e.docker(&["logs", "pub"])),
        diag(&e)
    );
    let gw = gateway_of(&e, "bridge");
    let via_gw = fetch(&e, &gw, "18080");
    assert_eq!(
        String::from_utf8_lossy(&via_gw.stdout).trim(),
        "published",
        "{}",
        show(&via_gw)
    );
    let port = e.ok(&["port", "rnd", "8080"]);
    let hostport = port
        .lines()
        .next()
        .and_then(|l| l.rsplit(':').next())
        .unwrap_or_default()
        .to_owned();
    assert!(
        hostport.parse::<u16>().is_ok_and(|p| p >= 49153),
        "docker port said {port:?}"
    );
    let random = fetch(&e, "127.0.0.1", &hostport);
    assert_eq!(
        String::from_utf8_lossy(&random.stdout).trim(),
        "random",
        "{}",
        show(&random)
    );
    let clash = e.docker(&[
        "run",
        "-d",
        "--name",
        "clash",
        "-p",
        "18080:8080",
        IMAGE,
        "sleep",
        "30",
    ]);
    assert!(!clash.status.success(), "a second bind of 18080 succeeded");
    assert!(
        String::from_utf8_lossy(&clash.stderr).contains("port is already allocated"),
        "{}",
        show(&clash)
    );
    let inspect = e.ok(&["inspect", "-f", "{{.State.Running}}", "clash"]);
    assert_eq!(inspect, "false");
}

#[test]
fn network_internal_has_no_egress_and_static_ip_is_honoured() {
    let e = Engine::start("net_internal");
    e.ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        "10.203.4.0/24",
        "sealed",
    ]);
    let out = e.ok(&[
        "run",
        "--rm",
        "--network",
        "sealed",
        "--ip",
        "10.203.4.77",
        IMAGE,
        "sh",
        "-c",
        "ip -4 addr show eth0; echo ROUTES; ip route",
    ]);
    assert!(out.contains("inet 10.203.4.77/24"), "{out}");
    let routes = out.split("ROUTES").nth(1).unwrap_or_default();
    assert!(
        !routes.contains("default"),
        "internal network has a default route: {out}"
    );
    // Something outside the network: a published server on the default bridge.
    web(&e, &["--name", "outside", "-p", "18081:8080"], "outside");
    let gw = gateway_of(&e, "bridge");
    let up = fetch(&e, &gw, "18081");
    assert!(
        up.status.success(),
        "the outside server never answered: {}",
        show(&up)
    );
    let mut args = vec!["run", "--rm", "--network", "sealed", IMAGE];
    args.extend(http_args(&gw, "18081", true));
    let egress = e.docker(&args);
    assert!(
        !egress.status.success(),
        "internal network reached out: {}",
        show(&egress)
    );
    let dns = e.docker(&[
        "run",
        "--rm",
        "--network",
        "sealed",
        IMAGE,
        "nslookup",
        "-timeout=2",
        "outside.example",
    ]);
    assert!(
        !dns.status.success(),
        "internal network forwarded DNS: {}",
        show(&dns)
    );
    let taken = e.docker(&[
        "run",
        "-d",
        "--network",
        "sealed",
        "--ip",
        "10.203.4.77",
        "--name",
        "a77",
        IMAGE,
        "sleep",
        "60",
    ]);
    assert!(taken.status.success(), "{}", show(&taken));
    let again = e.docker(&[
        "run",
        "-d",
        "--network",
        "sealed",
        "--ip",
        "10.203.4.77",
        IMAGE,
        "sleep",
        "60",
    ]);
    assert!(
        !again.status.success(),
        "the same static address was given twice"
    );
}

#[test]
fn network_container_mode_shares_the_namespace() {
    let e = Engine::start("net_container_mode");
    e.ok(&["network", "create", "--subnet", "10.203.5.0/24", "shared"]);
    e.ok(&[
        "run",
        "-d",
        "--name",
        "xx",
        "--network",
        "shared",
        IMAGE,
        "sleep",
        "300",
    ]);
    let ip = ip_of(&e, "xx", "shared");
    let out = e.ok(&[
        "run",
        "--rm",
        "--network",
        "container:xx",
        IMAGE,
        "ip",
        "-4",
        "addr",
    ]);
    assert!(out.contains(&format!("inet {ip}/24")), "{out}");
}

#[test]
fn network_removal_leaves_no_bridge_veth_netns_or_rule() {
    let e = Engine::start("net_cleanup");
    let id = e.ok(&[
        "network",
        "create",
        "--subnet",
        "10.203.6.0/24",
        "-o",
        "com.docker.network.bridge.name=brcleanup",
        "gone",
    ]);
    let cid = e.ok(&[
        "run",
        "-d",
        "--network",
        "gone",
        "-p",
        "18082:8080",
        IMAGE,
        "sleep",
        "300",
    ]);
    let links =
        String::from_utf8_lossy(&in_engine_ns(&e, &["ip", "-o", "link"]).stdout).to_string();
    assert!(links.contains("brcleanup"), "{links}");
    assert!(links.contains(" vb"), "no veth while running: {links}");
    let handle = e.data_root().join("containers").join(&cid).join("netns");
    assert!(handle.exists(), "no namespace handle while running");
    e.ok(&["rm", "-f", &cid]);
    e.ok(&["network", "rm", "gone"]);
    let links =
        String::from_utf8_lossy(&in_engine_ns(&e, &["ip", "-o", "link"]).stdout).to_string();
    assert!(!links.contains("brcleanup"), "bridge left: {links}");
    assert!(!links.contains(" vb"), "veth left: {links}");
    assert!(!handle.exists(), "namespace handle left");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    assert!(!mounts.contains(&cid), "a mount of the container is left");
    let nft = in_engine_ns(&e, &["nft", "list", "ruleset"]);
    let rules = String::from_utf8_lossy(&nft.stdout);
    assert!(nft.status.success(), "{}", show(&nft));
    assert!(!rules.contains(&format!("berth-{}", &id[..12])), "{rules}");
    assert!(!rules.contains("18082"), "{rules}");
}

#[test]
fn network_berth_cli_creates_lists_inspects_and_removes() {
    let e = Engine::start("net_cli");
    let dir = e.scratch();
    let id = e
        .berth(dir)
        .arg_list(&[
            "network",
            "create",
            "--subnet",
            "10.203.7.0/24",
            "--gateway",
            "10.203.7.254",
            "--label",
            "tier=db",
            "clinet",
        ])
        .ok();
    assert_eq!(id.trim().len(), 64, "{id}");
    let dup = e
        .berth(dir)
        .arg_list(&["network", "create", "clinet"])
        .fails();
    assert!(dup.contains("already exists"), "{dup}");
    let table = e
        .berth(dir)
        .arg_list(&["network", "ls", "--filter", "label=tier=db"])
        .ok();
    assert!(table.starts_with("NETWORK ID"), "{table}");
    assert!(
        table.contains("clinet") && !table.contains("bridge   bridge"),
        "{table}"
    );
    let inspect = e
        .berth(dir)
        .arg_list(&["network", "inspect", "clinet"])
        .ok();
    let v: serde_json::Value = serde_json::from_str(&inspect).expect("inspect is JSON");
    assert_eq!(
        v[0]["IPAM"]["Config"][0]["Gateway"], "10.203.7.254",
        "{inspect}"
    );
    e.ok(&["run", "-d", "--name", "user", IMAGE, "sleep", "300"]);
    e.berth(dir)
        .arg_list(&[
            "network",
            "connect",
            "--ip",
            "10.203.7.9",
            "--alias",
            "db",
            "clinet",
            "user",
        ])
        .ok();
    assert_eq!(ip_of(&e, "user", "clinet"), "10.203.7.9");
    let busy = e.berth(dir).arg_list(&["network", "rm", "clinet"]).fails();
    assert!(busy.contains("active endpoints"), "{busy}");
    e.berth(dir)
        .arg_list(&["network", "disconnect", "clinet", "user"])
        .ok();
    let pruned = e.berth(dir).arg_list(&["network", "prune", "--force"]).ok();
    assert!(pruned.contains("clinet"), "{pruned}");
    let bad = e
        .berth(dir)
        .arg_list(&["network", "create", "--subnet", "10.203.8.0/33", "bad"])
        .fails();
    assert!(bad.contains("10.203.8.0/33"), "{bad}");
}

#[test]
fn network_survives_an_engine_crash_in_a_fresh_namespace() {
    let mut e = Engine::start("net_restart");
    e.ok(&["network", "create", "--subnet", "10.203.9.0/24", "kept"]);
    e.crash_and_restart_in_fresh_netns();
    let list = e.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(list.lines().any(|l| l == "kept"), "{list}");
    web(&e, &["--name", "again", "--network", "kept"], "rebuilt");
    let mut args = vec!["run", "--rm", "--network", "kept", IMAGE];
    args.extend(http_args("again", "8080", false));
    assert_eq!(e.ok(&args), "rebuilt");
}

#[test]
fn network_compose_ipv4_address_and_ip_range_are_honoured() {
    let e = Engine::start("net_compose_static");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("compose.yaml"),
        format!(
            "name: fixed\nservices:\n  a:\n    image: {IMAGE}\n    command: [sleep, '600']\n    networks:\n      front:\n        ipv4_address: 10.203.9.50\n      back:\n        ipv4_address: 10.203.10.60\n  b:\n    image: {IMAGE}\n    command: [sleep, '600']\n    networks: [front]\nnetworks:\n  front:\n    ipam:\n      config:\n        - subnet: 10.203.9.0/24\n          ip_range: 10.203.9.128/25\n  back:\n    ipam:\n      config:\n        - subnet: 10.203.10.0/24\n"
        ),
    )
    .unwrap();
    e.berth(dir.path())
        .args(["up", "-d", "--progress", "quiet"])
        .ok();
    let assert_static = |when: &str| {
        let addrs = e.ok(&["exec", "fixed-a-1", "ip", "-4", "-o", "addr"]);
        assert!(
            addrs.contains("inet 10.203.9.50/24") && addrs.contains("inet 10.203.10.60/24"),
            "{when}: {addrs}"
        );
    };
    assert_static("after up");
    // A dynamic address comes from the network's `ip_range`.
    let b = eth0_v4(&e, "fixed-b-1");
    let last: u8 = b
        .split("inet 10.203.9.")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no address on the front network: {b}"));
    assert!(last >= 128, "outside ip_range 10.203.9.128/25: {b}");
    // Its peer finds it at that address by the service name.
    let seen = e.ok(&["exec", "fixed-b-1", "nslookup", "-type=a", "a"]);
    assert!(seen.contains("10.203.9.50"), "{seen}");
    // A recreate (changed command) stops and removes the old container first, so the new one
    // gets the same address.
    let file = dir.path().join("compose.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replacen("[sleep, '600']", "[sleep, '601']", 1)).unwrap();
    e.berth(dir.path())
        .args(["up", "-d", "--progress", "quiet"])
        .ok();
    assert_static("after recreate");
    e.berth(dir.path())
        .args(["down", "--progress", "quiet"])
        .ok();
}
