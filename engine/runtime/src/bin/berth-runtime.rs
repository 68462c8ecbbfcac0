//! `berth-runtime`: the OCI runtime as its own small binary, so namespace work always starts in
//! a fresh single-threaded process.

fn main() -> std::process::ExitCode {
    berth_runtime::cli::main(std::env::args_os())
}
