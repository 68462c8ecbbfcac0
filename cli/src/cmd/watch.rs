//! `berth watch [SERVICE…]` and `berth up --watch`: the developer loop of compose's
//! `develop.watch`. The rules are checked and compiled by `berth_compose::watch`; this verb
//! owns the shell around that pure core: it brings the services up (unless `--no-up`), does
//! the `initial_sync`s, watches the trees with inotify ([`fs`]), feeds the debouncer, and
//! applies each batch's plan through the engine ([`apply`]).

mod apply;
mod fs;

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use berth_build::dockerignore::{Matcher, read_patterns};
use berth_compose::watch::{
    Change, ContextIgnores, Debouncer, MatcherFactory, PathMatcher, Trigger, WatchSet, plan_batch,
    settle,
};
use clap::Args;

use crate::cmd::build::{ServiceBuildOptions, build_services, image_name};
use crate::cmd::prepare::{BuildPolicy, prepare_images};
use crate::cmd::up::{ProgressArgs, converge, plan_options};
use crate::connect::runtime;
use crate::global::GlobalArgs;
use crate::progress::Mode;
use crate::stack::Stack;

pub use apply::ApplyOptions;

/// Arguments of `berth watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Don't build and start the services before watching.
    #[arg(long)]
    no_up: bool,
    /// Remove the image a rebuild replaced when nothing uses it any more.
    #[arg(long)]
    prune: bool,
    /// Hide build output and the output of `sync+exec` commands.
    #[arg(long)]
    quiet: bool,
    /// Services to watch (default: every service with a `develop.watch` section).
    services: Vec<String>,
}

/// Runs `berth watch`.
pub fn run(args: WatchArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let stack = Stack::open(global).await?;
        let session = Session::prepare(
            &stack,
            &args.services,
            ApplyOptions {
                quiet: args.quiet,
                prune: args.prune,
            },
        )?;
        if !args.no_up {
            up(&stack, &args.services, args.quiet).await?;
        }
        tokio::select! {
            r = session.run(&stack) => r?,
            _ = tokio::signal::ctrl_c() => {}
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Builds the missing images of services with a `build:` section, pulls other missing
/// images, and converges the services as `up -d` does.
async fn up(stack: &Stack, services: &[String], quiet: bool) -> anyhow::Result<()> {
    let mut missing = Vec::new();
    for (name, svc) in &stack.project.services {
        if svc.build.is_some()
            && (services.is_empty() || services.contains(name))
            && stack
                .client()
                .inspect_image(&image_name(&stack.project, name, svc))
                .await
                .is_err()
        {
            missing.push(name.clone());
        }
    }
    if !missing.is_empty() {
        let opts = ServiceBuildOptions {
            quiet,
            ..ServiceBuildOptions::default()
        };
        build_services(&stack.project, &missing, stack.client(), &opts).await?;
    }
    let built: Vec<String> = stack
        .project
        .services
        .iter()
        .filter(|(_, s)| s.build.is_some())
        .map(|(n, _)| n.clone())
        .collect();
    let pulled: Vec<String> = if services.is_empty() {
        stack
            .project
            .services
            .keys()
            .filter(|s| !built.contains(s))
            .cloned()
            .collect()
    } else {
        services
            .iter()
            .filter(|s| !built.contains(s))
            .cloned()
            .collect()
    };
    let mode = if quiet {
        Mode::Quiet
    } else {
        Mode::parse("auto")?
    };
    if !pulled.is_empty() {
        let policy = ("missing", BuildPolicy::Missing);
        prepare_images(stack, &pulled, true, policy, mode).await?;
    }
    let progress = ProgressArgs {
        progress: if quiet { "quiet" } else { "auto" }.to_owned(),
        dry_run: false,
    };
    converge(stack, &plan_options(stack, services), &progress, "Running").await
}

/// A checked watch configuration, ready to run.
#[derive(Debug)]
pub struct Session {
    set: WatchSet,
    services: Vec<String>,
    options: ApplyOptions,
}

impl Session {
    /// Checks and compiles the `develop.watch` rules of `services` (all services with one
    /// when empty): fails before anything starts when a rule is wrong or none exists.
    pub fn prepare(
        stack: &Stack,
        services: &[String],
        options: ApplyOptions,
    ) -> anyhow::Result<Session> {
        let set = WatchSet::new(&stack.project, services, &Ignores)?;
        let services = set.services().into_iter().map(str::to_owned).collect();
        Ok(Session {
            set,
            services,
            options,
        })
    }

    /// Runs `attached` (the attached part of `up`) and the watch loop together; the first
    /// to end ends both.
    pub async fn alongside(
        self,
        stack: &Stack,
        attached: impl Future<Output = anyhow::Result<ExitCode>>,
    ) -> anyhow::Result<ExitCode> {
        tokio::select! {
            r = attached => r,
            r = self.run(stack) => r.map(|()| ExitCode::SUCCESS),
        }
    }

    /// The watch loop: initial syncs, then batches until the watcher fails.
    pub async fn run(self, stack: &Stack) -> anyhow::Result<()> {
        let (mut watcher, mut events) = fs::FsWatcher::start()?;
        watcher.watch_roots(&self.set)?;
        self.initial_sync(stack).await;
        eprintln!(
            "watching {} ({} directories) for {}",
            self.set
                .roots()
                .iter()
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            watcher.len(),
            self.services.join(", ")
        );
        let mut debouncer = Debouncer::default();
        loop {
            let deadline = debouncer.deadline();
            let event = match deadline {
                Some(d) => {
                    tokio::select! {
                        e = events.recv() => e,
                        () = tokio::time::sleep_until(d.into()) => {
                            if let Some(batch) = debouncer.poll(Instant::now()) {
                                let changes = apply::observe_changes(&batch.paths);
                                let changes = settle(changes, &batch.fresh);
                                self.apply(stack, changes, Trigger::Changes).await;
                            }
                            continue;
                        }
                    }
                }
                None => events.recv().await,
            };
            let Some(event) = event else {
                anyhow::bail!("the file watcher stopped");
            };
            let now = Instant::now();
            let event = match event {
                Ok(event) => event,
                Err(e) => {
                    eprintln!("WARN file watcher: {e}");
                    continue;
                }
            };
            let seen = watcher.handle(&self.set, &event)?;
            if seen.rescan {
                eprintln!("WARN the kernel dropped file events: comparing every watched tree");
                watcher.watch_roots(&self.set)?;
                for p in fs::list_roots(&self.set, &self.set.roots()) {
                    debouncer.push(p, now, false);
                }
            }
            for (p, created) in seen.paths {
                debouncer.push(p, now, created);
            }
        }
    }

    async fn initial_sync(&self, stack: &Stack) {
        let roots: Vec<&Path> = self
            .set
            .rules
            .iter()
            .filter(|r| r.initial_sync && r.action.syncs())
            .map(|r| r.filter.root.as_path())
            .collect();
        if roots.is_empty() {
            return;
        }
        let paths = fs::list_roots(&self.set, &roots);
        let changes = apply::observe_changes(&paths);
        self.apply(stack, changes, Trigger::Initial).await;
    }

    /// Plans and applies one batch; failures are reported and the loop goes on.
    async fn apply(&self, stack: &Stack, changes: Vec<Change>, trigger: Trigger) {
        let result = async {
            let start = Instant::now();
            let replicas = apply::replicas(stack, &self.services).await?;
            let listed = start.elapsed();
            let plan = plan_batch(&self.set, &changes, &replicas, trigger);
            let r = apply::apply(stack, &plan, self.options).await;
            tracing::debug!(
                changes = changes.len(),
                steps = plan.steps.len(),
                list_ms = listed.as_secs_f64() * 1e3,
                total_ms = start.elapsed().as_secs_f64() * 1e3,
                "watch batch applied"
            );
            r
        }
        .await;
        if let Err(e) = result {
            eprintln!("error: {e:#}");
        }
    }
}

/// The build crate's `.dockerignore` matcher behind the compose crate's port.
#[derive(Debug)]
struct Ignore(Matcher);

impl PathMatcher for Ignore {
    fn excluded(&self, rel: &str) -> bool {
        self.0.excluded(rel)
    }
    fn can_skip_dir(&self, rel_dir: &str) -> bool {
        self.0.can_skip_dir(rel_dir)
    }
}

/// Compiles patterns with the build crate and reads build contexts' `.dockerignore`.
#[derive(Debug)]
struct Ignores;

impl MatcherFactory for Ignores {
    fn compile(&self, patterns: &[String]) -> Result<Box<dyn PathMatcher>, String> {
        let cleaned = read_patterns(&patterns.join("\n"));
        Matcher::new(&cleaned)
            .map(|m| Box::new(Ignore(m)) as Box<dyn PathMatcher>)
            .map_err(|e| e.to_string())
    }
}

impl ContextIgnores for Ignores {
    fn context_ignore(&self, context: &Path) -> Result<Option<Box<dyn PathMatcher>>, String> {
        let path = context.join(".dockerignore");
        match std::fs::read_to_string(&path) {
            Ok(text) => Matcher::parse(&text)
                .map(|m| Some(Box::new(Ignore(m)) as Box<dyn PathMatcher>))
                .map_err(|e| e.to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("reading {}: {e}", path.display())),
        }
    }
}

#[cfg(test)]
mod tests;
