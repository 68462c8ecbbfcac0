//! End-to-end tests of `ImageStore`: import of a busybox rootfs, save/load round trips in both
//! archive layouts, reference counting and garbage collection, and (as root) mounting a
//! two-layer image with whiteouts through overlayfs.

mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use berth_image::archive::ArchiveError;
use berth_image::digest::{Algorithm, Digest};
use berth_image::images::{ImageError, ImageStore};
use berth_image::import::ImportOptions;
use berth_image::snapshot::{mount_all, unmount};
use common::{E, RawTar, require_root};

const BUSYBOX: &str = "/bin/busybox";

/// A rootfs tar with busybox and the usual applet links.
fn busybox_rootfs() -> Vec<u8> {
    let bin = fs::read(BUSYBOX).unwrap_or_else(|e| {
        panic!("{BUSYBOX}: {e}: install Debian's busybox-static (apt-get install busybox-static)")
    });
    let mut t = RawTar::new();
    t.add(E::dir(b"bin/"));
    let mut f = E::file(b"bin/busybox", &bin);
    f.mode = 0o755;
    t.add(f);
    for applet in ["sh", "ls", "echo", "cat", "sleep", "true"] {
        let p = format!("bin/{applet}");
        t.add(E::symlink(p.as_bytes(), b"busybox"));
    }
    let mut tmp = E::dir(b"tmp/");
    tmp.mode = 0o1777;
    t.add(tmp);
    t.add(E::dir(b"etc/"));
    t.add(E::file(b"etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"));
    t.finish()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn import_busybox(store: &ImageStore, name: &str) -> berth_image::images::ImageSummary {
    let opts = ImportOptions {
        reference: Some(name.into()),
        changes: vec![
            r#"CMD ["sh"]"#.into(),
            "ENV PATH=/bin".into(),
            "WORKDIR /tmp".into(),
            "EXPOSE 8080".into(),
            "LABEL org.berth.test=yes".into(),
            "USER root".into(),
            "VOLUME /data".into(),
            "STOPSIGNAL SIGINT".into(),
            "ENTRYPOINT []".into(),
        ],
        message: Some("test import".into()),
        created: Some("2024-01-02T03:04:05Z".into()),
    };
    store.import(&gzip(&busybox_rootfs())[..], &opts).unwrap()
}

/// Unmounts on drop so a failing assertion never leaves a mount behind.
struct MountGuard(PathBuf);

impl Drop for MountGuard {
    fn drop(&mut self) {
        if let Err(e) = unmount(&self.0) {
            eprintln!("cleanup: {e}");
        }
    }
}

#[test]
fn import_busybox_builds_a_one_layer_image() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let s = import_busybox(&store, "busybox");
    assert_eq!(s.references, vec!["busybox:latest"]);
    assert_eq!(s.layers, 1);
    assert_eq!(s.created.as_deref(), Some("2024-01-02T03:04:05Z"));
    let cfg = store.image_config("busybox").unwrap();
    let c = cfg.config().clone().unwrap();
    assert_eq!(c.cmd().as_deref().unwrap(), ["sh"]);
    assert_eq!(c.env().as_deref().unwrap(), ["PATH=/bin"]);
    assert_eq!(c.working_dir().as_deref(), Some("/tmp"));
    assert_eq!(c.exposed_ports().as_deref().unwrap(), ["8080/tcp"]);
    assert_eq!(c.labels().as_ref().unwrap()["org.berth.test"], "yes");
    assert_eq!(c.stop_signal().as_deref(), Some("SIGINT"));
    let raw_diff = Digest::of_bytes(Algorithm::Sha256, &busybox_rootfs());
    assert_eq!(cfg.rootfs().diff_ids(), &vec![raw_diff.to_string()]);
    // Resolvable by every spelling.
    for spelling in [
        "busybox",
        "busybox:latest",
        "docker.io/library/busybox:latest",
        &s.id.to_string(),
        &s.id.hex()[..12],
        &s.manifest.to_string(),
    ] {
        assert_eq!(store.resolve(spelling).unwrap().id, s.id, "{spelling}");
    }
    assert!(matches!(
        store.resolve("nope"),
        Err(ImageError::NotFound(_))
    ));
    store.tag("busybox", "localhost:5000/bb:v1").unwrap();
    let listed = store.list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].references,
        vec!["busybox:latest", "localhost:5000/bb:v1"]
    );
}

#[test]
fn save_then_load_round_trips_oci_layout() {
    require_root("save_then_load_round_trips_oci_layout");
    let a = tempfile::tempdir().unwrap();
    let store = ImageStore::open(a.path()).unwrap();
    let s = import_busybox(&store, "busybox:1");
    let mut archive = Vec::new();
    store.save(&["busybox:1"], &mut archive).unwrap();
    let mut names = Vec::new();
    for e in tar::Archive::new(&archive[..]).entries().unwrap() {
        names.push(e.unwrap().path().unwrap().to_string_lossy().into_owned());
    }
    for needed in ["oci-layout", "index.json", "manifest.json", "repositories"] {
        assert!(
            names.iter().any(|n| n == needed),
            "{needed} missing from {names:?}"
        );
    }
    assert!(
        names
            .iter()
            .any(|n| n == &format!("blobs/sha256/{}", s.id.hex()))
    );

    let b = tempfile::tempdir().unwrap();
    let other = ImageStore::open(b.path()).unwrap();
    let loaded = other.load(&archive[..]).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].id, s.id);
    assert_eq!(loaded[0].manifest, s.manifest);
    assert_eq!(loaded[0].references, vec!["busybox:1"]);

    let id = format!("roundtrip-{}", std::process::id());
    let mounts = other.prepare_rootfs(&id, "busybox:1").unwrap();
    assert_eq!(mounts[0].fstype, "overlay");
    let diff = b.path().join("layers").join(
        other.image_config("busybox:1").unwrap().rootfs().diff_ids()[0]
            .trim_start_matches("sha256:"),
    );
    assert_eq!(
        fs::read(diff.join("diff/bin/busybox")).unwrap(),
        fs::read(BUSYBOX).unwrap()
    );
    assert_eq!(
        fs::read_link(diff.join("diff/bin/sh")).unwrap(),
        Path::new("busybox")
    );
    other.release(&id).unwrap();
}

/// A legacy `docker save` archive with two images sharing a base layer.
fn legacy_archive(tamper_diff_id: bool) -> Vec<u8> {
    let base = RawTar::new()
        .add(E::file(b"a", b"a"))
        .add(E::file(b"b", b"b"))
        .add(E::dir(b"d/"))
        .add(E::file(b"d/x", b"x"))
        .finish();
    let top = RawTar::new()
        .add(E::file(b".wh.a", b""))
        .add(E::file(b"c", b"c"))
        .add(E::dir(b"d/"))
        .add(E::file(b"d/.wh..wh..opq", b""))
        .add(E::file(b"d/y", b"y"))
        .finish();
    let other_top = RawTar::new().add(E::file(b"other", b"o")).finish();
    let diff = |b: &[u8]| Digest::of_bytes(Algorithm::Sha256, b).to_string();
    let mut base_diff = diff(&base);
    if tamper_diff_id {
        base_diff = diff(b"tampered");
    }
    let cfg = |layers: &[String]| {
        serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": layers},
        }))
        .unwrap()
    };
    let cfg1 = cfg(&[base_diff.clone(), diff(&top)]);
    let cfg2 = cfg(&[base_diff, diff(&other_top)]);
    let manifest = serde_json::json!([
        {"Config": "c1.json", "RepoTags": ["legacy:1"], "Layers": ["l1/layer.tar", "l2/layer.tar"]},
        {"Config": "c2.json", "RepoTags": ["legacy:2"], "Layers": ["l3/layer.tar", "l4/layer.tar"]},
    ]);
    let mut out = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        out.append_data(&mut h, path, data).unwrap();
    };
    add("l1/layer.tar", &base);
    add("l2/layer.tar", &gzip(&top));
    add("l4/layer.tar", &other_top);
    add("c1.json", &cfg1);
    add("c2.json", &cfg2);
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    out.append_link(&mut h, "l3/layer.tar", "../l1/layer.tar")
        .unwrap();
    out.into_inner().unwrap()
}

/// A fresh store in a temporary directory with `legacy_archive`'s two images loaded.
fn store_with_legacy_images() -> (tempfile::TempDir, ImageStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    store.load(&legacy_archive(false)[..]).unwrap();
    (dir, store)
}

#[test]
fn legacy_archive_loads_with_shared_layers() {
    require_root("legacy_archive_loads_with_shared_layers");
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let loaded = store.load(&legacy_archive(false)[..]).unwrap();
    assert_eq!(loaded.len(), 2);
    assert_eq!(store.resolve("legacy:1").unwrap().layers, 2);
    assert_eq!(store.resolve("legacy:2").unwrap().layers, 2);
    let m1 = store
        .read_manifest(&store.resolve("legacy:1").unwrap().manifest)
        .unwrap();
    let m2 = store
        .read_manifest(&store.resolve("legacy:2").unwrap().manifest)
        .unwrap();
    assert_eq!(
        m1.layers()[0].digest(),
        m2.layers()[0].digest(),
        "base layer shared"
    );
    assert!(m1.layers()[1].media_type().to_string().ends_with("+gzip"));
}

#[test]
fn legacy_archive_with_wrong_diff_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let e = store.load(&legacy_archive(true)[..]).unwrap_err();
    assert!(
        matches!(e, ImageError::Archive(ArchiveError::DiffIdMismatch { .. })),
        "{e}"
    );
}

#[test]
fn archive_escaping_paths_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let evil = RawTar::new().add(E::file(b"../../evil", b"x")).finish();
    let e = store.load(&evil[..]).unwrap_err();
    assert!(
        matches!(e, ImageError::Archive(ArchiveError::Invalid(_))),
        "{e}"
    );
    assert!(!dir.path().parent().unwrap().join("evil").exists());
}

fn count_blobs(root: &Path) -> usize {
    fs::read_dir(root.join("content/blobs/sha256"))
        .unwrap()
        .count()
}

#[test]
fn leases_and_shared_layers_survive_removal() {
    require_root("leases_and_shared_layers_survive_removal");
    let (dir, store) = store_with_legacy_images();
    let id = format!("lease-{}", std::process::id());
    store.prepare_rootfs(&id, "legacy:1").unwrap();
    // 2 manifests + 2 configs + 4 layer blobs (l1 and l3 are the same blob) = 7.
    assert_eq!(count_blobs(dir.path()), 7);

    let e = store.remove("legacy:1", false).unwrap_err();
    assert!(matches!(e, ImageError::InUse { .. }), "{e}");
    store.resolve("legacy:1").unwrap();

    let r = store.remove("legacy:2", false).unwrap();
    assert_eq!(r.untagged, vec!["legacy:2"]);
    assert_eq!(r.deleted.images.len(), 1);
    assert_eq!(
        r.deleted.blobs.len(),
        3,
        "manifest, config and own top layer; base is shared"
    );
    assert_eq!(count_blobs(dir.path()), 4);

    let r = store.remove("legacy:1", true).unwrap();
    assert_eq!(r.untagged, vec!["legacy:1"]);
    assert!(r.deleted.blobs.is_empty(), "leased content must stay");
    assert_eq!(count_blobs(dir.path()), 4);
    assert_eq!(store.layers().list().unwrap().len(), 2);

    store.release(&id).unwrap();
    assert_eq!(count_blobs(dir.path()), 0);
    assert!(store.layers().list().unwrap().is_empty());
    assert!(fs::read_dir(dir.path().join("l")).unwrap().next().is_none());
    assert!(!dir.path().join("containers").join(&id).exists());
}

#[test]
fn crash_leftovers_are_cleaned_on_open() {
    let dir = tempfile::tempdir().unwrap();
    ImageStore::open(dir.path()).unwrap();
    let leftover = dir.path().join("layers/.tmp-crashed/diff");
    fs::create_dir_all(&leftover).unwrap();
    fs::write(leftover.join("half"), b"x").unwrap();
    let staging = dir.path().join(".load-crashed");
    fs::create_dir_all(staging.join("blobs")).unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    assert!(!dir.path().join("layers/.tmp-crashed").exists());
    assert!(!staging.exists());
    assert!(store.layers().list().unwrap().is_empty());
}

#[test]
fn overlay_mount_of_two_layer_image_shows_merged_view() {
    require_root("overlay_mount_of_two_layer_image_shows_merged_view");
    let (dir, store) = store_with_legacy_images();
    let id = format!("mount-{}", std::process::id());
    let mounts = store.prepare_rootfs(&id, "legacy:1").unwrap();
    let lower = mounts[0].options[0].clone();
    assert_eq!(lower.matches(':').count(), 1, "two lowerdirs: {lower}");
    let target = dir.path().join("merged");
    fs::create_dir(&target).unwrap();
    mount_all(&mounts, &target).unwrap();
    {
        let _guard = MountGuard(target.clone());
        assert!(!target.join("a").exists(), "whiteout hides a");
        assert_eq!(fs::read(target.join("b")).unwrap(), b"b");
        assert_eq!(fs::read(target.join("c")).unwrap(), b"c");
        assert!(!target.join("d/x").exists(), "opaque dir hides lower d/x");
        assert_eq!(fs::read(target.join("d/y")).unwrap(), b"y");
        fs::write(target.join("new"), b"n").unwrap();
        assert_eq!(
            fs::read(dir.path().join("containers").join(&id).join("upper/new")).unwrap(),
            b"n"
        );
    }
    assert!(!target.join("b").exists(), "unmounted");
    store.release(&id).unwrap();
}

#[test]
fn failed_rootfs_preparation_drops_its_lease() {
    require_root("failed_rootfs_preparation_drops_its_lease");
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    // A layer whose content escapes: import accepts it, unpack refuses it.
    let evil = RawTar::new().add(E::file(b"../escape", b"x")).finish();
    let opts = ImportOptions {
        reference: Some("evil".into()),
        ..ImportOptions::default()
    };
    store.import(&evil[..], &opts).unwrap();
    let id = format!("evil-{}", std::process::id());
    let e = store.prepare_rootfs(&id, "evil").unwrap_err();
    assert!(matches!(e, ImageError::Layer(_)), "{e}");
    assert!(!dir.path().parent().unwrap().join("escape").exists());
    assert!(
        store.layers().list().unwrap().is_empty(),
        "no half layer left"
    );
    let r = store.remove("evil", false).unwrap();
    assert_eq!(
        r.untagged,
        vec!["evil:latest"],
        "lease was dropped, removal allowed"
    );
    assert_eq!(count_blobs(dir.path()), 0);
}

#[test]
fn concurrent_rootfs_preparation_unpacks_each_layer_once() {
    require_root("concurrent_rootfs_preparation_unpacks_each_layer_once");
    let (dir, store) = store_with_legacy_images();
    let ids: Vec<String> = (0..4)
        .map(|i| format!("conc-{}-{i}", std::process::id()))
        .collect();
    std::thread::scope(|s| {
        for id in &ids {
            let store = &store;
            s.spawn(move || store.prepare_rootfs(id, "legacy:1").unwrap());
        }
    });
    assert_eq!(store.layers().list().unwrap().len(), 2);
    assert_eq!(fs::read_dir(dir.path().join("l")).unwrap().count(), 2);
    let leftovers: Vec<_> = fs::read_dir(dir.path().join("layers"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "temp dirs left: {leftovers:?}");
    for id in &ids {
        store.release(id).unwrap();
    }
    assert_eq!(store.layers().list().unwrap().len(), 2, "still tagged");
    store.remove("legacy:1", false).unwrap();
    store.remove("legacy:2", false).unwrap();
    assert!(store.layers().list().unwrap().is_empty());
    assert_eq!(count_blobs(dir.path()), 0);
}

#[test]
fn concurrent_releases_drop_every_lease_and_then_collect_the_image() {
    require_root("concurrent_releases_drop_every_lease_and_then_collect_the_image");
    let (dir, store) = store_with_legacy_images();
    let ids: Vec<String> = (0..8)
        .map(|i| format!("rel-{}-{i}", std::process::id()))
        .collect();
    for id in &ids {
        store.prepare_rootfs(id, "legacy:1").unwrap();
    }
    let index = || fs::read_to_string(dir.path().join("images.json")).unwrap();
    std::thread::scope(|s| {
        for id in &ids {
            let store = &store;
            s.spawn(move || store.release(id).unwrap());
        }
    });
    for id in &ids {
        assert!(!index().contains(id.as_str()), "lease of {id} left");
        assert!(!dir.path().join("containers").join(id).exists());
    }
    // A release of a container without a lease changes nothing and writes nothing.
    let before = fs::metadata(dir.path().join("images.json")).unwrap();
    store.release("never-leased").unwrap();
    let after = fs::metadata(dir.path().join("images.json")).unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::ino(&before),
        std::os::unix::fs::MetadataExt::ino(&after),
        "index rewritten"
    );
    // No lease is left to hold the image back.
    store.remove("legacy:1", false).unwrap();
    store.remove("legacy:2", false).unwrap();
    assert!(store.layers().list().unwrap().is_empty());
    assert_eq!(count_blobs(dir.path()), 0);
}
