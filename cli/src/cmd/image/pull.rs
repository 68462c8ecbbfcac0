//! `berth image pull NAME[:TAG|@DIGEST]`: the engine pulls the image; its per-layer progress is
//! rendered as progress bars (plain lines when standard error is not a terminal).

use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::process::ExitCode;

use anyhow::Context as _;
use berth_engine::api::models::ProgressMessage;
use clap::Args;
use futures_util::StreamExt as _;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cmd::login::registry_auth_for;
use crate::connect::{connect, runtime};
use crate::global::GlobalArgs;

/// Options of `berth image pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Image to pull (`NAME[:TAG|@DIGEST]`).
    image: String,
    /// Platform to pull from a multi-platform image (`os/arch[/variant]`).
    #[arg(long)]
    platform: Option<String>,
    /// Print only the final reference.
    #[arg(short, long)]
    quiet: bool,
}

/// Draws one bar per layer.
struct Bars {
    multi: MultiProgress,
    bars: HashMap<String, ProgressBar>,
    style: ProgressStyle,
    plain: bool,
}

impl Bars {
    fn new(quiet: bool) -> Bars {
        let plain = quiet || !std::io::stderr().is_terminal();
        let target = if plain {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let style =
            ProgressStyle::with_template("{prefix}: {msg:18} [{bar:30}] {bytes}/{total_bytes}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
        Bars {
            multi: MultiProgress::with_draw_target(target),
            bars: HashMap::new(),
            style,
            plain,
        }
    }

    fn show(&mut self, m: &ProgressMessage, quiet: bool) {
        let Some(id) = m.id.clone() else {
            if !quiet {
                let _ = self.multi.println(&m.status);
                if self.plain {
                    eprintln!("{}", m.status);
                }
            }
            return;
        };
        if self.plain {
            if !quiet && m.status != "Downloading" {
                eprintln!("{id}: {}", m.status);
            }
            return;
        }
        let bar = self.bars.entry(id.clone()).or_insert_with(|| {
            let b = self.multi.add(ProgressBar::new(0));
            b.set_style(self.style.clone());
            b.set_prefix(id.clone());
            b
        });
        if let Some(d) = &m.progress_detail
            && d.total > 0
        {
            bar.set_length(d.total as u64);
            bar.set_position(d.current as u64);
        }
        bar.set_message(m.status.clone());
        if matches!(m.status.as_str(), "Pull complete" | "Already exists") {
            bar.finish();
        }
    }
}

/// Pulls the image and renders the engine's progress.
pub fn run(args: PullArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let auth = registry_auth_for(&args.image)?;
    let reference = runtime()?.block_on(async {
        let client = connect(global).await?;
        let mut stream = client
            .pull_image_stream(&args.image, None, args.platform.as_deref(), auth.as_deref())
            .await
            .with_context(|| format!("pulling {}", args.image))?;
        let mut bars = Bars::new(args.quiet);
        let mut last = String::new();
        while let Some(m) = stream.next().await {
            let m = m.with_context(|| format!("pulling {}", args.image))?;
            bars.show(&m, args.quiet);
            last = m.status;
        }
        anyhow::Ok(last)
    })?;
    if args.quiet {
        let name = reference
            .rsplit(" for ")
            .next()
            .unwrap_or(args.image.as_str());
        println!("{name}");
    }
    Ok(ExitCode::SUCCESS)
}
