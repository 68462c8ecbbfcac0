//! IPv6-only networks (`--ipv4=false`, API `EnableIPv4: false`, compose `enable_ipv4: false`):
//! what the engine does with a request for a network without IPv4.

use crate::harness::Engine;
use crate::network::in_engine_ns;
use crate::util::show;

#[test]
fn network_ipv6_only_requests_fail_with_a_hint_and_build_nothing() {
    let e = Engine::start("net_v6only_err");
    let before = in_engine_ns(&e, &["ip", "-o", "link", "show"]);
    let docker = e.docker(&["network", "create", "--ipv4=false", "--ipv6", "v6only"]);
    assert!(!docker.status.success(), "{}", show(&docker));
    let msg = String::from_utf8_lossy(&docker.stderr);
    assert!(msg.contains("EnableIPv4"), "{}", show(&docker));
    let dir = tempfile::tempdir().unwrap();
    let err = e
        .berth(dir.path())
        .args(["network", "create", "--ipv4=false", "--ipv6", "v6only"])
        .fails();
    assert!(err.contains("IPv6-only"), "{err}");
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  web:\n    image: busybox\nnetworks:\n  default:\n    enable_ipv6: true\n    enable_ipv4: false\n",
    )
    .unwrap();
    let err = e
        .berth(dir.path())
        .args(["up", "-d", "--progress", "quiet"])
        .fails();
    assert!(err.contains("compose.yaml:7:18"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    let ls = e.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!ls.contains("v6only") && !ls.contains("_default"), "{ls}");
    let after = in_engine_ns(&e, &["ip", "-o", "link", "show"]);
    assert_eq!(
        String::from_utf8_lossy(&before.stdout).lines().count(),
        String::from_utf8_lossy(&after.stdout).lines().count(),
        "links appeared:\n{}",
        String::from_utf8_lossy(&after.stdout)
    );
}
