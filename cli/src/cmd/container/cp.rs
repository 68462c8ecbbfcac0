//! `berth container cp SRC DEST`: copies files between a container and the local file system
//! (or a tar on stdin/stdout with `-`), with the docker CLI's rules for where things land: into
//! an existing directory under the source's base name, onto a new or existing file name, `dir/.`
//! for a directory's contents. The engine's archive endpoints do the container side; this side
//! builds and unpacks the tars (unpacking through `tar`'s `unpack_in`, which refuses entries
//! and symlinks that would leave the destination).

use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use berth_engine::client::Client;
use clap::Args;
use futures_util::StreamExt as _;

use crate::connect::{connect, runtime};
use crate::global::GlobalArgs;

/// Arguments of `berth container cp`.
#[derive(Debug, Args)]
pub struct CpArgs {
    /// Archive mode: files copied into the container get the container user's uid/gid.
    #[arg(short, long)]
    pub archive: bool,
    /// Follow a symlink given as the source.
    #[arg(short = 'L', long)]
    pub follow_link: bool,
    /// Print nothing on success.
    #[arg(short, long)]
    pub quiet: bool,
    /// `CONTAINER:PATH`, a local path, or `-` (a tar on stdin).
    pub src: String,
    /// `CONTAINER:PATH`, a local path, or `-` (a tar to stdout).
    pub dest: String,
}

/// One side of a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A path in a container.
    Container {
        /// Container name or id.
        container: String,
        /// Path inside it.
        path: String,
    },
    /// A local path.
    Local(PathBuf),
    /// A tar on stdin or stdout.
    Stream,
}

impl Endpoint {
    /// The docker CLI's reading of a cp argument: `-`, a local path (absolute, or starting
    /// with `.`, or without `:`), else `CONTAINER:PATH`.
    pub fn parse(arg: &str) -> Endpoint {
        if arg == "-" {
            return Endpoint::Stream;
        }
        if arg.starts_with('/') || arg.starts_with('.') {
            return Endpoint::Local(PathBuf::from(arg));
        }
        match arg.split_once(':') {
            Some((c, p)) if !c.is_empty() => Endpoint::Container {
                container: c.to_owned(),
                path: p.to_owned(),
            },
            _ => Endpoint::Local(PathBuf::from(arg)),
        }
    }
}

/// How to copy.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyOptions {
    /// `-a`.
    pub archive: bool,
    /// `-L`.
    pub follow_link: bool,
}

/// Runs `berth container cp`.
pub fn run(args: CpArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let (src, dst) = (Endpoint::parse(&args.src), Endpoint::parse(&args.dest));
    let opts = CopyOptions {
        archive: args.archive,
        follow_link: args.follow_link,
    };
    runtime()?.block_on(async {
        let client = connect(global).await?;
        let done = copy(&client, &src, &dst, opts).await?;
        if !args.quiet && !matches!(dst, Endpoint::Stream) {
            errln(&format!(
                "Successfully copied {} to {}",
                human(done),
                args.dest
            ));
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn errln(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

fn human(bytes: u64) -> String {
    match bytes {
        b if b < 1000 => format!("{b}B"),
        b if b < 1_000_000 => format!("{:.3}kB", b as f64 / 1e3),
        b => format!("{:.3}MB", b as f64 / 1e6),
    }
}

/// Copies `src` to `dst` (exactly one of them in a container); returns the bytes of the tar.
pub async fn copy(
    client: &Client,
    src: &Endpoint,
    dst: &Endpoint,
    opts: CopyOptions,
) -> anyhow::Result<u64> {
    match (src, dst) {
        (Endpoint::Container { container, path }, Endpoint::Container { .. }) => {
            bail!(
                "copying between containers is not supported: copy {container}:{path} to a local path first"
            )
        }
        (Endpoint::Container { container, path }, local) => {
            copy_out(client, container, path, local, opts).await
        }
        (local, Endpoint::Container { container, path }) => {
            copy_in(client, local, container, path, opts).await
        }
        _ => bail!("one of the source and the destination must be CONTAINER:PATH"),
    }
}

/// Base name of a container or local path as given (`.` for `dir/.`).
fn base_name(path: &str) -> String {
    if path.ends_with("/.") || path == "." {
        return ".".to_owned();
    }
    Path::new(path)
        .file_name()
        .map_or_else(|| "/".to_owned(), |n| n.to_string_lossy().into_owned())
}

async fn copy_out(
    client: &Client,
    container: &str,
    path: &str,
    dst: &Endpoint,
    opts: CopyOptions,
) -> anyhow::Result<u64> {
    let mut src_path = path.to_owned();
    let stat = client
        .stat_path(container, path)
        .await
        .with_context(|| format!("cannot stat {container}:{path}"))?;
    if opts.follow_link && stat.is_symlink() && !stat.link_target.is_empty() {
        src_path = stat.link_target.clone();
    }
    let (stat2, mut stream) = client
        .get_archive(container, &src_path)
        .await
        .with_context(|| format!("cannot copy from {container}:{src_path}"))?;
    let mut tar = Vec::new();
    while let Some(chunk) = stream.next().await {
        tar.extend_from_slice(&chunk.context("reading the archive from the engine")?);
    }
    let size = tar.len() as u64;
    let local = match dst {
        Endpoint::Stream => {
            std::io::stdout().lock().write_all(&tar)?;
            return Ok(size);
        }
        Endpoint::Local(p) => p,
        Endpoint::Container { .. } => unreachable_dst()?,
    };
    let top = base_name(&src_path);
    let wanted = base_name(path);
    let src_is_dir = stat2.is_dir();
    let dst_s = local.display().to_string();
    match std::fs::metadata(local) {
        Ok(m) if m.is_dir() => {
            if top == wanted || top == "." {
                unpack(&tar, local)?;
            } else {
                unpack_renamed(&tar, &top, local, &local.join(&wanted))?;
            }
        }
        Ok(_) if src_is_dir => bail!("cannot copy a directory to the file {dst_s}"),
        Ok(_) => {
            let parent = parent_of(local);
            unpack_renamed(&tar, &top, &parent, local)?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if dst_s.ends_with('/') && !src_is_dir {
                bail!("destination directory {dst_s} does not exist");
            }
            let parent = parent_of(local);
            if !parent.is_dir() {
                bail!("the parent directory of {dst_s} does not exist");
            }
            unpack_renamed(&tar, &top, &parent, local)?;
        }
        Err(e) => return Err(e).with_context(|| format!("cannot stat {dst_s}")),
    }
    Ok(size)
}

fn unreachable_dst() -> anyhow::Result<&'static Path> {
    bail!("one of the source and the destination must be a local path")
}

fn parent_of(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Unpacks `tar` into `dir`; entries that would leave `dir` are refused by `unpack_in`.
fn unpack(tar: &[u8], dir: &Path) -> anyhow::Result<()> {
    let mut archive = tar::Archive::new(tar);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    for entry in archive.entries().context("reading the archive")? {
        let mut entry = entry.context("reading the archive")?;
        let name = entry.path()?.display().to_string();
        let inside = entry
            .unpack_in(dir)
            .with_context(|| format!("cannot unpack {name} into {}", dir.display()))?;
        if !inside {
            bail!(
                "refusing archive entry {name}: it would be written outside {}",
                dir.display()
            );
        }
    }
    Ok(())
}

/// Unpacks `tar` (top entry `top`) into a temporary directory next to `target`, then moves the
/// top entry to `target` (replacing a file there).
fn unpack_renamed(tar: &[u8], top: &str, parent: &Path, target: &Path) -> anyhow::Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix(".berth-cp-")
        .tempdir_in(parent)
        .with_context(|| {
            format!(
                "cannot create a temporary directory in {}",
                parent.display()
            )
        })?;
    unpack(tar, tmp.path())?;
    let from = if top == "." {
        tmp.path().to_owned()
    } else {
        tmp.path().join(top)
    };
    if std::fs::symlink_metadata(target).is_ok_and(|m| m.is_dir()) {
        bail!("{} exists and is a directory", target.display());
    }
    std::fs::rename(&from, target)
        .with_context(|| format!("cannot move the copy to {}", target.display()))?;
    Ok(())
}

async fn copy_in(
    client: &Client,
    src: &Endpoint,
    container: &str,
    path: &str,
    opts: CopyOptions,
) -> anyhow::Result<u64> {
    let (dir, tar) = match src {
        Endpoint::Stream => {
            let mut tar = Vec::new();
            std::io::stdin().lock().read_to_end(&mut tar)?;
            (path.to_owned(), tar)
        }
        Endpoint::Local(local) => {
            let meta = if opts.follow_link {
                std::fs::metadata(local)
            } else {
                std::fs::symlink_metadata(local)
            }
            .with_context(|| format!("cannot stat {}", local.display()))?;
            let src_s = local.display().to_string();
            let contents = src_s.ends_with("/.");
            let name = base_name(&src_s);
            let (dir, top) = match client.stat_path(container, path).await {
                Ok(st) if st.is_dir() || (st.is_symlink() && !st.link_target.is_empty()) => {
                    let dir = if st.is_symlink() {
                        st.link_target.clone()
                    } else {
                        path.to_owned()
                    };
                    (dir, if contents { String::new() } else { name })
                }
                Ok(_) if meta.is_dir() => {
                    bail!("cannot copy a directory to the file {container}:{path}")
                }
                Ok(_) => (parent_str(path), base_name(path)),
                Err(e) if e.is_not_found() => {
                    if path.ends_with('/') && !meta.is_dir() {
                        bail!("destination directory {container}:{path} does not exist");
                    }
                    (parent_str(path), base_name(path))
                }
                Err(e) => return Err(e).context(format!("cannot stat {container}:{path}")),
            };
            let mut b = tar::Builder::new(Vec::new());
            b.follow_symlinks(false);
            add_local(&mut b, local, Path::new(&top), &meta, opts.follow_link)?;
            (dir, b.into_inner()?)
        }
        Endpoint::Container { .. } => bail!("copying between containers is not supported"),
    };
    let size = tar.len() as u64;
    client
        .put_archive_with(container, &dir, tar, true, opts.archive)
        .await
        .with_context(|| format!("cannot copy to {container}:{dir}"))?;
    Ok(size)
}

fn parent_str(path: &str) -> String {
    let p = Path::new(path).parent().map(|p| p.display().to_string());
    match p {
        Some(p) if !p.is_empty() => p,
        _ => "/".to_owned(),
    }
}

/// Adds local `path` (metadata `meta`) to `b` as `name` (the empty name adds only the
/// children of a directory).
fn add_local(
    b: &mut tar::Builder<Vec<u8>>,
    path: &Path,
    name: &Path,
    meta: &std::fs::Metadata,
    follow_top: bool,
) -> anyhow::Result<()> {
    let empty = name.as_os_str().is_empty();
    if meta.is_dir() {
        if !empty {
            b.append_dir(name, path)
                .with_context(|| format!("cannot archive {}", path.display()))?;
        }
        let mut children: Vec<_> = std::fs::read_dir(path)
            .with_context(|| format!("cannot list {}", path.display()))?
            .collect::<Result<_, _>>()?;
        children.sort_by_key(|d| d.file_name());
        for child in children {
            let m = std::fs::symlink_metadata(child.path())?;
            add_local(b, &child.path(), &name.join(child.file_name()), &m, false)?;
        }
        return Ok(());
    }
    if meta.file_type().is_symlink() && !follow_top {
        let target = std::fs::read_link(path)?;
        let mut h = tar::Header::new_gnu();
        h.set_metadata(meta);
        h.set_size(0);
        h.set_entry_type(tar::EntryType::Symlink);
        b.append_link(&mut h, name, target)?;
        return Ok(());
    }
    let mut f =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    b.append_file(name, &mut f)
        .with_context(|| format!("cannot archive {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_read_as_the_docker_cli_reads_them() {
        assert_eq!(Endpoint::parse("-"), Endpoint::Stream);
        assert_eq!(
            Endpoint::parse("./a:b"),
            Endpoint::Local(PathBuf::from("./a:b"))
        );
        assert_eq!(
            Endpoint::parse("/x:y"),
            Endpoint::Local(PathBuf::from("/x:y"))
        );
        assert_eq!(
            Endpoint::parse("file"),
            Endpoint::Local(PathBuf::from("file"))
        );
        assert_eq!(
            Endpoint::parse("web:/etc/hosts"),
            Endpoint::Container {
                container: "web".into(),
                path: "/etc/hosts".into()
            }
        );
        assert_eq!(base_name("/a/b/."), ".");
        assert_eq!(base_name("/a/b/"), "b");
        assert_eq!(parent_str("/a/b"), "/a");
        assert_eq!(parent_str("/a"), "/");
        assert_eq!(human(8192), "8.192kB");
    }
}
