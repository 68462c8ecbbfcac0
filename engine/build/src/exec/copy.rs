//! COPY and ADD as layer entries, without running anything: sources from the build context
//! (filtered by `.dockerignore`) or from another stage or image (`--from`), wildcards,
//! Docker's destination rules (trailing `/`, existing directories, WORKDIR-relative paths),
//! `--chown` resolved against the parent's `/etc/passwd` and `/etc/group`, `--chmod`, and
//! ADD of a local tar archive extracted in place.

use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::dockerfile::{CopyArgs, Source};
use crate::dockerignore::{Matcher, compile};
use crate::exec::layer::{Entries, EntryKind, LayerEntry, insert};
use crate::exec::view::MergedView;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(
        "Dockerfile:{line}: {keyword} failed: file not found in build context or excluded by .dockerignore: stat {source_path}: file does not exist"
    )]
    NotFound {
        line: usize,
        keyword: &'static str,
        source_path: String,
    },
    #[error(
        "Dockerfile:{line}: When using {keyword} with more than one source file, the destination must be a directory and end with a /"
    )]
    DestNotDir { line: usize, keyword: &'static str },
    #[error("Dockerfile:{line}: {keyword}: source {source_path:?} leaves the build context")]
    Escapes {
        line: usize,
        keyword: &'static str,
        source_path: String,
    },
    #[error(
        "Dockerfile:{line}: ADD {url}: remote sources are not supported (the builder has no network for ADD); download it in a RUN step"
    )]
    Remote { line: usize, url: String },
    #[error("Dockerfile:{line}: {keyword} --chown={spec}: {reason}")]
    Chown {
        line: usize,
        keyword: &'static str,
        spec: String,
        reason: String,
    },
    #[error("Dockerfile:{line}: {keyword} --chmod={spec}: not an octal mode")]
    Chmod {
        line: usize,
        keyword: &'static str,
        spec: String,
    },
    #[error("Dockerfile:{line}: {keyword}: bad pattern {pattern:?}")]
    Pattern {
        line: usize,
        keyword: &'static str,
        pattern: String,
    },
    #[error("Dockerfile:{line}: {keyword}: {path}: {source}")]
    Io {
        line: usize,
        keyword: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where COPY sources come from.
#[derive(Debug, Clone, Copy)]
pub enum Sources<'a> {
    /// The build context directory and its `.dockerignore`.
    Context { root: &'a Path, ignore: &'a Matcher },
    /// Another stage's or an image's filesystem (`--from`).
    View(&'a MergedView),
}

/// One COPY or ADD to plan.
#[derive(Debug, Clone, Copy)]
pub struct CopyInput<'a> {
    pub args: &'a CopyArgs,
    pub add: bool,
    pub line: usize,
    pub sources: Sources<'a>,
    /// The filesystem the copy lands on.
    pub parent: &'a MergedView,
    /// The stage's WORKDIR at this step.
    pub workdir: Option<&'a str>,
}

struct Found {
    rel: String,
    host: PathBuf,
    md: fs::Metadata,
}

fn clean_rel(p: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            c => out.push(c),
        }
    }
    Some(out.join("/"))
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

impl Sources<'_> {
    fn excluded(&self, rel: &str) -> bool {
        match self {
            Sources::Context { ignore, .. } => !rel.is_empty() && ignore.excluded(rel),
            Sources::View(_) => false,
        }
    }

    /// Host path and metadata of `rel`; `follow` follows a final symlink (top-level sources).
    fn stat(&self, rel: &str, follow: bool) -> Option<(PathBuf, fs::Metadata)> {
        match self {
            Sources::Context { root, .. } => {
                let host = root.join(rel);
                let md = if follow {
                    let real = fs::canonicalize(&host).ok()?;
                    let root = fs::canonicalize(root).ok()?;
                    if !real.starts_with(&root) {
                        return None;
                    }
                    fs::metadata(&real).ok()?
                } else {
                    fs::symlink_metadata(&host).ok()?
                };
                Some((host, md))
            }
            Sources::View(v) => {
                let r = if follow {
                    v.resolve(rel)?
                } else {
                    rel.to_string()
                };
                let host = v.lookup(&r)?;
                let md = fs::symlink_metadata(&host).ok()?;
                Some((host, md))
            }
        }
    }

    fn children(&self, rel: &str) -> Vec<String> {
        let mut names = match self {
            Sources::Context { root, .. } => fs::read_dir(root.join(rel))
                .map(|rd| {
                    rd.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default(),
            Sources::View(v) => v.list(rel),
        };
        names.sort();
        names.retain(|n| !self.excluded(&join(rel, n)));
        names
    }

    /// Expands a (cleaned) source pattern into existing paths, sorted.
    fn glob(
        &self,
        pattern: &str,
        line: usize,
        keyword: &'static str,
    ) -> Result<Vec<String>, CopyError> {
        let mut current = vec![String::new()];
        for comp in pattern.split('/').filter(|c| !c.is_empty()) {
            let mut next = Vec::new();
            if has_wildcard(comp) {
                let re = compile(comp).map_err(|_| CopyError::Pattern {
                    line,
                    keyword,
                    pattern: pattern.to_string(),
                })?;
                for dir in &current {
                    for name in self.children(dir) {
                        if re.is_match(&name) {
                            next.push(join(dir, &name));
                        }
                    }
                }
            } else {
                next = current.iter().map(|d| join(d, comp)).collect();
            }
            current = next;
        }
        Ok(current
            .into_iter()
            .filter(|r| !self.excluded(r) && self.stat(r, true).is_some())
            .collect())
    }
}

fn parse_id(s: &str) -> Option<u64> {
    s.parse().ok()
}

fn lookup_db(db: &str, name: &str, field: usize) -> Option<(u64, Option<u64>)> {
    db.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.first() != Some(&name) {
            return None;
        }
        Some((parse_id(f.get(field)?)?, f.get(3).and_then(|g| parse_id(g))))
    })
}

/// Resolves `--chown=user[:group]` against the parent's user and group databases.
fn resolve_chown(spec: &str, parent: &MergedView) -> Result<(u64, u64), String> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd =
        String::from_utf8_lossy(&parent.read("etc/passwd").unwrap_or_default()).into_owned();
    let groups =
        String::from_utf8_lossy(&parent.read("etc/group").unwrap_or_default()).into_owned();
    let (uid, primary) = match parse_id(user) {
        Some(u) => (u, None),
        None => {
            let (u, g) = lookup_db(&passwd, user, 2).ok_or_else(|| {
                format!("unable to find user {user}: no matching entries in passwd file")
            })?;
            (u, g)
        }
    };
    let gid = match group {
        Some(g) => match parse_id(g) {
            Some(g) => g,
            None => lookup_db(&groups, g, 2).map(|(g, _)| g).ok_or_else(|| {
                format!("unable to find group {g}: no matching entries in group file")
            })?,
        },
        None => primary.unwrap_or(uid),
    };
    Ok((uid, gid))
}

/// Whether a local file is a tar archive ADD extracts (plain, gzip or zstd).
fn open_archive(path: &Path) -> Option<tar::Archive<Box<dyn Read>>> {
    let mut head = [0u8; 512];
    let mut f = fs::File::open(path).ok()?;
    let n = f.read(&mut head).ok()?;
    let compressed = n >= 4 && (head[..2] == [0x1f, 0x8b] || head[..4] == [0x28, 0xb5, 0x2f, 0xfd]);
    let plain_tar = n >= 262 && &head[257..262] == b"ustar";
    if !compressed && !plain_tar {
        return None;
    }
    let f = fs::File::open(path).ok()?;
    let reader: Box<dyn Read> = berth_image::unpack::decompress(f).ok()?;
    Some(tar::Archive::new(reader))
}

/// Plans the entries of one COPY or ADD.
pub fn plan_copy(input: &CopyInput<'_>) -> Result<Entries, CopyError> {
    let keyword = if input.add { "ADD" } else { "COPY" };
    let line = input.line;
    let args = input.args;
    let owner = match &args.chown {
        Some(spec) => {
            Some(
                resolve_chown(spec, input.parent).map_err(|reason| CopyError::Chown {
                    line,
                    keyword,
                    spec: spec.clone(),
                    reason,
                })?,
            )
        }
        None => None,
    };
    let chmod = match &args.chmod {
        Some(spec) => Some(
            u32::from_str_radix(spec, 8)
                .ok()
                .filter(|m| *m <= 0o7777)
                .ok_or_else(|| CopyError::Chmod {
                    line,
                    keyword,
                    spec: spec.clone(),
                })?,
        ),
        None => None,
    };
    let preserve_owner = matches!(input.sources, Sources::View(_));
    let attrs = |md: &fs::Metadata| -> (u32, u64, u64) {
        let mode = chmod.unwrap_or(md.mode() & 0o7777);
        let (uid, gid) = owner.unwrap_or(if preserve_owner {
            (u64::from(md.uid()), u64::from(md.gid()))
        } else {
            (0, 0)
        });
        (mode, uid, gid)
    };

    let base = input.workdir.unwrap_or("/");
    let dest_abs = if args.dest.starts_with('/') {
        args.dest.clone()
    } else {
        format!("{}/{}", base.trim_end_matches('/'), args.dest)
    };
    let trailing = args.dest.ends_with('/') || args.dest == "." || args.dest.ends_with("/.");
    let dest_rel = clean_rel(&dest_abs).unwrap_or_default();
    let dest_rel = input.parent.resolve(&dest_rel).unwrap_or(dest_rel);

    // Expand every source first: Docker decides "directory destination" over all of them.
    let mut found: Vec<Found> = Vec::new();
    let mut heredocs = Vec::new();
    let mut wildcard = false;
    for src in &args.sources {
        let raw = match src {
            Source::Heredoc(h) => {
                heredocs.push(h);
                continue;
            }
            Source::Path(p) => p,
        };
        if input.add
            && (raw.starts_with("http://")
                || raw.starts_with("https://")
                || raw.starts_with("git@"))
        {
            return Err(CopyError::Remote {
                line,
                url: raw.clone(),
            });
        }
        let cleaned = clean_rel(raw).ok_or_else(|| CopyError::Escapes {
            line,
            keyword,
            source_path: raw.clone(),
        })?;
        wildcard |= has_wildcard(&cleaned);
        let matched = input.sources.glob(&cleaned, line, keyword)?;
        if matched.is_empty() && !has_wildcard(&cleaned) {
            return Err(CopyError::NotFound {
                line,
                keyword,
                source_path: raw.clone(),
            });
        }
        for rel in matched {
            let (host, md) = input
                .sources
                .stat(&rel, true)
                .ok_or_else(|| CopyError::NotFound {
                    line,
                    keyword,
                    source_path: rel.clone(),
                })?;
            found.push(Found { rel, host, md });
        }
    }
    let many = args.sources.len() > 1 || found.len() > 1;
    if many && !trailing && !input.parent.is_dir(&dest_rel) {
        return Err(CopyError::DestNotDir { line, keyword });
    }
    let dest_is_dir = trailing || many || wildcard || input.parent.is_dir(&dest_rel);

    let mut entries = Entries::new();
    for h in heredocs {
        let target = if dest_is_dir {
            join(&dest_rel, &h.name)
        } else {
            dest_rel.clone()
        };
        let (uid, gid) = owner.unwrap_or((0, 0));
        insert(
            &mut entries,
            LayerEntry {
                path: target,
                kind: EntryKind::Bytes(h.content.clone().into_bytes()),
                mode: chmod.unwrap_or(0o644),
                uid,
                gid,
            },
        );
    }
    for f in &found {
        if f.md.is_dir() {
            if !input.parent.is_dir(&dest_rel) && !dest_rel.is_empty() {
                let (mode, uid, gid) = attrs(&f.md);
                insert(&mut entries, LayerEntry::dir(&dest_rel, mode, uid, gid));
            }
            copy_tree(
                input.sources,
                &f.rel,
                &dest_rel,
                &attrs,
                &mut entries,
                line,
                keyword,
            )?;
            continue;
        }
        let name = f.rel.rsplit('/').next().unwrap_or(&f.rel);
        if input.add
            && let Some(archive) = open_archive(&f.host)
        {
            extract(archive, &dest_rel, &mut entries).map_err(|source| CopyError::Io {
                line,
                keyword,
                path: f.host.clone(),
                source,
            })?;
            continue;
        }
        let target = if dest_is_dir {
            join(&dest_rel, name)
        } else {
            dest_rel.clone()
        };
        let (mode, uid, gid) = attrs(&f.md);
        insert(
            &mut entries,
            LayerEntry {
                path: target,
                kind: EntryKind::File(f.host.clone()),
                mode,
                uid,
                gid,
            },
        );
    }
    add_parents(&mut entries, input.parent);
    Ok(entries)
}

fn copy_tree(
    sources: Sources<'_>,
    src_rel: &str,
    dest_rel: &str,
    attrs: &dyn Fn(&fs::Metadata) -> (u32, u64, u64),
    entries: &mut Entries,
    line: usize,
    keyword: &'static str,
) -> Result<(), CopyError> {
    for name in sources.children(src_rel) {
        let rel = join(src_rel, &name);
        let target = join(dest_rel, &name);
        let Some((host, md)) = sources.stat(&rel, false) else {
            continue;
        };
        let (mode, uid, gid) = attrs(&md);
        let kind = if md.is_dir() {
            insert(entries, LayerEntry::dir(&target, mode, uid, gid));
            copy_tree(sources, &rel, &target, attrs, entries, line, keyword)?;
            continue;
        } else if md.file_type().is_symlink() {
            let t = fs::read_link(&host).map_err(|source| CopyError::Io {
                line,
                keyword,
                path: host.clone(),
                source,
            })?;
            EntryKind::Symlink(t.to_string_lossy().into_owned())
        } else if md.is_file() {
            EntryKind::File(host)
        } else {
            continue;
        };
        let mode = if matches!(kind, EntryKind::Symlink(_)) {
            0o777
        } else {
            mode
        };
        insert(
            entries,
            LayerEntry {
                path: target,
                kind,
                mode,
                uid,
                gid,
            },
        );
    }
    Ok(())
}

fn extract(
    mut archive: tar::Archive<Box<dyn Read>>,
    dest_rel: &str,
    entries: &mut Entries,
) -> std::io::Result<()> {
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        let Some(rel) = clean_rel(&path) else {
            continue;
        };
        if rel.is_empty() {
            continue;
        }
        let target = join(dest_rel, &rel);
        let h = entry.header();
        let (mode, uid, gid) = (h.mode()? & 0o7777, h.uid()?, h.gid()?);
        let kind = match h.entry_type() {
            tar::EntryType::Directory => EntryKind::Dir,
            tar::EntryType::Symlink => EntryKind::Symlink(
                entry
                    .link_name()?
                    .map(|l| l.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            ),
            tar::EntryType::Link => {
                let l = entry
                    .link_name()?
                    .map(|l| l.to_string_lossy().into_owned())
                    .unwrap_or_default();
                EntryKind::Hardlink(join(dest_rel, &clean_rel(&l).unwrap_or_default()))
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut data = Vec::new();
                entry.read_to_end(&mut data)?;
                EntryKind::Bytes(data)
            }
            _ => continue,
        };
        insert(
            entries,
            LayerEntry {
                path: target,
                kind,
                mode,
                uid,
                gid,
            },
        );
    }
    Ok(())
}

/// Adds every missing ancestor directory of the entries: with the parent's attributes where
/// it exists there, else 0755 root.
pub fn add_parents(entries: &mut Entries, parent: &MergedView) {
    let paths: Vec<String> = entries.keys().cloned().collect();
    for p in paths {
        let mut acc = String::new();
        let comps: Vec<&str> = p.split('/').collect();
        for c in &comps[..comps.len().saturating_sub(1)] {
            acc = join(&acc, c);
            if entries.contains_key(&acc) {
                continue;
            }
            let entry = match parent.metadata(&acc) {
                Some(md) if md.is_dir() => LayerEntry::dir(
                    &acc,
                    md.mode() & 0o7777,
                    u64::from(md.uid()),
                    u64::from(md.gid()),
                ),
                _ => LayerEntry::dir(&acc, 0o755, 0, 0),
            };
            insert(entries, entry);
        }
    }
}
