//! The `berth` command line: one module per verb under `cmd/`, each turning clap arguments into
//! validated options and one library call. `main` prints the error chain once and maps it to an
//! exit code; a closed pipe (`berth config | head`) is not an error.

/// `println!` that returns a closed standard output as an error (from a function returning
/// `anyhow::Result`), so `berth ps | head` ends quietly instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?;
    }};
}

mod cmd;
mod compose_engine;
mod connect;
mod global;
mod progress;
mod stack;
mod table;
mod tty;

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;

/// berth: a Compose-first container orchestrator with its own embedded engine.
#[derive(Debug, Parser)]
#[command(name = "berth", version, about, max_term_width = 100)]
struct Cli {
    #[command(flatten)]
    global: global::GlobalArgs,
    #[command(subcommand)]
    command: cmd::Command,
}

/// Name under which the runtime's own command line runs (also after its sealed re-exec).
const RUNTIME_ARGV0: &str = "berth-runtime";

/// The hidden verbs `berth runtime …` and `berth shim …` hand over to the OCI runtime's command
/// line before clap sees them. They run as `berth-runtime` in argv[0], so that the runtime's
/// re-exec from a sealed copy of this binary lands here again and is recognised.
fn runtime_args(args: &[OsString]) -> Option<Vec<OsString>> {
    let argv0 = args.first().map(Path::new)?;
    if argv0.file_name() == Some(OsStr::new(RUNTIME_ARGV0)) {
        return Some(args.to_vec());
    }
    let rest = match args.get(1).and_then(|a| a.to_str()) {
        Some("runtime") => &args[2..],
        Some("shim") => &args[1..],
        _ => return None,
    };
    let mut out = vec![OsString::from(RUNTIME_ARGV0)];
    out.extend(rest.iter().cloned());
    Some(out)
}

/// `berth compose VERB …` is `berth VERB …`: the verbs of `docker compose` are berth's own
/// top-level verbs, so the word `compose` in front of the verb (after any global flags) is
/// dropped. Anything else is returned as it came. Which global flags take a separate value
/// (`-f x.yaml`, `--host h`) comes from the CLI's own definition, built only when the word is
/// there.
fn without_compose_word(mut args: Vec<OsString>) -> Vec<OsString> {
    if !args.iter().skip(1).any(|a| a == "compose") {
        return args;
    }
    use clap::CommandFactory as _;
    let cli = Cli::command();
    let takes_value = |flag: &str| {
        cli.get_arguments().any(|a| {
            a.get_action().takes_values()
                && (flag
                    .strip_prefix("--")
                    .is_some_and(|l| a.get_long() == Some(l))
                    || (flag.len() == 2
                        && flag.strip_prefix('-').and_then(|c| c.chars().next()) == a.get_short()))
        })
    };
    let mut i = 1;
    while let Some(arg) = args.get(i).and_then(|a| a.to_str()) {
        if arg == "compose" {
            args.remove(i);
            break;
        }
        if !arg.starts_with('-') || arg == "-" || arg == "--" {
            break;
        }
        i += if takes_value(arg) { 2 } else { 1 };
    }
    args
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    if let Some(rt_args) = runtime_args(&args) {
        return berth_engine::runtime::cli::main(rt_args);
    }
    let cli = Cli::parse_from(without_compose_word(args));
    global::init_tracing(cli.global.log_level.as_deref());
    match cmd::run(cli.command, &cli.global) {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "error: {err}");
            for cause in err.chain().skip(1) {
                let _ = writeln!(stderr, "  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn command_line_definition_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }

    #[test]
    fn runtime_and_shim_verbs_become_runtime_argv() {
        assert_eq!(
            runtime_args(&os(&[
                "/usr/bin/berth",
                "runtime",
                "--root",
                "/r",
                "state",
                "x"
            ])),
            Some(os(&["berth-runtime", "--root", "/r", "state", "x"]))
        );
        assert_eq!(
            runtime_args(&os(&["berth", "shim", "c1", "--log", "l"])),
            Some(os(&["berth-runtime", "shim", "c1", "--log", "l"]))
        );
        assert_eq!(
            runtime_args(&os(&["berth-runtime", "create", "c1"])),
            Some(os(&["berth-runtime", "create", "c1"]))
        );
        assert_eq!(runtime_args(&os(&["berth", "config"])), None);
    }

    #[test]
    fn the_compose_word_before_the_verb_is_dropped() {
        let cases: &[(&[&str], &[&str])] = &[
            (&["berth", "compose", "up", "-d"], &["berth", "up", "-d"]),
            (
                &["berth", "-f", "x.yaml", "compose", "version", "--short"],
                &["berth", "-f", "x.yaml", "version", "--short"],
            ),
            (
                &[
                    "berth",
                    "--host=unix:///s",
                    "-p",
                    "compose",
                    "compose",
                    "ps",
                ],
                &["berth", "--host=unix:///s", "-p", "compose", "ps"],
            ),
            // Only in front of the verb: a service called `compose` stays.
            (&["berth", "up", "compose"], &["berth", "up", "compose"]),
            (&["berth", "compose"], &["berth"]),
        ];
        for (given, want) in cases {
            assert_eq!(without_compose_word(os(given)), os(want), "{given:?}");
        }
        let parsed = Cli::try_parse_from(without_compose_word(os(&[
            "berth", "compose", "version", "--short",
        ])))
        .unwrap();
        assert!(matches!(parsed.command, cmd::Command::Version(_)));
    }
}
