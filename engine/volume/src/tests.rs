//! Store behaviour over a recording fake [`Mounter`], without root.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::{COPYUP_MARK, CopyUp, CreateSpec, LocalMount, Mounter, VolumeError, VolumeStore};

#[derive(Debug, Default)]
struct FakeMounter {
    mounted: Mutex<BTreeSet<PathBuf>>,
    log: Mutex<Vec<String>>,
}

impl Mounter for FakeMounter {
    fn mount(&self, m: &LocalMount) -> std::io::Result<()> {
        self.mounted.lock().unwrap().insert(m.target.clone());
        self.log
            .lock()
            .unwrap()
            .push(format!("mount {} {}", m.fstype, m.source));
        Ok(())
    }
    fn unmount(&self, target: &Path) -> std::io::Result<()> {
        self.mounted.lock().unwrap().remove(target);
        self.log.lock().unwrap().push("unmount".to_owned());
        Ok(())
    }
    fn is_mounted(&self, target: &Path) -> std::io::Result<bool> {
        Ok(self.mounted.lock().unwrap().contains(target))
    }
}

fn store(dir: &Path) -> (VolumeStore, Arc<FakeMounter>) {
    let m = Arc::new(FakeMounter::default());
    (
        VolumeStore::open(&dir.join("volumes"), m.clone()).unwrap(),
        m,
    )
}

fn named(name: &str) -> CreateSpec {
    CreateSpec {
        name: name.to_owned(),
        ..CreateSpec::default()
    }
}

#[test]
fn create_is_idempotent_and_survives_reopen() {
    let d = tempfile::tempdir().unwrap();
    let (s, _) = store(d.path());
    let (v, created) = s.create(named("db_data")).unwrap();
    assert!(created && v.driver == "local");
    assert!(!s.create(named("db_data")).unwrap().1);
    assert!(s.mountpoint("db_data").is_dir());
    let (anon, _) = s.create(CreateSpec::default()).unwrap();
    assert_eq!(anon.name.len(), 64);
    assert!(anon.is_anonymous());
    drop(s);
    let (s, _) = store(d.path());
    let names: Vec<String> = s.list().into_iter().map(|v| v.name).collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"db_data".to_owned()));
    assert!(matches!(
        s.create(named("../x")),
        Err(VolumeError::InvalidName(_))
    ));
}

#[test]
fn an_unfinished_create_is_dropped_on_open() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("volumes/half/_data")).unwrap();
    std::fs::create_dir_all(d.path().join("volumes/.removing-old/_data")).unwrap();
    let (s, _) = store(d.path());
    assert!(s.list().is_empty());
    assert!(!d.path().join("volumes/half").exists());
    assert!(!d.path().join("volumes/.removing-old").exists());
}

#[test]
fn in_use_volumes_need_force_and_devices_follow_users() {
    let d = tempfile::tempdir().unwrap();
    let (s, m) = store(d.path());
    let opts: BTreeMap<String, String> = [("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=1m")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    s.create(CreateSpec {
        name: "t1".into(),
        driver_opts: opts,
        ..CreateSpec::default()
    })
    .unwrap();
    s.acquire("t1", "c1").unwrap();
    s.acquire("t1", "c2").unwrap();
    assert_eq!(m.log.lock().unwrap().as_slice(), ["mount tmpfs tmpfs"]);
    let e = s.remove("t1", false).unwrap_err();
    assert!(e.to_string().contains("volume is in use - [c1, c2]"), "{e}");
    s.release("t1", "c1").unwrap();
    assert!(m.is_mounted(&s.mountpoint("t1")).unwrap());
    s.release("t1", "c2").unwrap();
    assert!(!m.is_mounted(&s.mountpoint("t1")).unwrap());
    s.acquire("t1", "c3").unwrap();
    s.remove("t1", true).unwrap();
    assert!(!m.is_mounted(&d.path().join("volumes/t1/_data")).unwrap());
    assert!(matches!(s.get("t1"), Err(VolumeError::NotFound(_))));
    assert!(!d.path().join("volumes/t1").exists());
}

#[test]
fn prune_takes_only_unused_selected_volumes() {
    let d = tempfile::tempdir().unwrap();
    let (s, _) = store(d.path());
    s.create(named("keep")).unwrap();
    s.create(named("used")).unwrap();
    let (anon, _) = s.create(CreateSpec::default()).unwrap();
    std::fs::write(s.mountpoint(&anon.name).join("f"), b"12345").unwrap();
    s.acquire("used", "c").unwrap();
    let gone = s.prune(|v| v.is_anonymous() || v.name == "used").unwrap();
    assert_eq!(gone, [(anon.name.clone(), 5)]);
    assert_eq!(s.list().len(), 2);
}

fn image_dir(d: &Path) -> PathBuf {
    let rootfs = d.join("rootfs");
    std::fs::create_dir_all(rootfs.join("var/lib/app/sub")).unwrap();
    std::fs::write(rootfs.join("var/lib/app/conf"), b"image").unwrap();
    std::os::unix::fs::symlink("/var/lib/app", rootfs.join("applink")).unwrap();
    rootfs
}

#[test]
fn copy_up_fills_an_empty_volume_and_leaves_a_full_one() {
    let d = tempfile::tempdir().unwrap();
    let (s, _) = store(d.path());
    let rootfs = image_dir(d.path());
    s.create(named("empty")).unwrap();
    s.create(named("full")).unwrap();
    std::fs::write(s.mountpoint("full").join("mine"), b"user").unwrap();
    let r = s.populate("empty", &rootfs, Path::new("/applink")).unwrap();
    assert!(matches!(r, CopyUp::Copied(st) if st.bytes == 5), "{r:?}");
    assert_eq!(
        std::fs::read(s.mountpoint("empty").join("conf")).unwrap(),
        b"image"
    );
    assert!(s.mountpoint("empty").join("sub").is_dir());
    assert_eq!(
        s.populate("full", &rootfs, Path::new("/var/lib/app"))
            .unwrap(),
        CopyUp::NotEmpty
    );
    assert!(!s.mountpoint("full").join("conf").exists());
    s.create(named("none")).unwrap();
    assert_eq!(
        s.populate("none", &rootfs, Path::new("/nope")).unwrap(),
        CopyUp::NothingToCopy
    );
    assert!(!s.copy_incomplete("empty"));
}

#[test]
fn an_interrupted_copy_is_marked_and_redone() {
    let d = tempfile::tempdir().unwrap();
    let (s, _) = store(d.path());
    let rootfs = image_dir(d.path());
    s.create(named("v1")).unwrap();
    // What a crash mid-copy leaves: part of the content and the mark.
    std::fs::write(s.mountpoint("v1").join("partial"), b"x").unwrap();
    std::fs::write(
        d.path().join("volumes/v1").join(COPYUP_MARK),
        b"/var/lib/app\n",
    )
    .unwrap();
    assert!(s.copy_incomplete("v1"));
    let r = s
        .populate("v1", &rootfs, Path::new("/var/lib/app"))
        .unwrap();
    assert!(matches!(r, CopyUp::Copied(_)));
    assert!(!s.copy_incomplete("v1"));
    assert!(!s.mountpoint("v1").join("partial").exists());
    assert!(s.mountpoint("v1").join("conf").exists());
}
