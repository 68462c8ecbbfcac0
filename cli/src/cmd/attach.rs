//! `berth attach SERVICE`: connect the terminal to a service container's stdio (stdin too
//! when it keeps one open), as `docker compose attach` does; ctrl-p ctrl-q detaches.

use std::process::ExitCode;

use clap::Args;

use crate::connect::runtime;
use crate::global::GlobalArgs;
use crate::stack::{Stack, name_of};

/// Arguments of `berth attach`.
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Index of the container if the service has several replicas.
    #[arg(long, value_name = "N", default_value_t = 1)]
    index: u64,
    /// Do not attach stdin.
    #[arg(long)]
    no_stdin: bool,
    /// The service.
    service: String,
}

/// Runs `berth attach`.
pub fn run(args: AttachArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let stack = Stack::open_by_name(global).await?;
        let c = stack.replica(&args.service, args.index).await?;
        crate::cmd::container::attach::attach(stack.client(), &name_of(&c), !args.no_stdin).await
    })
}
