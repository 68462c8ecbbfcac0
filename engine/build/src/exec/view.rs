//! A read-only merged view of unpacked layer directories (overlay form: whiteouts are
//! character devices 0/0, opaque directories carry `trusted.overlay.opaque=y`), used to
//! read a parent image's filesystem without mounting it: does a COPY destination exist and
//! is it a directory, what are `/etc/passwd` and `/etc/group`, and what does
//! `COPY --from=<stage>` copy.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Layer directories, top layer first.
#[derive(Debug, Clone, Default)]
pub struct MergedView {
    layers: Vec<PathBuf>,
}

fn is_whiteout(md: &fs::Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

fn is_opaque(path: &Path) -> bool {
    berth_image::fsops::lgetxattr(path, OPAQUE_XATTR)
        .ok()
        .flatten()
        .is_some_and(|v| v == b"y")
}

fn components(rel: &str) -> Vec<&str> {
    rel.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect()
}

impl MergedView {
    /// A view of `bottom_first` layer directories (the order of an image's diff-ids).
    pub fn new(bottom_first: Vec<PathBuf>) -> Self {
        let mut layers = bottom_first;
        layers.reverse();
        MergedView { layers }
    }

    /// The host path that provides `rel` (no symlinks followed), or `None` when absent.
    pub fn lookup(&self, rel: &str) -> Option<PathBuf> {
        let comps = components(rel);
        if comps.is_empty() {
            return self.layers.first().cloned();
        }
        'layers: for layer in &self.layers {
            let mut p = layer.clone();
            for (i, c) in comps.iter().enumerate() {
                p.push(c);
                match fs::symlink_metadata(&p) {
                    Ok(md) if is_whiteout(&md) => return None,
                    Ok(_) if i + 1 == comps.len() => return Some(p),
                    Ok(md) if md.is_dir() => {
                        if is_opaque(&p) {
                            return self.lookup_in_only(&p, &comps[i + 1..]);
                        }
                    }
                    Ok(_) => return None,
                    Err(_) => continue 'layers,
                }
            }
        }
        None
    }

    fn lookup_in_only(&self, dir: &Path, rest: &[&str]) -> Option<PathBuf> {
        let p = rest.iter().fold(dir.to_path_buf(), |p, c| p.join(c));
        match fs::symlink_metadata(&p) {
            Ok(md) if !is_whiteout(&md) => Some(p),
            _ => None,
        }
    }

    /// Metadata of `rel` (not following a final symlink).
    pub fn metadata(&self, rel: &str) -> Option<fs::Metadata> {
        self.lookup(rel).and_then(|p| fs::symlink_metadata(p).ok())
    }

    /// Whether `rel` is a directory, following symlinks inside the view.
    pub fn is_dir(&self, rel: &str) -> bool {
        self.resolve(rel)
            .and_then(|r| self.metadata(&r))
            .is_some_and(|m| m.is_dir())
    }

    /// Resolves symlinks in `rel` within the view (absolute targets from the view's root),
    /// returning the final relative path; components that do not exist are kept as given.
    /// `None` only for a symlink loop.
    pub fn resolve(&self, rel: &str) -> Option<String> {
        let mut done: Vec<String> = Vec::new();
        let mut todo: Vec<String> = components(rel)
            .iter()
            .rev()
            .map(|s| s.to_string())
            .collect();
        let mut hops = 0;
        while let Some(c) = todo.pop() {
            if c == ".." {
                done.pop();
                continue;
            }
            done.push(c);
            let cur = done.join("/");
            let link = self
                .metadata(&cur)
                .is_some_and(|m| m.file_type().is_symlink());
            if link {
                hops += 1;
                if hops > 40 {
                    return None;
                }
                let target = fs::read_link(self.lookup(&cur)?).ok()?;
                let target = target.to_string_lossy().into_owned();
                done.pop();
                if target.starts_with('/') {
                    done.clear();
                }
                todo.extend(components(&target).iter().rev().map(|s| s.to_string()));
            }
        }
        Some(done.join("/"))
    }

    /// Reads a file of the view (following symlinks), or `None`.
    pub fn read(&self, rel: &str) -> Option<Vec<u8>> {
        let r = self.resolve(rel)?;
        fs::read(self.lookup(&r)?).ok()
    }

    /// Names in directory `rel` (merged over the layers, whiteouts applied), sorted.
    pub fn list(&self, rel: &str) -> Vec<String> {
        let comps = components(rel);
        let mut names = std::collections::BTreeSet::new();
        let mut hidden = std::collections::BTreeSet::new();
        for layer in &self.layers {
            let dir = comps.iter().fold(layer.clone(), |p, c| p.join(c));
            let Ok(md) = fs::symlink_metadata(&dir) else {
                continue;
            };
            if is_whiteout(&md) || !md.is_dir() {
                break;
            }
            if let Ok(rd) = fs::read_dir(&dir) {
                for e in rd.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if hidden.contains(&name) || names.contains(&name) {
                        continue;
                    }
                    match e.metadata() {
                        Ok(m) if is_whiteout(&m) => {
                            hidden.insert(name);
                        }
                        _ => {
                            names.insert(name);
                        }
                    }
                }
            }
            if is_opaque(&dir) {
                break;
            }
        }
        names.into_iter().collect()
    }
}
