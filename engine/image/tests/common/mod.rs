//! Shared helpers for the image integration tests: a raw tar writer that can express hostile
//! archives the `tar` crate's builder refuses, a canary directory and a root check.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Fails the test loudly when not root: these tests need chown, mknod and trusted.* xattrs.
pub fn require_root(test: &str) {
    assert!(
        nix::unistd::geteuid().is_root(),
        "{test} needs root (chown, mknod, trusted.* xattrs): run the tests as root"
    );
}

/// A raw tar stream writer.
#[derive(Default)]
pub struct RawTar {
    pub buf: Vec<u8>,
}

/// One entry to write.
pub struct E<'a> {
    pub path: &'a [u8],
    pub kind: tar::EntryType,
    pub data: &'a [u8],
    pub link: Option<&'a [u8]>,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub size: Option<u64>,
    pub dev: (u32, u32),
    pub pax: Vec<(String, Vec<u8>)>,
}

impl<'a> E<'a> {
    pub fn new(path: &'a [u8], kind: tar::EntryType) -> Self {
        E {
            path,
            kind,
            data: b"",
            link: None,
            mode: if kind == tar::EntryType::Directory {
                0o755
            } else {
                0o644
            },
            uid: 0,
            gid: 0,
            mtime: 1_600_000_000,
            size: None,
            dev: (0, 0),
            pax: Vec::new(),
        }
    }
    pub fn file(path: &'a [u8], data: &'a [u8]) -> Self {
        E {
            data,
            ..E::new(path, tar::EntryType::Regular)
        }
    }
    pub fn dir(path: &'a [u8]) -> Self {
        E::new(path, tar::EntryType::Directory)
    }
    pub fn symlink(path: &'a [u8], target: &'a [u8]) -> Self {
        E {
            link: Some(target),
            ..E::new(path, tar::EntryType::Symlink)
        }
    }
    pub fn hardlink(path: &'a [u8], target: &'a [u8]) -> Self {
        E {
            link: Some(target),
            ..E::new(path, tar::EntryType::Link)
        }
    }
}

fn pad(buf: &mut Vec<u8>) {
    while buf.len() % 512 != 0 {
        buf.push(0);
    }
}

impl RawTar {
    pub fn new() -> Self {
        RawTar::default()
    }

    /// Writes a PAX header carrying path, linkpath and extra records, then the entry.
    pub fn add(&mut self, e: E<'_>) -> &mut Self {
        let mut recs: Vec<(String, Vec<u8>)> = vec![("path".into(), e.path.to_vec())];
        if let Some(l) = e.link {
            recs.push(("linkpath".into(), l.to_vec()));
        }
        recs.extend(e.pax.iter().cloned());
        let mut body = Vec::new();
        for (k, v) in &recs {
            let rest = k.len() + v.len() + 3;
            let mut len = rest + 1;
            while format!("{len}").len() + rest != len {
                len += 1;
            }
            body.extend(format!("{len} {k}=").as_bytes());
            body.extend(v);
            body.push(b'\n');
        }
        let mut ph = tar::Header::new_ustar();
        ph.as_old_mut().name[..9].copy_from_slice(b"PaxHeader");
        ph.set_entry_type(tar::EntryType::XHeader);
        ph.set_size(body.len() as u64);
        ph.set_mode(0o644);
        ph.set_cksum();
        self.buf.extend(ph.as_bytes());
        self.buf.extend(&body);
        pad(&mut self.buf);

        let mut h = tar::Header::new_ustar();
        h.as_old_mut().name[..11].copy_from_slice(b"placeholder");
        h.set_entry_type(e.kind);
        h.set_size(e.size.unwrap_or(e.data.len() as u64));
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_mtime(e.mtime);
        if matches!(e.kind, tar::EntryType::Char | tar::EntryType::Block) {
            h.set_device_major(e.dev.0).unwrap();
            h.set_device_minor(e.dev.1).unwrap();
        }
        h.set_cksum();
        self.buf.extend(h.as_bytes());
        self.buf.extend(e.data);
        pad(&mut self.buf);
        self
    }

    /// The archive with its end-of-archive marker.
    pub fn finish(&self) -> Vec<u8> {
        let mut out = self.buf.clone();
        out.extend([0u8; 1024]);
        out
    }
}

/// A temp dir holding `layer/` (the unpack target) next to `outside/canary` and a snapshot of
/// everything except `layer/`, to prove nothing outside the layer changed.
pub struct Canary {
    pub tmp: tempfile::TempDir,
    pub layer: PathBuf,
    pub outside: PathBuf,
    before: BTreeMap<PathBuf, String>,
}

impl Canary {
    pub fn new() -> Canary {
        let tmp = tempfile::tempdir().unwrap();
        let layer = tmp.path().join("layer");
        let outside = tmp.path().join("outside");
        fs::create_dir(&layer).unwrap();
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("canary"), b"canary").unwrap();
        let mut c = Canary {
            before: BTreeMap::new(),
            tmp,
            layer,
            outside,
        };
        c.before = c.snapshot();
        c
    }

    /// Absolute path of the outside dir without its leading `/` (for paths planted in tars).
    pub fn outside_rel(&self) -> String {
        self.outside
            .to_str()
            .unwrap()
            .trim_start_matches('/')
            .to_owned()
    }

    pub fn outside_abs(&self) -> String {
        self.outside.to_str().unwrap().to_owned()
    }

    fn snapshot(&self) -> BTreeMap<PathBuf, String> {
        let mut out = BTreeMap::new();
        walk(self.tmp.path(), &self.layer, &mut out);
        out
    }

    /// Panics if anything outside `layer/` was created, removed or changed.
    pub fn assert_untouched(&self) {
        let after = self.snapshot();
        assert_eq!(
            self.before, after,
            "something outside the layer dir changed"
        );
    }
}

fn walk(dir: &Path, skip: &Path, out: &mut BTreeMap<PathBuf, String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p == skip {
            continue;
        }
        let m = fs::symlink_metadata(&p).unwrap();
        let mut desc = format!(
            "{:?} mode={:o} uid={} gid={} len={} mtime={}",
            m.file_type(),
            m.mode(),
            m.uid(),
            m.gid(),
            m.len(),
            m.mtime()
        );
        if m.file_type().is_symlink() {
            desc.push_str(&format!(" -> {:?}", fs::read_link(&p).unwrap()));
        } else if m.is_file() {
            desc.push_str(&format!(" data={:?}", fs::read(&p).unwrap()));
        }
        out.insert(p.clone(), desc);
        if m.is_dir() {
            walk(&p, skip, out);
        }
    }
}
