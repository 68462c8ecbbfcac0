//! `berth container exec`: run a command in a running container and exit with its status.

use std::process::ExitCode;

use anyhow::Context as _;
use berth_engine::api::models::ExecConfig;
use clap::Args;

use crate::connect::{connect, runtime};
use crate::global::GlobalArgs;

/// Options of `berth container exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Start the command and return at once.
    #[arg(short, long)]
    detach: bool,
    /// Keep stdin open and attach it.
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a terminal (raw mode on yours).
    #[arg(short, long)]
    tty: bool,
    /// Environment variable `KEY=value` (repeatable).
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    workdir: Option<String>,
    /// `user[:group]` to run as.
    #[arg(short, long)]
    user: Option<String>,
    /// Every capability and no seccomp filter for this command.
    #[arg(long)]
    privileged: bool,
    /// Container name or id.
    container: String,
    /// Command and arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// Runs the command; the exit code is the command's.
pub fn run(args: ExecArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let config = ExecConfig {
        attach_stdout: !args.detach,
        attach_stderr: !args.detach,
        env: args.env.clone(),
        cmd: args.command.clone(),
        working_dir: args.workdir.clone().unwrap_or_default(),
        user: args.user.clone().unwrap_or_default(),
        privileged: args.privileged,
        attach_stdin: args.interactive && !args.detach,
        tty: args.tty,
    };
    runtime()?.block_on(async {
        let client = connect(global).await?;
        let created = client
            .create_exec(&args.container, &config)
            .await
            .with_context(|| format!("exec in {}", args.container))?;
        if !args.detach && (args.interactive || args.tty) {
            return interactive(&client, &created.id, args.tty, args.interactive).await;
        }
        let output = client.start_exec(&created.id, args.tty).await?;
        if args.detach {
            drop(output);
            return Ok(ExitCode::SUCCESS);
        }
        crate::tty::copy_output(output).await?;
        let inspect = client.inspect_exec(&created.id).await?;
        Ok(super::exit_code(inspect.exit_code.unwrap_or(126)))
    })
}

/// Runs exec `exec_id` on this terminal and exits with the command's code.
pub(crate) async fn interactive(
    client: &berth_engine::client::Client,
    exec_id: &str,
    tty: bool,
    input: bool,
) -> anyhow::Result<ExitCode> {
    let session = client.start_exec_session(exec_id, tty).await?;
    let raw = match tty {
        true => crate::tty::RawMode::enable()?,
        false => None,
    };
    let resizer = client.clone();
    let target = exec_id.to_owned();
    let result = crate::tty::interact(session, input, move |rows, cols| {
        let c = resizer.clone();
        let t = target.clone();
        async move {
            if tty {
                let _ = c.resize_exec(&t, rows, cols).await;
            }
        }
    })
    .await;
    drop(raw);
    // Detach keys are not special in an exec: the session ends with the command.
    result?;
    let inspect = client.inspect_exec(exec_id).await?;
    Ok(super::exit_code(inspect.exit_code.unwrap_or(126)))
}
