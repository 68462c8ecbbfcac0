//! `berth build [SERVICE…]`: builds the images of compose services that have a `build:`
//! section, as `docker compose build`. The image is named by the service's `image:`, else
//! `PROJECT-SERVICE`; extra `build.tags` are added. [`build_services`] is the library call
//! `up --build` uses too.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use berth_compose::model::{Project, Service};
use berth_engine::api::models::BuildOptions;
use berth_engine::client::Client;
use clap::Args;

use crate::cmd::image::build::{context_tar, stream_build};
use crate::connect::{connect, runtime};
use crate::global::GlobalArgs;

/// Options of `berth build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Services to build (default: every service with a `build:` section).
    services: Vec<String>,
    /// Set a build-time variable for every service (`KEY=VALUE` or `KEY`).
    #[arg(long = "build-arg", value_name = "KEY[=VALUE]")]
    build_args: Vec<String>,
    /// Do not use the build cache.
    #[arg(long)]
    no_cache: bool,
    /// Print only the image ids.
    #[arg(short, long)]
    quiet: bool,
    /// Accepted for compatibility; base images are taken from the engine's store.
    #[arg(long, hide = true)]
    pull: bool,
}

/// How to build services (what `berth build` and `up --build` pass).
#[derive(Debug, Clone, Default)]
pub struct ServiceBuildOptions {
    /// Extra build args for every service (over the service's own `args`).
    pub build_args: BTreeMap<String, String>,
    pub no_cache: bool,
    /// Print nothing (the image ids are returned).
    pub quiet: bool,
}

/// The image name a service's build produces: `image:`, else `PROJECT-SERVICE`.
pub fn image_name(project: &Project, name: &str, service: &Service) -> String {
    service
        .image
        .clone()
        .unwrap_or_else(|| format!("{}-{}", project.name, name))
}

/// The engine's build options for one service (its `build:` section); `None` without one.
pub fn service_build(
    project: &Project,
    name: &str,
    service: &Service,
    options: &ServiceBuildOptions,
) -> Option<BuildOptions> {
    let b = service.build.as_ref()?;
    let mut build_args: BTreeMap<String, String> = b
        .args
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
        .collect();
    build_args.extend(options.build_args.clone());
    let mut tags = vec![image_name(project, name, service)];
    tags.extend(b.tags.iter().cloned());
    let mut labels = b.labels.clone();
    labels.insert("com.docker.compose.project".into(), project.name.clone());
    labels.insert("com.docker.compose.service".into(), name.to_string());
    Some(BuildOptions {
        dockerfile: b.dockerfile.clone().unwrap_or_else(|| "Dockerfile".into()),
        tags,
        build_args,
        labels,
        target: b.target.clone(),
        no_cache: b.no_cache || options.no_cache,
        quiet: options.quiet,
        network: b.network.clone().unwrap_or_else(|| "default".into()),
    })
}

/// Builds `services` (every service with a `build:` section when empty) one after the
/// other through `client`; returns `(service, image id)` per built service.
pub async fn build_services(
    project: &Project,
    services: &[String],
    client: &Client,
    options: &ServiceBuildOptions,
) -> anyhow::Result<Vec<(String, String)>> {
    for s in services {
        if !project.services.contains_key(s) {
            bail!("no such service: {s}");
        }
    }
    let mut built = Vec::new();
    for (name, service) in &project.services {
        if !services.is_empty() && !services.contains(name) {
            continue;
        }
        let Some(mut opts) = service_build(project, name, service, options) else {
            continue;
        };
        let b = service.build.as_ref().context("build section")?;
        if b.context.contains("://") || b.context.starts_with("git@") {
            bail!(
                "service {name}: remote build context {:?} is not supported (hint: clone it and use a local path)",
                b.context
            );
        }
        let context = project.working_dir.join(&b.context);
        let dockerfile = b.dockerfile.as_deref().map(|d| context.join(d));
        let (tar, df_name) = context_tar(
            &context,
            dockerfile.as_deref(),
            b.dockerfile_inline.as_deref(),
        )
        .with_context(|| format!("service {name}"))?;
        opts.dockerfile = df_name;
        if !options.quiet {
            println!("Building {name}");
        }
        let id = stream_build(client, &opts, tar)
            .await
            .with_context(|| format!("service {name}: build failed"))?;
        built.push((name.clone(), id));
    }
    Ok(built)
}

/// Builds the project's service images.
pub fn run(args: BuildArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let opts = global.load_options(false)?;
    let loaded = berth_compose::load_project(&opts)?;
    for w in &loaded.warnings {
        eprintln!("WARN {w}");
    }
    let options = ServiceBuildOptions {
        build_args: crate::cmd::image::build::parse_pairs("--build-arg", &args.build_args, true)?,
        no_cache: args.no_cache,
        quiet: args.quiet,
    };
    let built = runtime()?.block_on(async {
        let client = connect(global).await?;
        build_services(&loaded.project, &args.services, &client, &options).await
    })?;
    if args.quiet {
        for (_, id) in built {
            outln!("{id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
