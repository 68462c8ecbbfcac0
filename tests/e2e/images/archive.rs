//! `docker save` / `docker load` against berth (a file and a pipe), a `berth image save`
//! tarball loading back with the same id, `history`, `prune -a` and `rm` of an image a
//! container uses.

use std::process::Command;

use super::{marked_rootfs, run_cat};
use crate::harness::Engine;
use crate::util::show;

/// The entry names of a tar file.
fn tar_entries(path: &std::path::Path) -> Vec<String> {
    let mut archive = tar::Archive::new(std::fs::File::open(path).expect("open tarball"));
    archive
        .entries()
        .expect("tar entries")
        .map(|e| {
            e.expect("tar entry")
                .path()
                .expect("entry path")
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

#[test]
fn images_docker_save_and_load_round_trip() {
    let e = Engine::start("img_save_load");
    let tar = marked_rootfs(e.scratch(), "saved-marker");
    let name = "e2e-saved:v1";
    e.ok(&["import", "-c", "CMD [\"cat\", \"/etc/marker\"]", &tar, name]);
    let id = e.ok(&["image", "inspect", "-f", "{{.Id}}", name]);
    let file = e.scratch().join("saved.tar");
    let file_s = file.to_str().expect("utf-8 path");
    e.ok(&["save", "-o", file_s, name]);
    let entries = tar_entries(&file);
    for want in ["manifest.json", "index.json", "oci-layout"] {
        assert!(
            entries.iter().any(|n| n == want),
            "{want} missing: {entries:?}"
        );
    }
    e.ok(&["rmi", name]);
    let out = e.ok(&["load", "-i", file_s]);
    assert!(out.contains(&format!("Loaded image: {name}")), "{out}");
    assert_eq!(e.ok(&["image", "inspect", "-f", "{{.Id}}", name]), id);
    assert_eq!(
        e.ok(&["run", "--rm", "--network", "none", name]),
        "saved-marker"
    );

    let piped = Command::new("timeout")
        .args(["120", "sh", "-c", "docker save \"$0\" | docker load", name])
        .env("DOCKER_HOST", e.host())
        .env("DOCKER_CONFIG", e.scratch().join("docker-config-pipe"))
        .output()
        .expect("run docker save | docker load");
    assert!(piped.status.success(), "{}", show(&piped));
    let out = String::from_utf8_lossy(&piped.stdout);
    assert!(out.contains(&format!("Loaded image: {name}")), "{out}");
    assert_eq!(e.ok(&["image", "inspect", "-f", "{{.Id}}", name]), id);

    let bad = e.scratch().join("bad.tar");
    std::fs::write(&bad, b"this is not a tarball").expect("write bad tar");
    let out = e.docker(&["load", "-i", bad.to_str().expect("utf-8 path")]);
    assert!(!out.status.success(), "loading garbage: {}", show(&out));
    let missing = e.docker(&["save", "-o", file_s, "e2e-no-such:v1"]);
    assert!(!missing.status.success(), "saving a missing image");
}

#[test]
fn images_berth_save_loads_back_with_the_same_id() {
    let e = Engine::start("img_berth_save");
    let tar = marked_rootfs(e.scratch(), "berth-saved");
    let (a, b) = ("e2e-bsave-a:v1", "e2e-bsave-b:v1");
    e.ok(&["import", &tar, a]);
    e.ok(&["tag", a, b]);
    let id = e.ok(&["image", "inspect", "-f", "{{.Id}}", a]);
    let file = e.scratch().join("berth-saved.tar");
    let file_s = file.to_str().expect("utf-8 path");
    e.berth(e.scratch())
        .arg_list(&["image", "save", "-o", file_s, a, b])
        .ok();
    assert!(tar_entries(&file).iter().any(|n| n == "index.json"));
    e.berth(e.scratch()).arg_list(&["image", "rm", a, b]).ok();
    let out = e
        .berth(e.scratch())
        .arg_list(&["image", "load", "-i", file_s])
        .ok();
    assert!(
        out.contains(&format!("Loaded image: {a}")) && out.contains(&format!("Loaded image: {b}")),
        "{out}"
    );
    assert_eq!(e.ok(&["image", "inspect", "-f", "{{.Id}}", b]), id);
    assert_eq!(run_cat(&e, a), "berth-saved");
    let err = e
        .berth(e.scratch())
        .arg_list(&["image", "save", "-o", file_s, "e2e-bsave-missing:v1"])
        .fails();
    assert!(err.contains("e2e-bsave-missing"), "{err}");
    assert!(
        tar_entries(&file).iter().any(|n| n == "index.json"),
        "a failed save kept the old file"
    );
}

#[test]
fn images_rm_refuses_images_in_use_history_and_prune() {
    let e = Engine::start("img_rm_prune");
    let (used, unused) = ("e2e-used:v1", "e2e-unused:v1");
    e.ok(&[
        "import",
        "-m",
        "used image",
        &marked_rootfs(e.scratch(), "used"),
        used,
    ]);
    e.ok(&["import", &marked_rootfs(e.scratch(), "unused"), unused]);
    let id = e.ok(&["image", "inspect", "-f", "{{.Id}}", used]);
    let c = e.ok(&["create", "--network", "none", used, "true"]);

    let out = e.docker(&["rmi", used]);
    assert!(
        !out.status.success(),
        "rmi of an image in use: {}",
        show(&out)
    );
    assert!(show(&out).contains("in use"), "{}", show(&out));
    let err = e
        .berth(e.scratch())
        .arg_list(&["image", "rm", used])
        .fails();
    assert!(err.contains("in use"), "{err}");

    let history = e.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.ID}}|{{.Comment}}",
        used,
    ]);
    let first = history.lines().next().unwrap_or_default();
    assert!(first.starts_with(&format!("{id}|")), "{history}");
    let out = e
        .berth(e.scratch())
        .arg_list(&["image", "history", "-q", used])
        .ok();
    assert_eq!(
        out.lines().next(),
        Some(&id["sha256:".len()..][..12]),
        "{out}"
    );

    let out = e
        .berth(e.scratch())
        .arg_list(&["image", "prune", "-a"])
        .ok();
    assert!(out.contains(&format!("untagged: {unused}")), "{out}");
    assert!(!out.contains(used), "{out}");
    assert!(!e.docker(&["image", "inspect", unused]).status.success());
    assert_eq!(e.ok(&["image", "inspect", "-f", "{{.Id}}", used]), id);

    e.ok(&["rm", &c]);
    let out = e.ok(&["image", "prune", "-a", "-f"]);
    assert!(out.contains("untagged: e2e-used:v1"), "{out}");
    assert!(!e.docker(&["image", "inspect", used]).status.success());
}
