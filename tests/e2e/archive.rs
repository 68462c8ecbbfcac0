//! Container file access against a real engine (`archive_*`): `docker cp` / `berth container cp`
//! both ways on running and stopped containers, the root-confinement regressions (symlinks to
//! `/` and to host paths, a symlink swapped during a copy), `export` and `diff`.

use berth_engine::client::Client;

use crate::harness::{Engine, IMAGE};

/// Runs `f` with a client of `e` on a fresh single-threaded runtime.
fn with_client<T>(e: &Engine, f: impl AsyncFnOnce(Client) -> T) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let client = Client::new(&e.host()).expect("client");
    rt.block_on(f(client))
}

/// A tar of `(name, mode, contents)` regular files (a name ending in `/` is a directory).
fn tar_of(entries: &[(&str, u32, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, mode, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(*mode);
        h.set_uid(1234);
        h.set_gid(4321);
        h.set_mtime(1_600_000_000);
        if name.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            b.append_data(&mut h, name, std::io::empty()).unwrap();
        } else {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(data.len() as u64);
            b.append_data(&mut h, name, data.as_bytes()).unwrap();
        }
    }
    b.into_inner().unwrap()
}

#[test]
fn archive_put_into_running_and_stopped_containers_keeps_content_modes_and_owners() {
    let e = Engine::start("ar_put");
    e.ok(&[
        "run",
        "--network",
        "none",
        "-d",
        "--name",
        "ar-put-run",
        IMAGE,
        "sleep",
        "300",
    ]);
    e.ok(&[
        "create",
        "--network",
        "none",
        "--name",
        "ar-put-new",
        IMAGE,
        "cat",
        "/srv/app/conf",
    ]);
    let tar = tar_of(&[("app/", 0o750, ""), ("app/conf", 0o4640, "x=1\n")]);
    with_client(&e, async |c| {
        c.put_archive("ar-put-run", "/tmp", tar.clone())
            .await
            .expect("put running");
        c.put_archive("ar-put-new", "/srv", tar.clone())
            .await
            .expect_err("no /srv yet");
        c.put_archive("ar-put-new", "/", tar_of(&[("srv/", 0o755, "")]))
            .await
            .expect("make /srv");
        c.put_archive("ar-put-new", "/srv", tar.clone())
            .await
            .expect("put created");
        let err = c
            .put_archive("ar-put-run", "/nowhere", tar.clone())
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(404), "{err}");
        let err = c
            .put_archive("ar-put-run", "/bin/sh", tar.clone())
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(400), "{err}");
        let err = c
            .put_archive("ar-no-such", "/tmp", tar.clone())
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(404), "{err}");
    });
    let seen = e.ok(&[
        "exec",
        "ar-put-run",
        "stat",
        "-c",
        "%a %u %g %Y %n",
        "/tmp/app",
        "/tmp/app/conf",
    ]);
    assert_eq!(
        seen,
        "750 1234 4321 1600000000 /tmp/app\n4640 1234 4321 1600000000 /tmp/app/conf"
    );
    assert_eq!(e.ok(&["exec", "ar-put-run", "cat", "/tmp/app/conf"]), "x=1");
    e.ok(&["start", "ar-put-new"]);
    assert_eq!(e.ok(&["wait", "ar-put-new"]), "0");
    assert_eq!(e.ok(&["logs", "ar-put-new"]), "x=1");
    e.ok(&["rm", "-f", "ar-put-run", "ar-put-new"]);
}

#[test]
fn archive_docker_cp_copies_both_ways_with_modes() {
    let e = Engine::start("ar_dcp");
    e.ok(&[
        "run",
        "--network",
        "none",
        "-d",
        "--name",
        "ar-dcp",
        IMAGE,
        "sleep",
        "300",
    ]);
    let src = e.scratch().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("sub/data"), "payload\n").unwrap();
    std::fs::set_permissions(
        src.join("sub/data"),
        std::os::unix::fs::PermissionsExt::from_mode(0o751),
    )
    .unwrap();
    let src_s = src.display().to_string();
    e.ok(&["cp", &src_s, "ar-dcp:/tmp/in"]);
    assert_eq!(
        e.ok(&["exec", "ar-dcp", "stat", "-c", "%a %s", "/tmp/in/sub/data"]),
        "751 8"
    );
    e.ok(&[
        "exec",
        "ar-dcp",
        "sh",
        "-c",
        "mkdir -p /srv/out && echo made > /srv/out/f && chmod 604 /srv/out/f && ln -s f /srv/out/l",
    ]);
    let dst = e.scratch().join("dst");
    let dst_s = dst.display().to_string();
    e.ok(&["cp", "ar-dcp:/srv/out", &dst_s]);
    assert_eq!(std::fs::read_to_string(dst.join("f")).unwrap(), "made\n");
    let mode = std::fs::metadata(dst.join("f")).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o604
    );
    assert_eq!(
        std::fs::read_link(dst.join("l")).unwrap(),
        std::path::Path::new("f")
    );
    // A single file onto a new name, and a directory's contents with `/.`.
    let one = e.scratch().join("one.txt");
    e.ok(&["cp", "ar-dcp:/srv/out/f", &one.display().to_string()]);
    assert_eq!(std::fs::read_to_string(&one).unwrap(), "made\n");
    let contents = e.scratch().join("contents");
    std::fs::create_dir_all(&contents).unwrap();
    e.ok(&["cp", "ar-dcp:/srv/out/.", &contents.display().to_string()]);
    assert!(contents.join("f").is_file());
    let missing = e.docker(&["cp", "ar-dcp:/no/such", &dst_s]);
    assert!(!missing.status.success());
    e.ok(&["rm", "-f", "ar-dcp"]);
}

/// Runs `berth` against `e` with `args`, asserting success; returns stdout.
fn berth_ok(e: &Engine, args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .env("DOCKER_HOST", e.host())
        .env("BERTH_NO_AUTOSTART", "1")
        .output()
        .expect("run berth");
    assert!(
        out.status.success(),
        "berth {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn archive_symlinks_to_the_host_never_make_cp_touch_host_files() {
    let e = Engine::start("ar_sec");
    // A canary on the host, at a path the container names through its symlinks.
    let canary_dir = e.scratch().join("canary");
    std::fs::create_dir_all(&canary_dir).unwrap();
    let canary = canary_dir.join("secret");
    std::fs::write(&canary, "host canary\n").unwrap();
    let canary_s = canary.display().to_string();
    let dir_s = canary_dir.display().to_string();
    e.ok(&[
        "run",
        "--network",
        "none",
        "-d",
        "--name",
        "ar-sec",
        IMAGE,
        "sleep",
        "300",
    ]);
    let plant = format!(
        "mkdir -p /x && ln -s / /x/root && ln -s {dir_s} /x/hostdir && ln -s {canary_s} /x/secret"
    );
    e.ok(&["exec", "ar-sec", "sh", "-c", &plant]);
    let payload = e.scratch().join("secret");
    std::fs::write(&payload, "from cp\n").unwrap();
    let payload_s = payload.display().to_string();
    // Writes through the links land inside the container (or fail), never on the host.
    let _ = e.docker(&["cp", &payload_s, "ar-sec:/x/hostdir/"]);
    e.ok(&["cp", &payload_s, "ar-sec:/x/root/"]);
    e.ok(&["cp", &payload_s, "ar-sec:/x/secret"]);
    assert_eq!(std::fs::read_to_string(&canary).unwrap(), "host canary\n");
    assert_eq!(e.ok(&["exec", "ar-sec", "cat", "/secret"]), "from cp");
    // Reads through the links never return the host file.
    let out = e.scratch().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let out_s = out.display().to_string();
    let _ = e.docker(&["cp", "-L", "ar-sec:/x/secret", &out_s]);
    let got = e.docker(&["cp", "ar-sec:/x/hostdir/secret", "-"]);
    assert!(!String::from_utf8_lossy(&got.stdout).contains("host canary"));
    if let Ok(text) = std::fs::read_to_string(out.join("secret")) {
        assert!(!text.contains("host canary"), "cp -L read the host file");
    }
    // A link swapped in a loop while copying in and out.
    let race = format!(
        "mkdir -p /r/real; while true; do rm -rf /r/d; ln -s {dir_s} /r/d; rm -f /r/d; mkdir -p /r/d; done"
    );
    e.ok(&["exec", "-d", "ar-sec", "sh", "-c", &race]);
    for _ in 0..30 {
        let _ = e.docker(&["cp", &payload_s, "ar-sec:/r/d/"]);
        let got = e.docker(&["cp", "ar-sec:/r/d", "-"]);
        assert!(!String::from_utf8_lossy(&got.stdout).contains("host canary"));
    }
    assert_eq!(std::fs::read_to_string(&canary).unwrap(), "host canary\n");
    assert_eq!(
        std::fs::read_dir(&canary_dir).unwrap().count(),
        1,
        "host dir written"
    );
    e.ok(&["rm", "-f", "ar-sec"]);
}

#[test]
fn archive_berth_cp_export_and_diff() {
    let e = Engine::start("ar_cli");
    e.ok(&[
        "run",
        "--network",
        "none",
        "-d",
        "--name",
        "ar-cli",
        IMAGE,
        "sleep",
        "300",
    ]);
    let src = e.scratch().join("hello.txt");
    std::fs::write(&src, "hi\n").unwrap();
    let src_s = src.display().to_string();
    berth_ok(&e, &["container", "cp", &src_s, "ar-cli:/tmp/"]);
    assert_eq!(e.ok(&["exec", "ar-cli", "cat", "/tmp/hello.txt"]), "hi");
    let back = e.scratch().join("back.txt");
    berth_ok(
        &e,
        &[
            "container",
            "cp",
            "ar-cli:/tmp/hello.txt",
            &back.display().to_string(),
        ],
    );
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "hi\n");
    let tar = berth_ok(&e, &["container", "cp", "ar-cli:/tmp/hello.txt", "-"]);
    let names: Vec<String> = tar::Archive::new(&tar[..])
        .entries()
        .unwrap()
        .map(|en| en.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(names, ["hello.txt"]);
    e.ok(&[
        "exec",
        "ar-cli",
        "sh",
        "-c",
        "echo changed > /etc/hostname.new; rm /bin/ls; touch /bin/busybox",
    ]);
    let diff = String::from_utf8(berth_ok(&e, &["container", "diff", "ar-cli"])).unwrap();
    for line in [
        "A /etc/hostname.new",
        "C /bin/busybox",
        "D /bin/ls",
        "A /tmp/hello.txt",
    ] {
        assert!(
            diff.lines().any(|l| l == line),
            "{line} missing in:\n{diff}"
        );
    }
    let file = e.scratch().join("export.tar");
    berth_ok(
        &e,
        &[
            "container",
            "export",
            "-o",
            &file.display().to_string(),
            "ar-cli",
        ],
    );
    let names: Vec<String> = tar::Archive::new(std::fs::File::open(&file).unwrap())
        .entries()
        .unwrap()
        .map(|en| en.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(names.iter().any(|n| n == "bin/busybox"), "{names:?}");
    assert!(names.iter().any(|n| n == "etc/hostname.new"));
    assert!(!names.iter().any(|n| n == "bin/ls"));
    e.ok(&["rm", "-f", "ar-cli"]);
}
