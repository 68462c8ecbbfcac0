//! The build network end to end: a `RUN` step on the default bridge reaches a TCP server
//! outside the engine through the engine's NAT, `--network none` has no way out, no endpoint
//! is left behind, and (the issue's must-show) a Debian base made by `berth image bootstrap`
//! builds `RUN apt-get install curl` through the bridge, not the host network.
//!
//! The harness runs every engine in a network namespace of its own. The busybox test links
//! that namespace by a veth pair to an "outside" namespace it creates, holding a web server
//! on 198.18.141.2: the outside has no route back to the bridge's subnet, so an answer proves
//! the masquerade. The Debian test links the engine's namespace to the host instead
//! (198.18.142.0/30, masqueraded by a table of its own) so apt reaches the mirror. Both take
//! everything down in `Drop` guards.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::harness::{BUSYBOX, Engine, require_root};
use crate::util::{Project, show};

/// Runs a command, panicking with its output when it fails.
fn sh(argv: &[&str]) {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .unwrap_or_else(|e| panic!("run {argv:?}: {e}"));
    assert!(out.status.success(), "{argv:?} failed:\n{}", show(&out));
}

/// A network namespace created by the test (`ip netns add`), deleted on drop.
struct Netns(String);

impl Netns {
    fn new(name: &str) -> Netns {
        sh(&["ip", "netns", "add", name]);
        let ns = Netns(name.to_owned());
        sh(&["ip", "-n", name, "link", "set", "lo", "up"]);
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A process killed and reaped on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One HTTP GET with busybox `nc`, tried `$3` times while the server starts (0.1 s apart):
/// prints the body's last line.
const FETCH_SH: &str = r#"for i in $(seq "$3"); do
  r=$(printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 "$1" "$2" 2>/dev/null)
  if [ -n "$r" ]; then echo "$r" | tail -n 1; exit 0; fi
  sleep 0.1
done
echo "no answer from $1:$2" >&2; exit 1"#;

fn build(e: &Engine, dir: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["image", "build"];
    all.extend_from_slice(args);
    e.berth(dir).arg_list(&all).output()
}

/// Build endpoints the engine's network state still records, and veths left in its namespace.
fn leftovers(e: &Engine) -> String {
    let state =
        std::fs::read_to_string(e.data_root().join("networks/networks.json")).unwrap_or_default();
    let mut out: Vec<String> = state
        .split('"')
        .filter(|w| w.starts_with("build-"))
        .map(str::to_owned)
        .collect();
    let links = Command::new("nsenter")
        .arg(format!("--net=/proc/{}/ns/net", e.pid()))
        .args(["ip", "-o", "link"])
        .output()
        .expect("ip link in the engine's namespace");
    out.extend(
        String::from_utf8_lossy(&links.stdout)
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .filter(|name| name.starts_with("vb"))
            .map(str::to_owned),
    );
    out.join(" ")
}

#[test]
fn build_run_on_the_default_bridge_reaches_outside_through_nat() {
    let e = Engine::start("build_bridge");
    let outside = Netns::new(&format!("b14out-{}", std::process::id()));
    // veth: `b14o` in the outside namespace, `b14e` in the engine's.
    let pid = e.pid().to_string();
    sh(&[
        "ip", "-n", &outside.0, "link", "add", "b14o", "type", "veth", "peer", "name", "b14e",
        "netns", &pid,
    ]);
    let ns_arg = format!("--net=/proc/{pid}/ns/net");
    let in_engine = |argv: &[&str]| {
        let mut all = vec!["nsenter", ns_arg.as_str(), "--"];
        all.extend_from_slice(argv);
        sh(&all);
    };
    in_engine(&["ip", "addr", "add", "198.18.141.1/30", "dev", "b14e"]);
    in_engine(&["ip", "link", "set", "b14e", "up"]);
    sh(&[
        "ip",
        "-n",
        &outside.0,
        "addr",
        "add",
        "198.18.141.2/30",
        "dev",
        "b14o",
    ]);
    sh(&["ip", "-n", &outside.0, "link", "set", "b14o", "up"]);
    let www = e.scratch().join("www");
    std::fs::create_dir_all(&www).expect("www dir");
    std::fs::write(www.join("index.html"), "hello-from-outside\n").expect("index.html");
    let _server = Proc(
        Command::new("ip")
            .args(["netns", "exec", &outside.0, BUSYBOX, "httpd", "-f", "-p"])
            .arg("198.18.141.2:8014")
            .arg("-h")
            .arg(&www)
            .stdin(Stdio::null())
            .spawn()
            .expect("start httpd in the outside namespace"),
    );
    let p = Project::new();
    p.file("fetch.sh", FETCH_SH).file(
        "Dockerfile",
        "FROM e2e-busybox:latest\nARG TRIES=100\nCOPY fetch.sh /\nRUN sh /fetch.sh 198.18.141.2 8014 $TRIES > /got\n",
    );
    let out = build(&e, p.path(), &["-t", "e2e-bridge:1", "."]);
    assert!(
        out.status.success(),
        "the RUN step did not reach the outside server:\n{}\n--- engine log\n{}",
        show(&out),
        e.log()
    );
    assert_eq!(
        e.ok(&["run", "--rm", "e2e-bridge:1", "cat", "/got"]),
        "hello-from-outside"
    );
    // The step's endpoint is gone once the step ended.
    assert_eq!(leftovers(&e), "", "a build endpoint was left behind");

    // `--network none`: no route out, the step fails and names the command.
    let out = build(
        &e,
        p.path(),
        &[
            "--network",
            "none",
            "--build-arg",
            "TRIES=2",
            "-t",
            "e2e-bridge:none",
            ".",
        ],
    );
    assert!(!out.status.success(), "a RUN with --network none got out");
    let err = show(&out);
    assert!(err.contains("fetch.sh"), "{err}");
    assert_eq!(leftovers(&e), "", "a failed step left its endpoint");

    // A network that does not exist is named, with a hint.
    let out = build(&e, p.path(), &["--network", "nosuchnet", "."]);
    assert!(!out.status.success());
    let err = show(&out);
    assert!(
        err.contains("nosuchnet") && err.contains("berth network create"),
        "{err}"
    );
}

/// Where the root tests keep debootstrap trees between runs (shared with the examples tests).
const BOOTSTRAP_CACHE: &str = "/var/cache/berth-test/bootstrap";

/// The engine's namespace linked to the host: a veth pair (198.18.142.1 on the host,
/// .2 in the engine's namespace, default route through the host) and a host nft table
/// masquerading that /30. Removed on drop.
struct Uplink {
    host_if: String,
    table: String,
    /// The host's `ip_forward` before the test turned it on.
    restore_forward: Option<String>,
}

const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

impl Uplink {
    fn new(e: &Engine) -> Uplink {
        let pid = e.pid().to_string();
        let mut up = Uplink {
            restore_forward: None,
            host_if: format!("b14u{}", std::process::id() % 100_000),
            table: format!("berth_e2e_uplink_{}", std::process::id()),
        };
        sh(&[
            "ip",
            "link",
            "add",
            &up.host_if,
            "type",
            "veth",
            "peer",
            "name",
            "b14dn",
            "netns",
            &pid,
        ]);
        sh(&["ip", "addr", "add", "198.18.142.1/30", "dev", &up.host_if]);
        sh(&["ip", "link", "set", &up.host_if, "up"]);
        let ns_arg = format!("--net=/proc/{pid}/ns/net");
        for argv in [
            &["ip", "addr", "add", "198.18.142.2/30", "dev", "b14dn"][..],
            &["ip", "link", "set", "b14dn", "up"],
            &["ip", "route", "add", "default", "via", "198.18.142.1"],
        ] {
            let mut all = vec!["nsenter", ns_arg.as_str(), "--"];
            all.extend_from_slice(argv);
            sh(&all);
        }
        let script = format!(
            "table ip {t} {{\n chain post {{\n  type nat hook postrouting priority srcnat; policy accept;\n  ip saddr 198.18.142.0/30 oifname != \"{i}\" masquerade\n }}\n}}\n",
            t = up.table,
            i = up.host_if
        );
        let mut nft = Command::new("nft")
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("run nft");
        std::io::Write::write_all(nft.stdin.as_mut().expect("nft stdin"), script.as_bytes())
            .expect("write nft script");
        drop(nft.stdin.take());
        assert!(nft.wait().expect("nft").success(), "nft -f failed");
        // The host forwards for the uplink; a host that did not is set back on drop.
        let was = std::fs::read_to_string(IP_FORWARD).unwrap_or_default();
        if was.trim() != "1" {
            std::fs::write(IP_FORWARD, "1").expect("enable net.ipv4.ip_forward");
            up.restore_forward = Some(was);
        }
        up
    }
}

impl Drop for Uplink {
    fn drop(&mut self) {
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &self.table])
            .status();
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .status();
        if let Some(was) = &self.restore_forward {
            let _ = std::fs::write(IP_FORWARD, was.trim());
        }
    }
}

#[test]
fn build_debian_bootstrap_installs_curl_over_the_bridge() {
    require_root();
    let e = Engine::start("build_debian");
    let started = std::time::Instant::now();
    // `berth image bootstrap` takes turns with other tests on the cache's lock file.
    e.berth(e.scratch())
        .arg_list(&[
            "image",
            "bootstrap",
            "e2e-build-debian:bookworm",
            "--suite",
            "bookworm",
            "--variant",
            "minbase",
            "--cache-dir",
            BOOTSTRAP_CACHE,
        ])
        .ok();
    eprintln!("bootstrap: {:.1}s", started.elapsed().as_secs_f64());
    let _uplink = Uplink::new(&e);
    let p = Project::new();
    p.file(
        "Dockerfile",
        "FROM e2e-build-debian:bookworm\n\
         RUN grep -q eth0: /proc/net/dev && ! grep -q b14dn /proc/net/dev\n\
         RUN apt-get update && apt-get install -y --no-install-recommends curl \\\n\
         \x20   && rm -rf /var/lib/apt/lists/*\n",
    );
    // The default network: the bridge. The first RUN checks it is not the host network
    // (whose uplink `b14dn` it would see).
    let started = std::time::Instant::now();
    let out = build(&e, p.path(), &["-t", "e2e-build-curl:1", "."]);
    assert!(
        out.status.success(),
        "apt-get install over the build bridge failed:\n{}\n--- engine log\n{}",
        show(&out),
        e.log()
    );
    eprintln!(
        "build with apt-get: {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let version = e.ok(&["run", "--rm", "e2e-build-curl:1", "curl", "--version"]);
    assert!(version.starts_with("curl "), "curl --version: {version}");
    assert_eq!(leftovers(&e), "", "a build endpoint was left behind");
}
