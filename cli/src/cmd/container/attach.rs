//! `berth container attach`: connect the terminal to a running container's stdio; shared with
//! `run -it` and the compose `attach` verb. Exits with the container's code once it stops, or
//! 0 when the user detached (ctrl-p ctrl-q) and it keeps running.

use std::process::ExitCode;

use anyhow::Context as _;
use berth_engine::api::models::ContainerWaitResponse;
use berth_engine::backend::{AttachOptions, WaitCondition};
use berth_engine::client::{Client, ClientError, Session};
use clap::Args;

use crate::connect::{connect, runtime};
use crate::global::GlobalArgs;

/// Options of `berth container attach`.
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Do not attach stdin.
    #[arg(long)]
    no_stdin: bool,
    /// Container name or id.
    container: String,
}

type Waiter = tokio::task::JoinHandle<Result<ContainerWaitResponse, ClientError>>;

/// Runs an attached `session` of container `id` on this terminal, then reports how it ended:
/// the container's exit code from `waiter`, or success when it still runs (detached).
pub async fn follow(
    client: &Client,
    id: &str,
    session: Session,
    tty: bool,
    input: bool,
    waiter: Waiter,
) -> anyhow::Result<ExitCode> {
    let raw = match tty {
        true => crate::tty::RawMode::enable()?,
        false => None,
    };
    let resizer = client.clone();
    let target = id.to_owned();
    let result = crate::tty::interact(session, input, move |rows, cols| {
        let c = resizer.clone();
        let t = target.clone();
        async move {
            if tty {
                let _ = c.resize_container(&t, rows, cols).await;
            }
        }
    })
    .await;
    drop(raw);
    if result? {
        waiter.abort();
        eprintln!("read escape sequence");
        return Ok(ExitCode::SUCCESS);
    }
    let status = waiter.await?.with_context(|| format!("waiting for {id}"))?;
    Ok(super::exit_code(status.status_code))
}

/// Attaches to a running container and exits with its code.
pub fn run(args: AttachArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let client = connect(global).await?;
        attach(&client, &args.container, !args.no_stdin).await
    })
}

/// Attaches to container `name` (stdin too when it has one and `stdin` is asked).
pub async fn attach(client: &Client, name: &str, stdin: bool) -> anyhow::Result<ExitCode> {
    let c = client
        .inspect_container(name)
        .await
        .with_context(|| format!("attaching to {name}"))?;
    if !c.state.running {
        anyhow::bail!(
            "cannot attach to {name}: the container is not running (hint: start it first)"
        );
    }
    let input = stdin && c.config.open_stdin;
    let waiter = {
        let client = client.clone();
        let id = c.id.clone();
        tokio::spawn(async move { client.wait_container(&id, WaitCondition::NextExit).await })
    };
    let opts = AttachOptions {
        stdin: input,
        stdout: true,
        stderr: true,
        logs: false,
    };
    let session = client
        .attach_session(&c.id, opts, c.config.tty)
        .await
        .with_context(|| format!("attaching to {name}"))?;
    follow(client, &c.id, session, c.config.tty, input, waiter).await
}
