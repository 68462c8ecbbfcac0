//! `berth-shim`: berth's OCI runtime and per-container shim as a small binary of its own.
//!
//! The engine re-executes the runtime for every container start and exec from a sealed copy
//! (CVE-2019-5736), and one shim stays alive per container: both cost in proportion to the
//! binary. This one holds only the runtime (no tokio, no HTTP, no image code), so the copy is
//! small and an idle shim stays under a megabyte of RSS. The engine uses it when it sits next to
//! `berth`; `berth runtime …` does the same work when it does not.

fn main() -> std::process::ExitCode {
    berth_runtime::cli::main(std::env::args_os())
}
