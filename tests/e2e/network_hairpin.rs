//! Hairpin to a container's own published port: the container that publishes a port reaches it
//! through a host address (its network's gateway, IPv4 and IPv6), with `br_netfilter` calling
//! the IP hooks for bridged traffic (`bridge-nf-call-iptables=1` and `bridge-nf-call-ip6tables=1`,
//! Docker's usual host) and without it.
//!
//! With `br_netfilter` the DNAT happens while the frame is still bridged: the rewritten frame
//! must leave through the port it came in on, which a bridge only does in hairpin mode. The
//! sysctl is per network namespace on current kernels; the test sets it in the engine's
//! namespace and puts the old value back afterwards, whatever happens.

use crate::harness::Engine;
use crate::network::{HTTP_SH, diag, gateway_of, in_engine_ns, web};
use crate::network_v6::{HTTP6_SH, ipv6_missing};
use crate::util::show;

const BR_NF: [&str; 2] = [
    "/proc/sys/net/bridge/bridge-nf-call-iptables",
    "/proc/sys/net/bridge/bridge-nf-call-ip6tables",
];

/// Sets `bridge-nf-call-iptables` and `-ip6tables` in the engine's namespace; puts the old
/// values back on drop.
struct BrNetfilter<'a> {
    engine: &'a Engine,
    old: Vec<String>,
}

impl<'a> BrNetfilter<'a> {
    /// `None` when the kernel has no `br_netfilter` (after trying `modprobe`).
    fn set(engine: &'a Engine, value: &str) -> Option<Self> {
        let read = |path: &str| {
            let out = in_engine_ns(engine, &["cat", path]);
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        };
        let read_all = || BR_NF.iter().map(|p| read(p)).collect::<Option<Vec<_>>>();
        let old = read_all().or_else(|| {
            // Built as a module: load it (a missing modprobe only means it stays absent).
            let _ = std::process::Command::new("modprobe")
                .arg("br_netfilter")
                .status();
            read_all()
        })?;
        for path in BR_NF {
            write_sysctl(engine, path, value);
        }
        Some(Self { engine, old })
    }
}

impl Drop for BrNetfilter<'_> {
    fn drop(&mut self) {
        for (path, value) in BR_NF.iter().zip(&self.old) {
            write_sysctl(self.engine, path, value);
        }
    }
}

fn write_sysctl(engine: &Engine, path: &str, value: &str) {
    let script = format!("echo {value} > {path}");
    let out = in_engine_ns(engine, &["sh", "-c", &script]);
    assert!(out.status.success(), "set {path}: {}", show(&out));
}

/// The page the container `self` gets from its own published port through `gateway` (IPv4 or
/// IPv6); `once` tries a single time (the server is known to be up).
fn own_port(e: &Engine, gateway: &str, once: bool) -> std::process::Output {
    let env = if once { "ONCE=1" } else { "ONCE=" };
    let script = if gateway.contains(':') {
        HTTP6_SH
    } else {
        HTTP_SH
    };
    let mut args = vec!["exec", "self", "env", env];
    args.extend_from_slice(&["sh", "-c", script, "http", gateway, "18098"]);
    e.docker(&args)
}

#[test]
fn network_container_reaches_its_own_published_port_with_and_without_br_netfilter() {
    let e = Engine::start("net_hairpin");
    let ipv6 = ipv6_missing(&e);
    if let Some(reason) = &ipv6 {
        eprintln!(
            "SKIP the IPv6 part of network_container_reaches_its_own_published_port: {reason}"
        );
    }
    let mut create = vec!["network", "create", "--subnet", "10.203.15.0/24"];
    if ipv6.is_none() {
        create.extend_from_slice(&["--ipv6", "--subnet", "fd00:203:15::/64"]);
    }
    create.extend_from_slice(&["-o", "com.docker.network.bridge.name=brhairpin", "hairnet"]);
    e.ok(&create);
    web(
        &e,
        &["--name", "self", "--network", "hairnet", "-p", "18098:8080"],
        "own-port",
    );
    let mut gateways = vec![gateway_of(&e, "hairnet")];
    if ipv6.is_none() {
        gateways.push("fd00:203:15::1".to_owned());
    }
    for (value, once) in [("0", false), ("1", true)] {
        // Without br_netfilter in the kernel the "0" case is how it behaves anyway.
        let guard = BrNetfilter::set(&e, value);
        if guard.is_none() && value == "1" {
            eprintln!(
                "SKIP network_container_reaches_its_own_published_port with br_netfilter: the kernel has none ({} is missing after modprobe)",
                BR_NF[0]
            );
            continue;
        }
        for gw in &gateways {
            let got = own_port(&e, gw, once);
            assert_eq!(
                String::from_utf8_lossy(&got.stdout).trim(),
                "own-port",
                "{gw}, bridge-nf-call-ip(6)tables={value}: {}\n{}",
                show(&got),
                diag(&e)
            );
        }
    }
    let port = in_engine_ns(&e, &["bridge", "-d", "link", "show"]);
    assert!(
        String::from_utf8_lossy(&port.stdout).contains("hairpin on"),
        "the container's bridge port is not in hairpin mode: {}",
        show(&port)
    );
    e.ok(&["rm", "-f", "self"]);
    e.ok(&["network", "rm", "hairnet"]);
}
