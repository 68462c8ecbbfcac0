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
