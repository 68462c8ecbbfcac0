//! Security regressions of the runtime through the engine: images that plant symlinks at
//! `/dev/null` or at a mount target must not redirect any mount to the host, and no process a
//! container can see runs the host's runtime binary (CVE-2019-5736).

use std::path::{Path, PathBuf};

use crate::harness::{BUSYBOX, Engine, IMAGE};
use crate::util::show;

/// Imports as `name` a busybox image that also holds `links` (path in the image, link target),
/// their parent directories created as needed.
fn hostile_image(e: &Engine, name: &str, links: &[(&str, &str)]) {
    let path = e
        .scratch()
        .join(format!("{}.tar", name.replace([':', '/'], "-")));
    let mut tar = tar::Builder::new(std::fs::File::create(&path).expect("create tar"));
    let header = |kind: tar::EntryType, mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(0);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h
    };
    let mut dirs: Vec<String> = ["bin", "etc", "proc", "sys", "dev", "tmp"]
        .map(String::from)
        .to_vec();
    for (p, _) in links {
        let mut parent = Path::new(p).parent();
        while let Some(d) = parent.filter(|d| !d.as_os_str().is_empty()) {
            dirs.push(d.display().to_string());
            parent = d.parent();
        }
    }
    dirs.sort();
    dirs.dedup();
    for d in &dirs {
        let mut h = header(tar::EntryType::Directory, 0o755);
        tar.append_data(&mut h, d, std::io::empty()).expect("dir");
    }
    tar.append_path_with_name(BUSYBOX, "bin/busybox")
        .expect("busybox");
    let list = std::process::Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .expect("busybox --list");
    let applets = String::from_utf8(list.stdout).expect("applet list");
    for applet in applets.lines().filter(|a| !a.is_empty() && *a != "busybox") {
        let mut h = header(tar::EntryType::Symlink, 0o777);
        tar.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .expect("applet link");
    }
    for (p, target) in links {
        let mut h = header(tar::EntryType::Symlink, 0o777);
        tar.append_link(&mut h, p, target).expect("planted link");
    }
    tar.finish().expect("finish tar");
    e.ok(&["import", &path.to_string_lossy(), name]);
}

/// What the host must still look like after the containers ran.
#[derive(Debug, PartialEq)]
struct HostView {
    /// (path, file type, mode, contents or listing) of each watched path.
    files: Vec<(PathBuf, String)>,
    /// Mount points of the host mount namespace that name a watched path.
    mounts: Vec<String>,
}

fn host_view(paths: &[PathBuf]) -> HostView {
    use std::os::unix::fs::MetadataExt;
    let files = paths
        .iter()
        .map(|p| {
            let meta = std::fs::symlink_metadata(p).expect("a watched host path");
            let body = match meta.is_dir() {
                true => {
                    let mut names: Vec<String> = std::fs::read_dir(p)
                        .expect("list watched dir")
                        .map(|d| d.unwrap().file_name().to_string_lossy().into_owned())
                        .collect();
                    names.sort();
                    names.join(",")
                }
                false => std::fs::read_to_string(p).expect("read watched file"),
            };
            (p.clone(), format!("{:o} {body}", meta.mode()))
        })
        .collect();
    let info = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let mounts = info
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .filter(|m| paths.iter().any(|p| Path::new(m).starts_with(p)))
        .map(str::to_owned)
        .collect();
    HostView { files, mounts }
}

/// `docker run --rm --network none` with `args`.
fn run(e: &Engine, args: &[&str]) -> std::process::Output {
    let mut all = vec!["run", "--rm", "--network", "none"];
    all.extend_from_slice(args);
    e.docker(&all)
}

/// Inside: `/dev/null` is the null device, the masked files of `/proc` read empty, and
/// `/proc/sys/kernel/core_pattern` is read-only.
const CHECK_MASKS: &str = "ls -l /dev/null | cut -c1; \
     for p in /proc/kcore /proc/keys /proc/timer_list; do [ -e $p ] && cat $p; done | wc -c; \
     echo x > /dev/null && echo null-ok; \
     ( echo '|/bin/false' > /proc/sys/kernel/core_pattern ) 2>/dev/null && echo WRITABLE || echo ro";

#[test]
fn runtime_security_dev_null_symlink_in_an_image_cannot_redirect_masks() {
    let e = Engine::start("rt_devnull");
    let canary = e.scratch().join("canary");
    std::fs::write(&canary, "host canary\n").expect("write canary");
    let canary_s = canary.to_string_lossy().into_owned();
    let up = format!("../..{canary_s}");
    let variants = [
        ("sec-null-host", canary_s.as_str()),
        ("sec-null-up", up.as_str()),
        ("sec-null-core", "/proc/sys/kernel/core_pattern"),
        ("sec-null-pid", "../proc/sys/kernel/core_uses_pid"),
    ];
    let watched = [
        canary.clone(),
        PathBuf::from("/proc/sys/kernel/core_pattern"),
        PathBuf::from("/proc/sys/kernel/core_uses_pid"),
    ];
    let before = host_view(&watched);
    for (image, target) in variants {
        hostile_image(&e, image, &[("dev/null", target)]);
        // The engine's /dev tmpfs hides the image's /dev: the container starts, fully masked.
        let out = run(&e, &[image, "sh", "-c", CHECK_MASKS]);
        assert!(out.status.success(), "{image}: {}", show(&out));
        let got = String::from_utf8_lossy(&out.stdout);
        assert_eq!(got, "c\n0\nnull-ok\nro\n", "{image} (-> {target})");
        // A volume at /dev is filled from the image's /dev, planted link included: the
        // container must not start, and says why.
        let vol = format!("{image}-dev");
        let out = run(
            &e,
            &["-v", &format!("{vol}:/dev"), image, "sh", "-c", CHECK_MASKS],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && out.stdout.is_empty(),
            "{image} with /dev volume started: {}",
            show(&out)
        );
        assert!(
            err.contains("device \"/dev/null\" in the container is a symlink"),
            "{image} with /dev volume: unclear error: {}",
            show(&out)
        );
        e.ok(&["volume", "rm", &vol]);
        assert_eq!(host_view(&watched), before, "after {image}");
    }
}

/// The image of the mount-target test.
const IMAGE_LINKS: &str = "sec-links";

#[test]
fn runtime_security_symlinked_mount_targets_stay_inside_the_rootfs() {
    let e = Engine::start("rt_bindlink");
    // A host directory the image's links name, holding a secret a volume copy-up must not see.
    let host_dir = e.scratch().join("host-dir");
    std::fs::create_dir(&host_dir).expect("host dir");
    std::fs::write(host_dir.join("secret"), "host secret\n").expect("secret");
    let src = e.scratch().join("bind-src");
    std::fs::create_dir(&src).expect("bind source");
    std::fs::write(src.join("from-src"), "bound\n").expect("bind source file");
    let host_s = host_dir.to_string_lossy().into_owned();
    let up = format!("../../../../../../..{host_s}");
    hostile_image(
        &e,
        IMAGE_LINKS,
        &[
            ("mnt/abs", host_s.as_str()),
            ("mnt/up", up.as_str()),
            ("mnt/etc", "/etc"),
        ],
    );
    let watched = [host_dir.clone(), src.clone()];
    let before = host_view(&watched);
    let bind = format!("{}:/mnt/abs", src.display());
    let cases: [(&[&str], &str, &str); 5] = [
        // A bind mount on an absolute link: visible through the link, inside the rootfs.
        (
            &["-v", &bind],
            "cat /mnt/abs/from-src; touch /mnt/abs/new",
            "bound\n",
        ),
        // A tmpfs on a link climbing out with ../: written inside only.
        (
            &["--tmpfs", "/mnt/up"],
            "echo in > /mnt/up/file && cat /mnt/up/file; ls /mnt/up",
            "in\nfile\n",
        ),
        // A named volume on the absolute link: its copy-up reads the image, not the host.
        (
            &["-v", "sec-vol:/mnt/abs"],
            "ls -A /mnt/abs; echo done",
            "done\n",
        ),
        // A bind below the climbing link: the missing directories are made in the rootfs.
        (
            &["-v", &format!("{}:/mnt/up/deep/x", src.display())],
            "cat /mnt/up/deep/x/from-src",
            "bound\n",
        ),
        // A read-only bind of a file over a link to the image's own /etc.
        (
            &[
                "-v",
                &format!("{}:/mnt/etc/planted:ro", src.join("from-src").display()),
            ],
            "cat /etc/planted; echo no > /etc/planted 2>/dev/null || echo ro",
            "bound\nro\n",
        ),
    ];
    for (flags, script, want) in cases {
        let mut args: Vec<&str> = flags.to_vec();
        args.extend_from_slice(&[IMAGE_LINKS, "sh", "-c", script]);
        let out = run(&e, &args);
        assert!(out.status.success(), "{flags:?}: {}", show(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{flags:?}");
        let now = host_view(&watched);
        // The bind source gets the container's write in the first case; nothing else changes.
        assert_eq!(now.files[0], before.files[0], "{flags:?}: host dir changed");
        assert!(
            now.mounts.is_empty(),
            "{flags:?}: host mounts {:?}",
            now.mounts
        );
    }
    e.ok(&["volume", "rm", "sec-vol"]);
    let after = host_view(&watched);
    let listing = &after.files[1].1;
    assert!(listing.ends_with(" from-src,new"), "bind source: {listing}");
    assert_eq!(after.files[0], before.files[0]);
}

/// The seals of the file behind `/proc/<pid>/exe`, and whether it can be written through a
/// reopened descriptor (the CVE-2019-5736 attack: hold the exe, reopen it for writing). The
/// probe writes back the byte already there, so even a writable file is left unchanged.
fn exe_is_sealed(pid: i32) -> Result<String, String> {
    use std::io::{Read, Seek, Write};
    use std::os::fd::AsRawFd;
    let exe = format!("/proc/{pid}/exe");
    let link = std::fs::read_link(&exe).map_err(|e| format!("{exe}: {e}"))?;
    let held = std::fs::File::open(&exe).map_err(|e| format!("open {exe}: {e}"))?;
    // SAFETY: F_GET_SEALS only reads the seals of a descriptor we own.
    let seals = unsafe { libc::fcntl(held.as_raw_fd(), libc::F_GET_SEALS) };
    if seals < 0 || seals & libc::F_SEAL_WRITE == 0 {
        return Err(format!("{exe} -> {} has no write seal", link.display()));
    }
    let mut first = [0u8; 1];
    (&held).read_exact(&mut first).map_err(|e| e.to_string())?;
    let reopened = format!("/proc/self/fd/{}", held.as_raw_fd());
    if let Ok(mut w) = std::fs::OpenOptions::new().write(true).open(&reopened) {
        w.rewind().map_err(|e| e.to_string())?;
        if w.write_all(&first).is_ok() {
            return Err(format!("{exe} -> {} was writable", link.display()));
        }
    }
    Ok(link.display().to_string())
}

/// The parent pid of `pid` from `/proc/<pid>/stat`.
fn ppid(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after = stat.rsplit_once(") ").expect("stat format").1;
    after.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn runtime_security_no_container_process_reaches_the_host_runtime_binary() {
    let e = Engine::start("rt_exe");
    let id = e.ok(&["run", "-d", "--network", "none", IMAGE, "sleep", "300"]);
    // Inside: the container's own processes run its binaries; none can be opened for writing.
    let inside = e.ok(&[
        "exec",
        &id,
        "sh",
        "-c",
        "readlink /proc/self/exe; readlink /proc/1/exe; \
         for p in /proc/self/exe /proc/1/exe; do \
           ( : >> $p ) 2>/dev/null && echo WRITABLE $p || echo refused; done",
    ]);
    assert_eq!(inside, "/bin/busybox\n/bin/busybox\nrefused\nrefused");
    // Outside its pid namespace, the shim (parent of the init) and an exec runner (parent of
    // the exec'd command) run from the engine's sealed copy, never from the host file.
    let init: i32 = e
        .ok(&["inspect", "-f", "{{.State.Pid}}", &id])
        .parse()
        .unwrap();
    let shim = ppid(init);
    let link = exe_is_sealed(shim).unwrap_or_else(|why| panic!("shim {shim}: {why}"));
    assert!(link.starts_with("/memfd:"), "shim exe {link}");
    e.ok(&["exec", "-d", &id, "sleep", "301"]);
    let exec_pid = (0..200)
        .find_map(|_| {
            let found = std::fs::read_dir("/proc").unwrap().find_map(|d| {
                let pid: i32 = d.ok()?.file_name().to_str()?.parse().ok()?;
                let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
                (cmd == b"sleep\x00301\x00").then_some(pid)
            });
            if found.is_none() {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            found
        })
        .expect("the exec'd sleep");
    let runner = ppid(exec_pid);
    let link = exe_is_sealed(runner).unwrap_or_else(|why| panic!("exec runner {runner}: {why}"));
    assert!(link.starts_with("/memfd:"), "exec runner exe {link}");
    e.ok(&["rm", "-f", &id]);
}
