//! `berth image bootstrap`: a Debian base image made with debootstrap from the package mirror,
//! imported into a real engine and run. The debootstrap tree is cached under
//! `/var/cache/berth-test/bootstrap` (keyed by suite, variant, mirror and packages), so a machine
//! pays the few minutes of debootstrap once; later runs only archive and import it.

use crate::harness::{Engine, require_root};
use crate::util::Berth;

/// Where the root tests keep debootstrap trees between runs.
const CACHE: &str = "/var/cache/berth-test/bootstrap";

#[test]
fn image_bootstrap_minbase_runs_debian() {
    require_root();
    let e = Engine::start("bootstrap");
    let out = e
        .berth(e.scratch())
        .arg_list(&[
            "image",
            "bootstrap",
            "e2e-debian:bookworm",
            "--suite",
            "bookworm",
            "--variant",
            "minbase",
            "--cache-dir",
            CACHE,
        ])
        .ok();
    let id = out.trim();
    assert!(id.starts_with("sha256:"), "bootstrap printed {out:?}");
    let version = e.ok(&["run", "--rm", "e2e-debian:bookworm", "cat", "/etc/debian_version"]);
    assert!(version.starts_with("12."), "/etc/debian_version is {version:?}");
    assert_eq!(
        e.ok(&["image", "inspect", "-f", "{{json .Config.Cmd}}", "e2e-debian:bookworm"]),
        r#"["bash"]"#
    );
    // Caches, package lists and the build host's resolver settings are not in the image.
    let leftovers = e.ok(&[
        "run",
        "--rm",
        "e2e-debian:bookworm",
        "sh",
        "-c",
        "ls /var/lib/apt/lists /var/cache/apt/archives | grep -v -e partial -e lock -e : -e '^$' || true",
    ]);
    assert_eq!(leftovers, "", "apt lists or debs left in the image");
}

#[test]
fn image_bootstrap_refuses_a_remote_engine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = Berth::in_dir(dir.path())
        .arg_list(&["image", "bootstrap", "x:1", "--host", "tcp://127.0.0.1:9"])
        .fails();
    assert!(
        err.contains("not a local unix socket") && err.contains("--output"),
        "{err}"
    );
}

#[test]
fn image_bootstrap_bad_inputs_fail_with_a_hint() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (args, needle) in [
        (&["x", "--suite", "Bookworm!"][..], "--suite"),
        (&["x", "--mirror", "ftp://mirror/debian"][..], "--mirror"),
        (&["x", "--variant", "tiny"][..], "--variant"),
        (&["x", "--include", "curl;rm"][..], "--include"),
        (&["Not An Image"][..], "not an image name"),
    ] {
        let err = Berth::in_dir(dir.path())
            .arg_list(&["image", "bootstrap", "--output", "/dev/null"])
            .arg_list(args)
            .fails();
        assert!(err.contains(needle) && err.contains("hint"), "{args:?}: {err}");
    }
}
