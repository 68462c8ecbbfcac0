//! `berth image bootstrap NAME[:TAG] --suite SUITE`: a distribution base image made from a
//! package mirror, for machines that cannot reach a public registry. `debootstrap` builds the
//! tree on this machine, caches, logs and host files are stripped, and the tree goes to the
//! engine as one deterministic tar (the import endpoint, `CMD ["bash"]`), or to a file with
//! `--output`. The result is a normal image, usable in `FROM`.

mod rootfs;
mod tarball;

use std::os::fd::AsFd as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context as _, bail};
use berth_engine::client::Host;
use berth_engine::image::Reference;
use clap::Args;

use crate::connect::host_of;
use crate::global::GlobalArgs;

use rootfs::{DEFAULT_MIRROR, DEFAULT_SUITE, Request, TreeGuard};
use tarball::write_tree;

/// The mount table consulted before a tree is removed.
const MOUNTINFO: &str = "/proc/self/mountinfo";

/// Options of `berth image bootstrap`.
#[derive(Debug, Args)]
pub struct BootstrapArgs {
    /// Name of the image to create (`NAME[:TAG]`, `:latest` when no tag is given).
    #[arg(value_name = "NAME[:TAG]")]
    name: String,
    /// Debian suite or codename.
    #[arg(long, default_value = DEFAULT_SUITE)]
    suite: String,
    /// Package mirror.
    #[arg(long, default_value = DEFAULT_MIRROR, value_name = "URL")]
    mirror: String,
    /// debootstrap variant (`minbase` is the smallest; default: debootstrap's standard set).
    #[arg(long)]
    variant: Option<String>,
    /// Extra packages, comma separated (repeatable).
    #[arg(long, value_name = "PKG,…")]
    include: Vec<String>,
    /// Keep the built tree in DIR (keyed by suite, variant, mirror and packages) and reuse it
    /// next time instead of running debootstrap again.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Write the image's root filesystem as a tar to FILE (`-` for standard output) instead of
    /// sending it to the engine (feed it to `docker import` elsewhere).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Builds the base image.
pub fn run(args: BootstrapArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let request = Request::new(
        &args.suite,
        &args.mirror,
        args.variant.as_deref(),
        &args.include,
    )?;
    let reference = image_reference(&args.name)?;
    if args.output.is_none() {
        require_local_engine(&host_of(global))?;
    }
    require_root_and_debootstrap()?;
    let (tree, _guard) = match &args.cache_dir {
        Some(dir) => (cached_tree(&request, dir)?, None),
        None => {
            let guard = fresh_tree(&request, &std::env::temp_dir())?;
            (guard.path().to_path_buf(), Some(guard))
        }
    };
    match &args.output {
        Some(path) if path.as_os_str() == "-" => {
            let stdout = std::io::stdout().lock();
            write_tree(&tree, std::io::BufWriter::new(stdout))?;
        }
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            let summary = write_tree(&tree, std::io::BufWriter::new(file))?;
            eprintln!(
                "wrote {} ({} entries, {} bytes of files)",
                path.display(),
                summary.entries,
                summary.content_bytes
            );
        }
        None => {
            let id = import(&tree, &reference, global)?;
            println!("{id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The image name, normalized as the engine will store it, with `latest` as the default tag.
fn image_reference(name: &str) -> anyhow::Result<String> {
    let reference = Reference::parse(name).with_context(|| {
        format!("{name:?} is not an image name (hint: NAME[:TAG], e.g. berth/debian:bookworm)")
    })?;
    if reference.digest().is_some() {
        bail!("{name:?}: an image made here has no registry digest yet (hint: give NAME[:TAG])");
    }
    let reference = match reference.tag() {
        Some(_) => reference,
        None => reference.with_tag("latest")?,
    };
    Ok(reference.familiar())
}

/// debootstrap runs on this machine, so the engine must be here too.
fn require_local_engine(host: &str) -> anyhow::Result<()> {
    match Host::parse(host).with_context(|| format!("engine host {host:?}"))? {
        Host::Unix(_) => Ok(()),
        Host::Tcp(_) => bail!(
            "berth image bootstrap builds the tree on this machine and hands it to a local \
             engine, but the engine at {host} is not a local unix socket (hint: run the command \
             on the engine's machine, or write a tar with --output FILE and import it there with \
             `docker import FILE NAME`)"
        ),
    }
}

fn require_root_and_debootstrap() -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!(
            "berth image bootstrap must run as root: debootstrap creates device nodes, sets \
             file ownership and chroots into the new tree"
        );
    }
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("debootstrap").is_file()))
        .unwrap_or(false)
        || Path::new("/usr/sbin/debootstrap").is_file();
    if !found {
        bail!("debootstrap is not installed (hint: apt-get install debootstrap)");
    }
    Ok(())
}

/// Runs debootstrap into a new directory under `parent` and cleans the result; the guard
/// removes the tree when dropped.
fn fresh_tree(request: &Request, parent: &Path) -> anyhow::Result<TreeGuard> {
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let target = parent.join(format!(
        "berth-bootstrap-{}-{}",
        request.cache_key(),
        std::process::id()
    ));
    let guard = TreeGuard::new(target.clone(), MOUNTINFO.into());
    if target.exists() {
        std::fs::remove_dir_all(&target)
            .with_context(|| format!("removing a stale {}", target.display()))?;
    }
    let stderr = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .context("duplicating stderr")?;
    let debootstrap = if Path::new("/usr/sbin/debootstrap").is_file() {
        "/usr/sbin/debootstrap"
    } else {
        "debootstrap"
    };
    eprintln!(
        "running debootstrap {} (a few minutes)",
        request
            .argv(&target)
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let status = Command::new(debootstrap)
        .args(request.argv(&target))
        .stdin(Stdio::null())
        .stdout(Stdio::from(stderr))
        .status()
        .context("cannot run debootstrap")?;
    // debootstrap may leave proc/sys mounted when it fails half way.
    let stuck = guard.unmount_all();
    if !status.success() {
        let log =
            std::fs::read_to_string(target.join("debootstrap/debootstrap.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "debootstrap {} from {} failed ({status}); last lines of its log:\n{}\n(hint: check \
             the suite name and that the mirror is reachable)",
            request.suite,
            request.mirror,
            tail.join("\n")
        );
    }
    if !stuck.is_empty() {
        bail!("cannot unmount {stuck:?} inside the new tree");
    }
    rootfs::clean(&target)?;
    Ok(guard)
}

/// The cached tree for `request` under `dir`, built first when missing. A tree is published by
/// renaming a finished build into place, so a cache entry is always complete; concurrent
/// bootstraps of the same key take turns on `DIR/<key>.lock`, so debootstrap runs once and the
/// others wait for its tree.
fn cached_tree(request: &Request, dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join(request.cache_key());
    let _lock = lock_cache_entry(dir, &request.cache_key())?;
    if path.is_dir() {
        eprintln!("using the cached tree {}", path.display());
        return Ok(path);
    }
    let guard = fresh_tree(request, dir)?;
    match std::fs::rename(guard.path(), &path) {
        Ok(()) => {
            guard.keep();
        }
        // Another bootstrap published the same tree first: use it, drop ours.
        Err(_) if path.is_dir() => drop(guard),
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "cannot move {} to {}",
                    guard.path().display(),
                    path.display()
                )
            });
        }
    }
    Ok(path)
}

/// An exclusive lock on `dir/<key>.lock` (created when missing), held until dropped; waits
/// while another bootstrap holds it.
fn lock_cache_entry(dir: &Path, key: &str) -> anyhow::Result<nix::fcntl::Flock<std::fs::File>> {
    use nix::fcntl::{Flock, FlockArg};
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{key}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open the cache lock {}", path.display()))?;
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, errno)| errno)
        .with_context(|| format!("cannot lock {}", path.display()))
}

/// Sends the tree to the engine's import endpoint and returns the new image's id.
fn import(tree: &Path, reference: &str, global: &GlobalArgs) -> anyhow::Result<String> {
    let mut archive = Vec::new();
    let summary = write_tree(tree, &mut archive)?;
    eprintln!(
        "importing {} entries ({} bytes of files) as {reference}",
        summary.entries, summary.content_bytes
    );
    let message = format!("berth image bootstrap {reference}");
    crate::connect::runtime()?.block_on(async {
        let client = crate::connect::connect(global).await?;
        client
            .import_image(
                archive,
                Some(reference),
                &[r#"CMD ["bash"]"#.to_owned()],
                Some(&message),
            )
            .await
            .with_context(|| format!("importing {reference}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_get_latest_and_bad_names_a_hint() {
        assert_eq!(
            image_reference("berth/debian:bookworm").expect("valid"),
            "berth/debian:bookworm"
        );
        assert_eq!(image_reference("debian").expect("valid"), "debian:latest");
        for bad in ["", "Debian", "a b", "x@sha256:abc"] {
            let err = image_reference(bad).expect_err(bad);
            assert!(format!("{err:#}").contains("hint"), "{bad}: {err:#}");
        }
    }

    #[test]
    fn a_tcp_engine_is_refused_with_a_hint() {
        require_local_engine("unix:///run/berth/berth.sock").expect("unix is local");
        let err = require_local_engine("tcp://10.0.0.1:2375").expect_err("tcp");
        let text = format!("{err:#}");
        assert!(
            text.contains("not a local unix socket") && text.contains("--output"),
            "{text}"
        );
    }

    #[test]
    fn a_cache_entry_lock_excludes_a_second_bootstrap_until_dropped() {
        use nix::fcntl::{Flock, FlockArg};
        let dir = tempfile::tempdir().expect("tempdir");
        let held = lock_cache_entry(dir.path(), "bookworm-minbase-x").expect("first lock");
        let try_again = || {
            let file = std::fs::File::open(dir.path().join("bookworm-minbase-x.lock"))
                .expect("the lock file exists");
            Flock::lock(file, FlockArg::LockExclusiveNonblock).is_ok()
        };
        assert!(
            !try_again(),
            "a second lock was granted while the first is held"
        );
        drop(held);
        assert!(try_again(), "the lock was not released on drop");
    }
}
