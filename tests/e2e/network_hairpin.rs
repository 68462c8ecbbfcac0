//! Hairpin to a container's own published port: the container that publishes a port reaches it
//! through a host address (its network's gateway), with `br_netfilter` calling the IPv4 hooks
//! for bridged traffic (`bridge-nf-call-iptables=1`, Docker's usual host) and without it.
//!
//! With `br_netfilter` the DNAT happens while the frame is still bridged: the rewritten frame
//! must leave through the port it came in on, which a bridge only does in hairpin mode. The
//! sysctl is per network namespace on current kernels; the test sets it in the engine's
//! namespace and puts the old value back afterwards, whatever happens.

use crate::harness::Engine;
use crate::network::{HTTP_SH, diag, gateway_of, in_engine_ns, web};
use crate::util::show;

const BR_NF: &str = "/proc/sys/net/bridge/bridge-nf-call-iptables";

/// Sets `bridge-nf-call-iptables` in the engine's namespace; puts the old value back on drop.
struct BrNetfilter<'a> {
    engine: &'a Engine,
    old: String,
}

impl<'a> BrNetfilter<'a> {
    /// `None` when the kernel has no `br_netfilter` (after trying `modprobe`).
    fn set(engine: &'a Engine, value: &str) -> Option<Self> {
        let read = || {
            let out = in_engine_ns(engine, &["cat", BR_NF]);
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        };
        let old = read().or_else(|| {
            // Built as a module: load it (a missing modprobe only means it stays absent).
            let _ = std::process::Command::new("modprobe")
                .arg("br_netfilter")
                .status();
            read()
        })?;
        write_sysctl(engine, value);
        Some(Self { engine, old })
    }
}

impl Drop for BrNetfilter<'_> {
    fn drop(&mut self) {
        write_sysctl(self.engine, &self.old);
    }
}

fn write_sysctl(engine: &Engine, value: &str) {
    let script = format!("echo {value} > {BR_NF}");
    let out = in_engine_ns(engine, &["sh", "-c", &script]);
    assert!(out.status.success(), "set {BR_NF}: {}", show(&out));
}

/// The page the container `self` gets from its own published port through `gateway`; `once`
/// tries a single time (the server is known to be up).
fn own_port(e: &Engine, gateway: &str, once: bool) -> std::process::Output {
    let env = if once { "ONCE=1" } else { "ONCE=" };
    let mut args = vec!["exec", "self", "env", env];
    args.extend_from_slice(&["sh", "-c", HTTP_SH, "http", gateway, "18098"]);
    e.docker(&args)
}

#[test]
fn network_container_reaches_its_own_published_port_with_and_without_br_netfilter() {
    let e = Engine::start("net_hairpin");
    e.ok(&[
        "network",
        "create",
        "--subnet",
        "10.203.15.0/24",
        "-o",
        "com.docker.network.bridge.name=brhairpin",
        "hairnet",
    ]);
    web(
        &e,
        &["--name", "self", "--network", "hairnet", "-p", "18098:8080"],
        "own-port",
    );
    let gw = gateway_of(&e, "hairnet");
    for (value, once) in [("0", false), ("1", true)] {
        let Some(_guard) = BrNetfilter::set(&e, value) else {
            eprintln!(
                "SKIP network_container_reaches_its_own_published_port (bridge-nf-call-iptables={value}): the kernel has no br_netfilter ({BR_NF} is missing after modprobe)"
            );
            continue;
        };
        let got = own_port(&e, &gw, once);
        assert_eq!(
            String::from_utf8_lossy(&got.stdout).trim(),
            "own-port",
            "bridge-nf-call-iptables={value}: {}\n{}",
            show(&got),
            diag(&e)
        );
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
