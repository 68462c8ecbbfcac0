//! The volume store: `<root>/<name>/volume.json` (the record, written last and atomically) and
//! `<root>/<name>/_data` (the content), references by container, the local driver's mounts,
//! removal, prune and copy-up with its on-disk mark.
//!
//! Crash safety: a volume directory without its record is a create that never finished and is
//! removed on open; a removal first renames the directory to a hidden name, so a crash never
//! leaves a half-deleted volume visible; a copy-up writes `copyup.incomplete` (synced) before
//! the first byte and removes it only after the content is synced, so a volume is never
//! half-populated without the mark, and a marked volume is emptied and copied again on its next
//! mount.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use nix::fcntl::OFlag;

use crate::copyup;
use crate::error::{Result, VolumeError};
use crate::local::{self, Mounter};
use crate::meta::{self, ANONYMOUS_LABEL, Volume};

/// File name of the copy-up mark inside a volume's directory.
pub const COPYUP_MARK: &str = "copyup.incomplete";
const RECORD: &str = "volume.json";
const DATA: &str = "_data";
const REMOVING: &str = ".removing-";

/// What to create.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateSpec {
    /// Name; empty for an anonymous volume.
    pub name: String,
    /// Driver; empty or `local`.
    pub driver: String,
    /// `driver_opts`.
    pub driver_opts: BTreeMap<String, String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// What [`VolumeStore::populate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyUp {
    /// The image has nothing (or no directory) at that path.
    NothingToCopy,
    /// The volume already had content and was left alone.
    NotEmpty,
    /// The image content was copied.
    Copied(copyup::CopyStats),
}

#[derive(Debug, Default)]
struct State {
    volumes: BTreeMap<String, Volume>,
    refs: BTreeMap<String, BTreeSet<String>>,
}

/// All volumes of one engine.
#[derive(Debug)]
pub struct VolumeStore {
    root: PathBuf,
    mounter: Arc<dyn Mounter>,
    state: Mutex<State>,
    copy_locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

impl VolumeStore {
    /// Opens (creating) the store under `root` (`<data-root>/volumes`), dropping leftovers of
    /// creates and removals a crash interrupted.
    pub fn open(root: &Path, mounter: Arc<dyn Mounter>) -> Result<Self> {
        std::fs::create_dir_all(root).map_err(VolumeError::io("create", root))?;
        let mut volumes = BTreeMap::new();
        for dirent in std::fs::read_dir(root).map_err(VolumeError::io("read", root))? {
            let dirent = dirent.map_err(VolumeError::io("read", root))?;
            let name = dirent.file_name().to_string_lossy().into_owned();
            let dir = dirent.path();
            if name.starts_with(REMOVING) || (meta::valid_name(&name) && !dir.join(RECORD).exists())
            {
                if mounter.is_mounted(&dir.join(DATA)).unwrap_or(true) {
                    tracing::warn!(volume = %name, "leftover volume directory is still mounted; kept");
                    continue;
                }
                std::fs::remove_dir_all(&dir).map_err(VolumeError::io("remove", &dir))?;
                continue;
            }
            if !meta::valid_name(&name) {
                continue;
            }
            let v = meta::read(&dir.join(RECORD))?;
            volumes.insert(name, v);
        }
        Ok(Self {
            root: root.to_owned(),
            mounter,
            state: Mutex::new(State {
                volumes,
                refs: BTreeMap::new(),
            }),
            copy_locks: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Where a volume's content lives on the host (`Mountpoint`).
    pub fn mountpoint(&self, name: &str) -> PathBuf {
        self.dir(name).join(DATA)
    }

    /// Creates a volume, or returns the existing one of that name (`false`) when its driver
    /// options agree.
    pub fn create(&self, spec: CreateSpec) -> Result<(Volume, bool)> {
        let anonymous = spec.name.is_empty();
        let name = if anonymous {
            random_name()
        } else {
            spec.name.clone()
        };
        if !meta::valid_name(&name) {
            return Err(VolumeError::InvalidName(name));
        }
        if !matches!(spec.driver.as_str(), "" | "local") {
            return Err(VolumeError::UnknownDriver {
                name,
                driver: spec.driver,
            });
        }
        local::validate(&name, &spec.driver_opts)?;
        let mut st = self.lock();
        if let Some(v) = st.volumes.get(&name) {
            if !spec.driver_opts.is_empty() && spec.driver_opts != v.options {
                return Err(VolumeError::Exists(name));
            }
            return Ok((v.clone(), false));
        }
        let mut labels = spec.labels;
        if anonymous {
            labels.insert(ANONYMOUS_LABEL.to_owned(), String::new());
        }
        let v = Volume {
            name: name.clone(),
            driver: "local".to_owned(),
            labels,
            options: spec.driver_opts,
            created_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        };
        let dir = self.dir(&name);
        let data = dir.join(DATA);
        let made = std::fs::create_dir_all(&data)
            .map_err(VolumeError::io("create", &data))
            .and_then(|()| {
                std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o701))
                    .map_err(VolumeError::io("chmod", &dir))
            })
            .and_then(|()| meta::write(&dir.join(RECORD), &v));
        if let Err(e) = made {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        st.volumes.insert(name, v.clone());
        Ok((v, true))
    }

    /// One volume.
    pub fn get(&self, name: &str) -> Result<Volume> {
        self.lock()
            .volumes
            .get(name)
            .cloned()
            .ok_or_else(|| VolumeError::NotFound(name.to_owned()))
    }

    /// Every volume, by name.
    pub fn list(&self) -> Vec<Volume> {
        self.lock().volumes.values().cloned().collect()
    }

    /// Ids of the containers using a volume.
    pub fn refs(&self, name: &str) -> Vec<String> {
        self.lock()
            .refs
            .get(name)
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// True when a copy-up into the volume was interrupted (it is redone on the next mount).
    pub fn copy_incomplete(&self, name: &str) -> bool {
        self.dir(name).join(COPYUP_MARK).exists()
    }

    /// Records that `container` uses the volume; the first user mounts its device (if it has
    /// one). Returns the host path to bind into the container.
    pub fn acquire(&self, name: &str, container: &str) -> Result<PathBuf> {
        let mut st = self.lock();
        let v = st
            .volumes
            .get(name)
            .cloned()
            .ok_or_else(|| VolumeError::NotFound(name.to_owned()))?;
        let data = self.mountpoint(name);
        let first = st.refs.get(name).is_none_or(BTreeSet::is_empty);
        if first {
            if let Some(m) = local::plan(&v.options, &data) {
                let mounted = self
                    .mounter
                    .is_mounted(&data)
                    .map_err(VolumeError::io("read mounts of", &data))?;
                if !mounted {
                    self.mounter
                        .mount(&m)
                        .map_err(|source| VolumeError::Mount {
                            op: "mount",
                            name: name.to_owned(),
                            detail: format!(
                                "{} type {}",
                                m.source,
                                v.options.get("type").map_or("", String::as_str)
                            ),
                            source,
                        })?;
                }
            }
        }
        st.refs
            .entry(name.to_owned())
            .or_default()
            .insert(container.to_owned());
        Ok(data)
    }

    /// Drops `container`'s use of the volume; the last user unmounts its device.
    pub fn release(&self, name: &str, container: &str) -> Result<()> {
        let mut st = self.lock();
        let Some(set) = st.refs.get_mut(name) else {
            return Ok(());
        };
        set.remove(container);
        if set.is_empty() {
            st.refs.remove(name);
            if let Some(v) = st.volumes.get(name) {
                self.unmount_if_mounted(v)?;
            }
        }
        Ok(())
    }

    fn unmount_if_mounted(&self, v: &Volume) -> Result<()> {
        let data = self.mountpoint(&v.name);
        if local::plan(&v.options, &data).is_some()
            && self
                .mounter
                .is_mounted(&data)
                .map_err(VolumeError::io("read mounts of", &data))?
        {
            self.mounter
                .unmount(&data)
                .map_err(|source| VolumeError::Mount {
                    op: "unmount",
                    name: v.name.clone(),
                    detail: data.display().to_string(),
                    source,
                })?;
        }
        Ok(())
    }

    /// After the engine re-acquired the references of its containers: unmounts devices of
    /// volumes nobody uses any more (left mounted by a crash).
    pub fn recover_mounts(&self) -> Vec<VolumeError> {
        let st = self.lock();
        st.volumes
            .values()
            .filter(|v| !st.refs.contains_key(&v.name))
            .filter_map(|v| self.unmount_if_mounted(v).err())
            .collect()
    }

    /// Removes a volume; refuses one in use unless `force`.
    pub fn remove(&self, name: &str, force: bool) -> Result<()> {
        let mut st = self.lock();
        let v = st
            .volumes
            .get(name)
            .cloned()
            .ok_or_else(|| VolumeError::NotFound(name.to_owned()))?;
        let users: Vec<String> = st
            .refs
            .get(name)
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default();
        if !users.is_empty() && !force {
            return Err(VolumeError::InUse {
                name: name.to_owned(),
                containers: users,
            });
        }
        self.unmount_if_mounted(&v)?;
        let data = self.mountpoint(name);
        if self
            .mounter
            .is_mounted(&data)
            .map_err(VolumeError::io("read mounts of", &data))?
        {
            return Err(VolumeError::Mount {
                op: "remove",
                name: name.to_owned(),
                detail: format!("{} is still a mount point", data.display()),
                source: std::io::Error::from_raw_os_error(libc::EBUSY),
            });
        }
        let dir = self.dir(name);
        let hidden = self.root.join(format!("{REMOVING}{name}"));
        std::fs::rename(&dir, &hidden).map_err(VolumeError::io("rename", &dir))?;
        meta::sync_dir(&self.root)?;
        st.volumes.remove(name);
        st.refs.remove(name);
        drop(st);
        std::fs::remove_dir_all(&hidden).map_err(VolumeError::io("remove", &hidden))
    }

    /// Removes every unused volume `keep_if_false` accepts; returns (name, bytes) of each.
    pub fn prune(&self, select: impl Fn(&Volume) -> bool) -> Result<Vec<(String, u64)>> {
        let candidates: Vec<Volume> = {
            let st = self.lock();
            st.volumes
                .values()
                .filter(|v| !st.refs.contains_key(&v.name) && select(v))
                .cloned()
                .collect()
        };
        let mut out = Vec::new();
        for v in candidates {
            let size = dir_size(&self.mountpoint(&v.name));
            match self.remove(&v.name, false) {
                Ok(()) => out.push((v.name, size)),
                Err(VolumeError::InUse { .. } | VolumeError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Copies what the image has at `container_path` (resolved inside `rootfs`) into the volume
    /// when the volume is empty, or when an earlier copy was interrupted (its mark is on disk).
    pub fn populate(&self, name: &str, rootfs: &Path, container_path: &Path) -> Result<CopyUp> {
        self.get(name)?;
        let lock = {
            let mut locks = self
                .copy_locks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            locks.entry(name.to_owned()).or_default().clone()
        };
        let _guard = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let dir = self.dir(name);
        let mark = dir.join(COPYUP_MARK);
        let data = self.mountpoint(name);
        let copy_err = |path: &Path| {
            let (name, path) = (name.to_owned(), path.to_owned());
            move |source| VolumeError::CopyUp { name, path, source }
        };
        let dst = copyup::open_dir(&data).map_err(copy_err(&data))?;
        if mark.exists() {
            tracing::warn!(volume = %name, "an interrupted copy-up is redone");
            copyup::clear_dir(&dst).map_err(copy_err(&data))?;
        } else if !copyup::entries(&dst).map_err(copy_err(&data))?.is_empty() {
            return Ok(CopyUp::NotEmpty);
        }
        let root = copyup::open_dir(rootfs).map_err(copy_err(rootfs))?;
        let src =
            match copyup::open_in_root(&root, container_path, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
            {
                Ok(fd) => fd,
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                    if mark.exists() {
                        std::fs::remove_file(&mark).map_err(VolumeError::io("remove", &mark))?;
                        meta::sync_dir(&dir)?;
                    }
                    return Ok(CopyUp::NothingToCopy);
                }
                Err(e) => return Err(copy_err(container_path)(e)),
            };
        let note = format!("{}\n", container_path.display());
        meta::write_atomic(&mark, note.as_bytes())?;
        let stats = copyup::copy_tree(&src, &dst).map_err(|e| VolumeError::CopyUp {
            name: name.to_owned(),
            path: container_path.join(e.path),
            source: e.source,
        })?;
        // SAFETY: syncfs(2) on a directory fd we own.
        if unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&dst)) } != 0 {
            return Err(copy_err(&data)(std::io::Error::last_os_error()));
        }
        std::fs::remove_file(&mark).map_err(VolumeError::io("remove", &mark))?;
        meta::sync_dir(&dir)?;
        Ok(CopyUp::Copied(stats))
    }
}

/// Total bytes of regular files under `dir` (not following symlinks).
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) if m.is_file() => m.len(),
            _ => 0,
        })
        .sum()
}

/// 64 random hex digits, Docker's form of anonymous volume names.
fn random_name() -> String {
    let mut bytes = [0u8; 32];
    // SAFETY: getrandom(2) writes at most `bytes.len()` bytes into the live buffer.
    let filled = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if filled != bytes.len() as isize {
        let t = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        bytes[..16].copy_from_slice(&t.to_le_bytes());
        bytes[16..20].copy_from_slice(&std::process::id().to_le_bytes());
    }
    hex::encode(bytes)
}
