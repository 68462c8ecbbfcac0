//! `berth image build PATH [-f Dockerfile]`: sends the context directory (filtered by `.dockerignore`) as a
//! tar to the engine's `POST /build` and prints the build's progress as it streams. The
//! context packing and the progress rendering are shared with `berth build` (compose).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use berth_build::dockerignore::{Matcher, walk_context};
use berth_engine::api::models::BuildOptions;
use berth_engine::client::Client;
use clap::Args;
use futures_util::StreamExt as _;

use crate::connect::{connect, runtime};
use crate::global::GlobalArgs;

/// Name of the Dockerfile inside the sent context when `-f` points outside the context.
const OUTSIDE_DOCKERFILE: &str = ".berth-dockerfile";

/// Options of `berth image build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The build context directory.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Name (and optionally tag) of the image; repeatable.
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]")]
    tags: Vec<String>,
    /// A build-time variable (`KEY=VALUE`, or `KEY` to take it from the environment).
    #[arg(long = "build-arg", value_name = "KEY[=VALUE]")]
    build_args: Vec<String>,
    /// A label for the image (`KEY=VALUE`); repeatable.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// The stage to build.
    #[arg(long)]
    target: Option<String>,
    /// Do not use the build cache.
    #[arg(long)]
    no_cache: bool,
    /// Print only the image id.
    #[arg(short, long)]
    quiet: bool,
    /// Network of RUN steps: `default` (the engine's bridge), `none`, `host` or a network name.
    #[arg(long, default_value = "default")]
    network: String,
    /// Accepted for compatibility; berth builds for the host platform only.
    #[arg(long, hide = true)]
    platform: Option<String>,
    /// Accepted for compatibility; base images are taken from the engine's store.
    #[arg(long, hide = true)]
    pull: bool,
}

/// `KEY=VALUE` (or `KEY`, from the environment, skipped when unset) into a map.
pub(crate) fn parse_pairs(
    flag: &str,
    items: &[String],
    from_env: bool,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for item in items {
        match item.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                out.insert(k.to_string(), v.to_string());
            }
            None if from_env && !item.is_empty() => {
                if let Ok(v) = std::env::var(item) {
                    out.insert(item.clone(), v);
                }
            }
            _ => bail!("{flag} {item:?}: expected KEY=VALUE"),
        }
    }
    Ok(out)
}

/// Packs `context` as a tar (files `.dockerignore` excludes left out, but the Dockerfile and
/// `.dockerignore` always in) and returns it with the Dockerfile's name inside it.
pub(crate) fn context_tar(
    context: &Path,
    dockerfile: Option<&Path>,
    inline: Option<&str>,
) -> anyhow::Result<(Vec<u8>, String)> {
    let meta = std::fs::metadata(context)
        .with_context(|| format!("build context {}", context.display()))?;
    if !meta.is_dir() {
        bail!(
            "build context {} is not a directory (hint: pass the directory that holds the Dockerfile)",
            context.display()
        );
    }
    let ignore_text = std::fs::read_to_string(context.join(".dockerignore")).unwrap_or_default();
    let matcher = Matcher::parse(&ignore_text).context(".dockerignore")?;
    let files = walk_context(context, &matcher).context("reading the build context")?;
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(false);
    for rel in &files {
        tar.append_path_with_name(context.join(rel), rel)
            .with_context(|| format!("adding {} to the context", rel.display()))?;
    }
    let mut add_bytes = |name: &str, data: &[u8]| -> anyhow::Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, name, data)
            .context("adding the Dockerfile to the context")
    };
    let name = if let Some(text) = inline {
        add_bytes(OUTSIDE_DOCKERFILE, text.as_bytes())?;
        OUTSIDE_DOCKERFILE.to_string()
    } else {
        let df = dockerfile.map_or_else(|| context.join("Dockerfile"), Path::to_path_buf);
        let text = std::fs::read(&df)
            .with_context(|| format!("cannot read the Dockerfile {}", df.display()))?;
        let inside = std::fs::canonicalize(&df)
            .ok()
            .zip(std::fs::canonicalize(context).ok())
            .and_then(|(d, c)| d.strip_prefix(&c).ok().map(Path::to_path_buf));
        match inside {
            Some(rel) if files.contains(&rel) => rel.to_string_lossy().into_owned(),
            _ => {
                add_bytes(OUTSIDE_DOCKERFILE, &text)?;
                OUTSIDE_DOCKERFILE.to_string()
            }
        }
    };
    Ok((tar.into_inner().context("finishing the context tar")?, name))
}

/// Streams one build, printing its progress (nothing when `quiet`); returns the image id: the
/// final `aux` message's, or with `quiet`, where dockerd sends no `aux`, the id it prints.
pub(crate) async fn stream_build(
    client: &Client,
    opts: &BuildOptions,
    context: Vec<u8>,
) -> anyhow::Result<String> {
    let mut stream = client
        .build_image(opts, context)
        .await
        .context("starting the build")?;
    let mut id = None;
    let mut out = std::io::stdout().lock();
    while let Some(msg) = stream.next().await {
        let msg = msg.context("reading the build progress")?;
        if let Some(err) = msg.error {
            bail!("{err}");
        }
        if let Some(aux) = msg.aux {
            id = Some(aux.id);
        }
        if let Some(text) = msg.stream {
            if opts.quiet {
                let line = text.trim();
                if line.starts_with("sha256:") && id.is_none() {
                    id = Some(line.to_owned());
                }
                continue;
            }
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
    }
    id.context("the engine ended the build without an image id")
}

/// Builds an image from a Dockerfile.
pub fn run(args: BuildArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    if let Some(p) = &args.platform {
        let host = format!("linux/{}", berth_engine::image::import::go_arch());
        if p != &host {
            bail!("--platform {p}: berth builds for the host platform ({host}) only");
        }
    }
    // `-f/--file` is berth's global option (compose files); for this verb it names the
    // Dockerfile, as in `docker build -f`.
    let file = match global.files.as_slice() {
        [] => None,
        [f] => Some(f.as_path()),
        _ => bail!("-f/--file given more than once: a build has one Dockerfile"),
    };
    let (context, dockerfile) = context_tar(&args.path, file, None)?;
    let opts = BuildOptions {
        dockerfile,
        tags: args.tags.clone(),
        build_args: parse_pairs("--build-arg", &args.build_args, true)?,
        labels: parse_pairs("--label", &args.labels, false)?,
        target: args.target.clone(),
        no_cache: args.no_cache,
        quiet: args.quiet,
        network: args.network.clone(),
    };
    let id = runtime()?.block_on(async {
        let client = connect(global).await?;
        stream_build(&client, &opts, context).await
    })?;
    if args.quiet {
        outln!("{id}");
    }
    Ok(ExitCode::SUCCESS)
}
