//! Images end to end: `docker import` and `berth image import` against a real engine, with the
//! `--change` config visible in inspect and the imported image runnable; push and pull through
//! a local `docker-registry` (plain HTTP on loopback, basic auth with `berth login`, and a
//! `registry-mirrors` entry serving Docker Hub names).

mod archive;
pub mod registry;
mod secure;

use std::path::Path;

use crate::harness::{BUSYBOX, Engine, busybox_tar};
use crate::util::show;
use registry::Registry;

/// A small rootfs (busybox, `sh`, `cat`, `echo`) with `/etc/marker` holding `marker`, so each
/// test's layer is unique and a pull really downloads it.
pub(crate) fn marked_rootfs(dir: &Path, marker: &str) -> String {
    let path = dir.join(format!("{marker}.tar"));
    let mut tar = tar::Builder::new(std::fs::File::create(&path).expect("create tar"));
    let header = |kind: tar::EntryType, mode: u32, size: u64| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h
    };
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp"] {
        let mut h = header(tar::EntryType::Directory, 0o755, 0);
        tar.append_data(&mut h, d, std::io::empty()).expect("dir");
    }
    tar.append_path_with_name(BUSYBOX, "bin/busybox")
        .expect("busybox");
    for applet in ["sh", "cat", "echo"] {
        let mut h = header(tar::EntryType::Symlink, 0o777, 0);
        tar.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .expect("link");
    }
    let mut h = header(tar::EntryType::Regular, 0o644, marker.len() as u64);
    tar.append_data(&mut h, "etc/marker", marker.as_bytes())
        .expect("marker");
    tar.finish().expect("finish tar");
    path.to_string_lossy().into_owned()
}

/// The `Digest: sha256:…` line of `docker pull` output.
/// `cat /etc/marker` in a throwaway container of image `name` (no network).
fn run_cat(e: &Engine, name: &str) -> String {
    e.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        name,
        "cat",
        "/etc/marker",
    ])
}

fn pulled_digest(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("Digest: "))
        .unwrap_or_else(|| panic!("no Digest line in {out:?}"))
        .to_owned()
}

#[test]
fn images_docker_import_makes_a_runnable_image() {
    let e = Engine::start("img_docker_import");
    let tar = busybox_tar(e.scratch());
    let tar = tar.to_str().expect("utf-8 path");
    let id = e.ok(&[
        "import",
        "-c",
        "CMD [\"echo\", \"from-import\"]",
        "-m",
        "e2e import",
        tar,
        "e2e-imported:v1",
    ]);
    assert!(id.starts_with("sha256:"), "docker import printed {id:?}");
    assert_eq!(
        e.ok(&[
            "inspect",
            "-f",
            "{{.Id}} {{json .Config.Cmd}}",
            "e2e-imported:v1"
        ]),
        format!("{id} [\"echo\",\"from-import\"]")
    );
    assert_eq!(
        e.ok(&["run", "--rm", "--network", "none", "e2e-imported:v1"]),
        "from-import",
        "the imported image runs its CMD"
    );
}

#[test]
fn images_berth_import_shows_change_config_in_inspect() {
    let e = Engine::start("img_berth_import");
    let tar = busybox_tar(e.scratch());
    let tar = tar.to_str().expect("utf-8 path");
    let id = e
        .berth(e.scratch())
        .arg_list(&[
            "image",
            "import",
            tar,
            "e2e-berth-import:v2",
            "--change",
            "ENV GREETING=hello",
            "--change",
            "WORKDIR /tmp",
            "--change",
            "ENTRYPOINT [\"/bin/sh\", \"-c\"]",
            "--change",
            "CMD echo $GREETING from $(pwd)",
            "--change",
            "LABEL org.example.kind=e2e",
            "--change",
            "USER 0:0",
            "--change",
            "EXPOSE 8080/tcp",
        ])
        .ok();
    let id = id.trim();
    assert!(
        id.starts_with("sha256:"),
        "berth image import printed {id:?}"
    );
    let fmt = "{{json .Config.Env}}|{{.Config.WorkingDir}}|{{json .Config.Entrypoint}}|\
               {{json .Config.Cmd}}|{{index .Config.Labels \"org.example.kind\"}}|{{.Config.User}}";
    assert_eq!(
        e.ok(&["image", "inspect", "-f", fmt, "e2e-berth-import:v2"]),
        "[\"GREETING=hello\"]|/tmp|[\"/bin/sh\",\"-c\"]|\
         [\"/bin/sh\",\"-c\",\"echo $GREETING from $(pwd)\"]|e2e|0:0"
    );
    let out = e.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "e2e-berth-import:v2",
        "echo $GREETING in $(pwd)",
    ]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hello in /tmp");
}

#[test]
fn images_import_refuses_bad_changes_and_keeps_nothing() {
    let e = Engine::start("img_import_bad");
    let tar = busybox_tar(e.scratch());
    let tar = tar.to_str().expect("utf-8 path");
    let before = e.ok(&["images", "-q"]);
    let err = e
        .berth(e.scratch())
        .arg_list(&[
            "image",
            "import",
            tar,
            "e2e-bad:v1",
            "--change",
            "RUN rm -rf /",
        ])
        .fails();
    assert!(err.contains("unsupported --change instruction"), "{err}");
    let err = e
        .berth(e.scratch())
        .arg_list(&["image", "import", "/nonexistent/rootfs.tar"])
        .fails();
    assert!(err.contains("/nonexistent/rootfs.tar"), "{err}");
    assert_eq!(
        e.ok(&["images", "-q"]),
        before,
        "a failed import left an image"
    );
}

#[test]
fn images_push_then_pull_through_a_local_registry() {
    let src = Engine::start("img_push_src");
    let reg = Registry::start("roundtrip", &src, None);
    let name = format!("{}/e2e/roundtrip:v1", reg.addr);
    let tar = marked_rootfs(src.scratch(), "roundtrip-marker");
    src.ok(&[
        "import",
        "-c",
        "CMD [\"cat\", \"/etc/marker\"]",
        &tar,
        &name,
    ]);
    let pushed = src
        .berth(src.scratch())
        .arg_list(&["image", "push", &name])
        .ok();
    let digest = pushed
        .lines()
        .find_map(|l| l.split(" digest: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no digest in push output:\n{pushed}\n{}", reg.log()))
        .to_owned();
    let id = src.ok(&["image", "inspect", "-f", "{{.Id}}", &name]);

    let dst = Engine::start("img_pull_dst");
    let _served = reg.share(&dst);
    let out = dst.ok(&["pull", &name]);
    assert_eq!(
        pulled_digest(&out),
        digest,
        "manifest digest after the round trip"
    );
    assert_eq!(dst.ok(&["image", "inspect", "-f", "{{.Id}}", &name]), id);
    assert_eq!(
        dst.ok(&["run", "--rm", "--network", "none", &name]),
        "roundtrip-marker"
    );
    let layers = dst.data_root().join("images/layers");
    let unpacked: Vec<_> = std::fs::read_dir(&layers)
        .expect("layers dir")
        .filter_map(Result::ok)
        .map(|e| e.path().join("diff"))
        .filter(|d| d.join("etc/marker").exists())
        .collect();
    assert_eq!(unpacked.len(), 1, "one unpacked layer holds the marker");
    let tree = &unpacked[0];
    assert_eq!(
        std::fs::read(tree.join("bin/busybox")).expect("busybox in layer"),
        std::fs::read(BUSYBOX).expect("host busybox")
    );
    assert_eq!(
        std::fs::read_link(tree.join("bin/sh")).expect("sh link"),
        Path::new("busybox")
    );
    let again = dst.ok(&["pull", &name]);
    assert!(again.contains("Image is up to date"), "{again}");
}

#[test]
fn images_basic_auth_needs_berth_login() {
    let e = Engine::start("img_basic_auth");
    let reg = Registry::start("basic", &e, Some(("alice", "wonder-land")));
    let name = format!("{}/e2e/private:v1", reg.addr);
    let tar = marked_rootfs(e.scratch(), "private-marker");
    e.ok(&["import", &tar, &name]);
    let cfg = e.scratch().join("docker-config-basic");
    let cfg = cfg.to_str().expect("utf-8 path");
    let berth = || e.berth(e.scratch()).env("DOCKER_CONFIG", cfg);
    let err = berth().arg_list(&["image", "push", &name]).fails();
    assert!(err.contains("berth login"), "push without login: {err}");
    berth()
        .arg_list(&["login", &reg.addr, "-u", "alice", "--password-stdin"])
        .stdin("wrong-password\n")
        .ok();
    let err = berth().arg_list(&["image", "push", &name]).fails();
    assert!(
        err.contains("refused the credentials"),
        "bad password: {err}"
    );
    berth()
        .arg_list(&["login", &reg.addr, "-u", "alice", "--password-stdin"])
        .stdin("wonder-land\n")
        .ok();
    berth().arg_list(&["image", "push", &name]).ok();
    e.ok(&["rmi", &name]);
    berth().arg_list(&["image", "pull", &name]).ok();
    assert_eq!(
        e.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            &name,
            "cat",
            "/etc/marker"
        ]),
        "private-marker"
    );
    let out = berth().arg_list(&["logout", &reg.addr]).ok();
    assert!(out.contains("Removing login credentials"), "{out}");
    e.ok(&["rmi", &name]);
    let err = berth().arg_list(&["image", "pull", &name]).fails();
    assert!(err.contains("berth login"), "pull after logout: {err}");
}

#[test]
fn images_docker_hub_names_resolve_through_a_mirror() {
    let src = Engine::start("img_mirror_src");
    let reg = Registry::start("mirror", &src, None);
    let tar = marked_rootfs(src.scratch(), "mirror-marker");
    let in_mirror = format!("{}/library/e2e-mirrored:v1", reg.addr);
    src.ok(&["import", &tar, &in_mirror]);
    src.berth(src.scratch())
        .arg_list(&["image", "push", &in_mirror])
        .ok();
    let json = format!(r#"{{"registry-mirrors": ["http://{}"]}}"#, reg.addr);
    let e = Engine::start_with_config("img_mirror", Some(&json));
    let _served = reg.share(&e);
    e.ok(&["pull", "e2e-mirrored:v1"]);
    assert_eq!(
        e.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "e2e-mirrored:v1",
            "cat",
            "/etc/marker"
        ]),
        "mirror-marker"
    );
    let out = e.docker(&["pull", "e2e-not-in-mirror:v1"]);
    assert!(!out.status.success(), "{}", show(&out));
}
