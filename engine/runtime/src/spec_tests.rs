//! Spec generation compared with what Docker puts in a container's `config.json`.

use super::*;
use crate::defaults::DEFAULT_CAP_MASK;

fn rootfs() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("etc")).unwrap();
    std::fs::write(
        d.path().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join("etc/group"),
        "root:x:0:\nnogroup:x:65534:\nusers:x:100:nobody\n",
    )
    .unwrap();
    d
}

fn config(root: &Path) -> ContainerConfig {
    ContainerConfig {
        rootfs: root.to_path_buf(),
        image: ImageConfig {
            cmd: vec!["sh".into()],
            env: vec!["FOO=image".into()],
            ..Default::default()
        },
        hostname: "abc123".into(),
        ..Default::default()
    }
}

fn cap_names(set: &Option<oci_spec::runtime::Capabilities>) -> Vec<String> {
    let mut v: Vec<String> = set.iter().flatten().map(|c| format!("CAP_{c}")).collect();
    v.sort();
    v
}

fn mask(names: &[String]) -> u64 {
    names
        .iter()
        .map(|n| n.parse::<caps::Capability>().unwrap().bitmask())
        .fold(0, |a, b| a | b)
}

#[test]
fn default_capabilities_are_dockers_fourteen() {
    let r = rootfs();
    let spec = generate(&config(r.path())).unwrap();
    let caps = spec
        .process()
        .as_ref()
        .unwrap()
        .capabilities()
        .as_ref()
        .unwrap();
    let eff = cap_names(caps.effective());
    assert_eq!(eff.len(), 14);
    assert_eq!(mask(&eff), DEFAULT_CAP_MASK);
    assert_eq!(cap_names(caps.bounding()), eff);
    assert_eq!(cap_names(caps.permitted()), eff);
    assert!(cap_names(caps.inheritable()).is_empty());
    assert!(cap_names(caps.ambient()).is_empty());
}

#[test]
fn cap_add_drop_and_privileged() {
    let set = capabilities(
        &["net_admin".into()],
        &["CAP_CHOWN".into(), "mknod".into()],
        false,
    )
    .unwrap();
    assert!(
        set.contains("CAP_NET_ADMIN") && !set.contains("CAP_CHOWN") && !set.contains("CAP_MKNOD")
    );
    assert_eq!(set.len(), 13);
    let none = capabilities(&[], &["ALL".into()], false).unwrap();
    assert!(none.is_empty());
    let only = capabilities(&["KILL".into()], &["ALL".into()], false).unwrap();
    assert_eq!(only.into_iter().collect::<Vec<_>>(), ["CAP_KILL"]);
    assert!(
        capabilities(&[], &[], true)
            .unwrap()
            .contains("CAP_SYS_ADMIN")
    );
    assert!(matches!(
        capabilities(&["BOGUS".into()], &[], false),
        Err(SpecError::UnknownCapability(_))
    ));
}

#[test]
fn masked_and_readonly_paths_match_docker() {
    let r = rootfs();
    let spec = generate(&config(r.path())).unwrap();
    let linux = spec.linux().as_ref().unwrap();
    let masked = linux.masked_paths().clone().unwrap();
    assert!(masked.contains(&"/proc/kcore".to_string()));
    assert_eq!(masked, MASKED_PATHS.map(String::from).to_vec());
    assert_eq!(
        linux.readonly_paths().clone().unwrap(),
        READONLY_PATHS.map(String::from).to_vec()
    );
    let mut cfg = config(r.path());
    cfg.privileged = true;
    let spec = generate(&cfg).unwrap();
    assert!(spec.linux().as_ref().unwrap().masked_paths().is_none());
    assert!(spec.linux().as_ref().unwrap().seccomp().is_none());
}

#[test]
fn default_mounts_match_docker() {
    let r = rootfs();
    let spec = generate(&config(r.path())).unwrap();
    let mounts: Vec<(String, String, Vec<String>)> = spec
        .mounts()
        .as_ref()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m.destination().display().to_string(),
                m.typ().clone().unwrap(),
                m.options().clone().unwrap(),
            )
        })
        .collect();
    let find = |d: &str| mounts.iter().find(|m| m.0 == d).unwrap().clone();
    assert_eq!(find("/proc").1, "proc");
    assert_eq!(
        find("/dev").2,
        ["nosuid", "strictatime", "mode=755", "size=65536k"]
    );
    assert_eq!(
        find("/dev/pts").2,
        [
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5"
        ]
    );
    assert_eq!(
        find("/dev/shm").2,
        ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]
    );
    assert_eq!(find("/dev/mqueue").1, "mqueue");
    assert_eq!(find("/sys").2, ["nosuid", "noexec", "nodev", "ro"]);
    assert_eq!(
        find("/sys/fs/cgroup").2,
        ["ro", "nosuid", "noexec", "nodev"]
    );
}

#[test]
fn devices_and_device_rules_match_docker() {
    let r = rootfs();
    let spec = generate(&config(r.path())).unwrap();
    let linux = spec.linux().as_ref().unwrap();
    let paths: Vec<String> = linux
        .devices()
        .as_ref()
        .unwrap()
        .iter()
        .map(|d| d.path().display().to_string())
        .collect();
    assert_eq!(
        paths,
        [
            "/dev/null",
            "/dev/zero",
            "/dev/full",
            "/dev/random",
            "/dev/urandom",
            "/dev/tty"
        ]
    );
    let rules: Vec<String> = linux
        .resources()
        .as_ref()
        .unwrap()
        .devices()
        .as_ref()
        .unwrap()
        .iter()
        .map(|d| format!("{} {}", if d.allow() { "allow" } else { "deny" }, d))
        .collect();
    assert_eq!(rules[0], "deny a *:* rwm");
    for want in [
        "allow c *:* m",
        "allow b *:* m",
        "allow c 136:* rwm",
        "allow c 5:2 rwm",
        "allow c 1:3 rwm",
        "allow c 1:9 rwm",
        "allow c 5:0 rwm",
        "allow c 10:200 rwm",
    ] {
        assert!(
            rules.contains(&want.to_string()),
            "missing {want}: {rules:?}"
        );
    }
}

#[test]
fn process_env_user_cwd_rlimits() {
    let r = rootfs();
    let mut cfg = config(r.path());
    cfg.env = vec!["FOO=user".into(), "BAR=1".into()];
    cfg.user = Some("nobody".into());
    cfg.ulimits = vec![Ulimit {
        name: "nproc".into(),
        soft: 10,
        hard: 20,
    }];
    let spec = generate(&cfg).unwrap();
    let p = spec.process().as_ref().unwrap();
    let env = p.env().clone().unwrap();
    assert_eq!(env[0], DEFAULT_PATH);
    assert!(env.contains(&"HOSTNAME=abc123".to_string()));
    assert!(env.contains(&"FOO=user".to_string()) && !env.contains(&"FOO=image".to_string()));
    assert!(env.contains(&"HOME=/nonexistent".to_string()));
    assert_eq!((p.user().uid(), p.user().gid()), (65534, 65534));
    assert_eq!(p.user().additional_gids().clone().unwrap(), vec![100]);
    assert_eq!(p.cwd(), Path::new("/"));
    let rl: Vec<String> = p
        .rlimits()
        .as_ref()
        .unwrap()
        .iter()
        .map(|r| format!("{:?} {} {}", r.typ(), r.soft(), r.hard()))
        .collect();
    assert_eq!(rl, ["RlimitNofile 1024 524288", "RlimitNproc 10 20"]);
}

#[test]
fn entrypoint_override_drops_image_cmd_and_init_wraps() {
    let r = rootfs();
    let mut cfg = config(r.path());
    cfg.image.entrypoint = vec!["/entry".into()];
    cfg.entrypoint = Some(vec!["/bin/echo".into()]);
    let spec = generate(&cfg).unwrap();
    assert_eq!(
        spec.process().as_ref().unwrap().args().clone().unwrap(),
        ["/bin/echo"]
    );
    cfg.init = Some("/usr/bin/tini-static".into());
    cfg.command = Some(vec!["hi".into()]);
    let spec = generate(&cfg).unwrap();
    assert_eq!(
        spec.process().as_ref().unwrap().args().clone().unwrap(),
        ["/sbin/docker-init", "--", "/bin/echo", "hi"]
    );
    let mut none = config(r.path());
    none.image.cmd.clear();
    assert!(matches!(generate(&none), Err(SpecError::NoCommand)));
}

#[test]
fn resources_follow_docker_flags() {
    let r = rootfs();
    let mut cfg = config(r.path());
    cfg.memory = Some(64 << 20);
    cfg.cpus = Some(1.5);
    cfg.pids_limit = Some(20);
    cfg.shm_size = Some(1 << 20);
    cfg.device_read_bps = vec![DeviceRate {
        major: 8,
        minor: 0,
        rate: 1024,
    }];
    let spec = generate(&cfg).unwrap();
    let res = spec.linux().as_ref().unwrap().resources().clone().unwrap();
    let mem = res.memory().unwrap();
    assert_eq!((mem.limit(), mem.swap()), (Some(64 << 20), Some(128 << 20)));
    let cpu = res.cpu().clone().unwrap();
    assert_eq!((cpu.quota(), cpu.period()), (Some(150_000), Some(100_000)));
    assert_eq!(res.pids().unwrap().limit(), 20);
    assert_eq!(
        res.block_io()
            .clone()
            .unwrap()
            .throttle_read_bps_device()
            .clone()
            .unwrap()[0]
            .rate(),
        1024
    );
    let shm = spec
        .mounts()
        .as_ref()
        .unwrap()
        .iter()
        .find(|m| m.destination() == Path::new("/dev/shm"))
        .unwrap()
        .clone();
    assert!(
        shm.options()
            .clone()
            .unwrap()
            .contains(&"size=1048576".to_string())
    );
    let sysctl = spec.linux().as_ref().unwrap().sysctl().clone().unwrap();
    assert_eq!(sysctl["net.ipv4.ip_unprivileged_port_start"], "0");
}

#[test]
fn namespaces_and_seccomp_default() {
    let r = rootfs();
    let spec = generate(&config(r.path())).unwrap();
    let linux = spec.linux().as_ref().unwrap();
    assert_eq!(linux.namespaces().as_ref().unwrap().len(), 6);
    let sc = linux.seccomp().as_ref().unwrap();
    assert_eq!(
        sc.default_action(),
        oci_spec::runtime::LinuxSeccompAction::ScmpActAllow
    );
    let mut cfg = config(r.path());
    cfg.seccomp_unconfined = true;
    assert!(
        generate(&cfg)
            .unwrap()
            .linux()
            .as_ref()
            .unwrap()
            .seccomp()
            .is_none()
    );
}

#[test]
fn a_terminal_gets_its_console_size_and_only_a_terminal() {
    let root = rootfs();
    let tty = ContainerConfig {
        tty: true,
        console_size: Some((33, 111)),
        ..config(root.path())
    };
    let spec = generate(&tty).unwrap();
    let size = spec.process().as_ref().unwrap().console_size().unwrap();
    assert_eq!((size.height(), size.width()), (33, 111));
    let plain = ContainerConfig { tty: false, ..tty };
    let spec = generate(&plain).unwrap();
    assert!(spec.process().as_ref().unwrap().console_size().is_none());
}
