//! What a crashed engine may leave behind, checked after a restart: every mount, container
//! directory, runtime state, shim and cgroup must belong to a container the engine knows, and
//! the kernel's network state (bridges, veths, nftables tables, read in the engine's network
//! namespace) must match the networks and endpoints the engine reports, both ways.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{Engine, mounts_under};

/// Ids of the engine's shim processes (their argv names the engine's runtime root).
fn shims(root: &Path) -> Vec<String> {
    let runtime = root.join("runtime").to_string_lossy().into_owned();
    let mut out = Vec::new();
    for d in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmd) = std::fs::read(d.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmd
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.iter().any(|a| a == &runtime)
            && let Some(i) = args.iter().position(|a| a == "shim")
            && let Some(id) = args.get(i + 1)
        {
            out.push(id.clone());
        }
    }
    out.sort();
    out
}

/// Full ids `docker ps FLAG` lists (`-q` running, `-aq` all).
pub fn ids(e: &Engine, flag: &str) -> BTreeSet<String> {
    e.ok(&["ps", flag, "--no-trunc"])
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Runs `argv` in the engine's network namespace and returns its standard output.
fn in_engine_netns(e: &Engine, argv: &[&str]) -> String {
    let out = Command::new("nsenter")
        .arg(format!("--net=/proc/{}/ns/net", e.pid()))
        .arg("--")
        .args(argv)
        .output()
        .expect("run nsenter");
    assert!(
        out.status.success(),
        "{argv:?} in the engine's netns failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Interface names in the engine's network namespace.
fn links(e: &Engine) -> BTreeSet<String> {
    in_engine_netns(e, &["ip", "-o", "link", "show"])
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_owned())
        .collect()
}

/// berth's nftables tables (`berth-<id>`) in the engine's network namespace.
fn nft_tables(e: &Engine) -> BTreeSet<String> {
    in_engine_netns(e, &["nft", "list", "tables"])
        .lines()
        .filter_map(|l| l.strip_prefix("table ip "))
        .filter(|t| t.starts_with("berth-"))
        .map(str::to_owned)
        .collect()
}

/// The host-side veth name of the endpoint of `container` on `network`, as the engine names it
/// (`vb` + 11 hex digits of sha256 of `network/container`).
fn veth_of(network: &str, container: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("{network}/{container}"));
    let hex: String = digest.iter().map(|x| format!("{x:02x}")).collect();
    format!("vb{}", &hex[..11])
}

/// One network as the engine reports it.
struct NetView {
    name: String,
    bridge: String,
    containers: BTreeSet<String>,
}

fn networks(e: &Engine) -> BTreeMap<String, NetView> {
    let ids = e.ok(&["network", "ls", "-q", "--no-trunc"]);
    let mut out = BTreeMap::new();
    for id in ids.lines() {
        let v: serde_json::Value =
            serde_json::from_str(&e.ok(&["network", "inspect", "-f", "{{json .}}", id]))
                .expect("network JSON");
        let id = v["Id"].as_str().unwrap().to_owned();
        let bridge = match v["Options"]["com.docker.network.bridge.name"].as_str() {
            Some(name) => name.to_owned(),
            None => format!("br-{}", &id[..12]),
        };
        let containers = v["Containers"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        out.insert(
            id,
            NetView {
                name: v["Name"].as_str().unwrap().to_owned(),
                bridge,
                containers,
            },
        );
    }
    out
}

/// A container's state and the engine's log lines about it, for failure messages.
pub fn about(e: &Engine, id: &str) -> String {
    let state = e.docker(&[
        "inspect",
        "-f",
        "{{.Name}} {{.State.Status}} {{.State.ExitCode}} {{.State.Error}}",
        id,
    ]);
    let log: Vec<String> = e
        .log()
        .lines()
        .filter(|l| l.contains(id))
        .map(str::to_owned)
        .collect();
    format!(
        "{}\n--- engine log about it\n{}",
        String::from_utf8_lossy(&state.stdout).trim(),
        log.join("\n")
    )
}

/// Running containers and networks as the engine reports them, read in that order.
struct Reported {
    running: BTreeSet<String>,
    nets: BTreeMap<String, NetView>,
}

impl Reported {
    /// Reads the running containers, then the networks; `networks_first` reverses the order.
    fn read(e: &Engine, networks_first: bool) -> Self {
        let (running, nets) = match networks_first {
            true => {
                let nets = networks(e);
                (ids(e, "-q"), nets)
            }
            false => {
                let running = ids(e, "-q");
                (running, networks(e))
            }
        };
        Reported { running, nets }
    }

    /// The endpoints listed, as (network id, container id).
    fn endpoints(&self) -> BTreeSet<(&str, &str)> {
        self.nets
            .iter()
            .flat_map(|(id, n)| n.containers.iter().map(move |c| (id.as_str(), c.as_str())))
            .collect()
    }
}

/// Checks that bridges, veths and nftables tables match the engine's networks and the
/// endpoints of its running containers, both ways.
///
/// The kernel is read between two reads of the engine's view (`before`: containers then
/// networks; `after`: networks then containers), so a container that starts or exits meanwhile
/// is neither a leak nor a missing veth: the engine makes an endpoint's veth before it lists
/// the endpoint and marks the container running after that, and on an exit unlists the
/// endpoint before it deletes the veth and marks the container exited after that. So an
/// endpoint listed in both views had its veth while the kernel was read, and its container
/// ran in one of them; a veth or bridge the kernel holds belongs to what one of them lists.
/// Nothing is retried: a leak or a missing veth fails at once.
fn assert_network_state(e: &Engine, loop_no: usize) {
    let before = Reported::read(e, false);
    let kernel = links(e);
    let tables = nft_tables(e);
    let after = Reported::read(e, true);
    for (id, net) in before
        .nets
        .iter()
        .filter(|(id, _)| after.nets.contains_key(*id))
    {
        assert!(
            kernel.contains(&net.bridge),
            "loop {loop_no}: network {} has no bridge {} in the kernel",
            net.name,
            net.bridge
        );
        let table = format!("berth-{}", &id[..12]);
        assert!(
            tables.contains(&table),
            "loop {loop_no}: network {} has no nft table {table}: {tables:?}",
            net.name
        );
    }
    let listed_after = after.endpoints();
    for (id, c) in before.endpoints().intersection(&listed_after) {
        let net = &before.nets[*id].name;
        assert!(
            before.running.contains(*c) || after.running.contains(*c),
            "loop {loop_no}: network {net} keeps an endpoint of {c}, which is not running: {}",
            about(e, c)
        );
        let veth = veth_of(id, c);
        assert!(
            kernel.contains(&veth),
            "loop {loop_no}: endpoint of {c} on {net} has no veth {veth}: {}",
            about(e, c)
        );
    }
    let veths: BTreeSet<String> = before
        .endpoints()
        .union(&listed_after)
        .map(|(id, c)| veth_of(id, c))
        .collect();
    let known = || before.nets.iter().chain(&after.nets);
    let bridges: BTreeSet<&str> = known().map(|(_, n)| n.bridge.as_str()).collect();
    for link in &kernel {
        assert!(
            !link.starts_with("br-") || bridges.contains(link.as_str()),
            "loop {loop_no}: bridge {link} belongs to no network"
        );
        let veth_shape = link.len() == 13 && (link.starts_with("vb") || link.starts_with("vp"));
        assert!(
            !veth_shape || veths.contains(link),
            "loop {loop_no}: veth {link} belongs to no endpoint of a running container"
        );
    }
    let owned: BTreeSet<String> = known()
        .map(|(id, _)| format!("berth-{}", &id[..12]))
        .collect();
    let stray: Vec<&String> = tables.difference(&owned).collect();
    assert!(
        stray.is_empty(),
        "loop {loop_no}: nft tables of no network: {stray:?}"
    );
}

/// Checks that everything the engine holds belongs to a container or network it knows.
pub fn assert_no_debris(e: &Engine, loop_no: usize) {
    let all = ids(e, "-aq");
    let running = ids(e, "-q");
    let root = e.data_root();
    for m in mounts_under(&root) {
        let owner = m
            .strip_prefix(&format!("{}/containers/", root.display()))
            .and_then(|r| r.split('/').next())
            .unwrap_or("");
        assert!(
            all.contains(owner),
            "loop {loop_no}: mount {m} belongs to no container"
        );
    }
    for dir in ["containers", "runtime"] {
        for d in std::fs::read_dir(root.join(dir)).unwrap().flatten() {
            let id = d.file_name().to_string_lossy().into_owned();
            assert!(
                all.contains(&id),
                "loop {loop_no}: {dir}/{id} belongs to no container"
            );
        }
    }
    // A shim whose container was killed by recovery exits once it has recorded the exit.
    let stray = |running: &BTreeSet<String>| -> Vec<String> {
        shims(&root)
            .into_iter()
            .filter(|id| !running.contains(id))
            .collect()
    };
    let start = Instant::now();
    while !stray(&running).is_empty() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left = stray(&running);
    assert!(
        left.is_empty(),
        "loop {loop_no}: shims of containers not running: {left:?}"
    );
    for id in all.difference(&running) {
        for cg in ["/sys/fs/cgroup/pids/berth", "/sys/fs/cgroup/berth"] {
            let p = Path::new(cg).join(id);
            assert!(
                !p.exists(),
                "loop {loop_no}: cgroup {} of a stopped container",
                p.display()
            );
        }
    }
    assert_network_state(e, loop_no);
}
