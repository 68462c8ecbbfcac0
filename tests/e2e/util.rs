//! The harness: a temporary project directory, a builder for `berth` invocations, and assertions
//! that print the whole command output on failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A temporary project directory, removed when dropped.
pub struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    /// A new empty project directory.
    pub fn new() -> Self {
        Project {
            dir: tempfile::Builder::new()
                .prefix("berth-e2e-")
                .tempdir()
                .expect("create temp project dir"),
        }
    }

    /// The project's directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `contents` to `rel` inside the project (creating parent directories).
    pub fn file(&self, rel: &str, contents: &str) -> &Self {
        let path = self.dir.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent dir");
        }
        std::fs::write(&path, contents).expect("write project file");
        self
    }

    /// A `berth` command running in the project directory with a clean compose environment.
    pub fn berth(&self) -> Berth {
        Berth::in_dir(self.dir.path())
    }
}

/// A `berth` invocation.
pub struct Berth {
    cmd: Command,
    stdin: Option<String>,
}

impl Berth {
    /// A `berth` invocation running in `cwd` with a clean compose environment.
    pub fn in_dir(cwd: &Path) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
        cmd.current_dir(cwd);
        for var in [
            "COMPOSE_FILE",
            "COMPOSE_PROJECT_NAME",
            "COMPOSE_PROFILES",
            "DOCKER_HOST",
        ] {
            cmd.env_remove(var);
        }
        Berth { cmd, stdin: None }
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// Adds one argument.
    pub fn arg(self, arg: &str) -> Self {
        self.args([arg])
    }

    /// Adds string arguments.
    pub fn arg_list(self, args: &[&str]) -> Self {
        self.args(args)
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.cmd.env(key, value);
        self
    }

    /// Feeds `text` on standard input.
    pub fn stdin(mut self, text: &str) -> Self {
        self.stdin = Some(text.to_owned());
        self
    }

    /// Runs the command and returns its output.
    pub fn output(mut self) -> Output {
        use std::io::Write;
        self.cmd
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.cmd.spawn().expect("spawn berth");
        if let Some(text) = self.stdin.take() {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes())
                .expect("write stdin");
        }
        child.wait_with_output().expect("wait for berth")
    }

    /// Runs the command, asserts success and returns standard output.
    pub fn ok(self) -> String {
        let desc = format!("{:?}", self.cmd);
        let out = self.output();
        assert!(out.status.success(), "{desc} failed:\n{}", show(&out));
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs the command, asserts failure and returns standard error.
    pub fn fails(self) -> String {
        let desc = format!("{:?}", self.cmd);
        let out = self.output();
        assert!(
            !out.status.success(),
            "{desc} unexpectedly succeeded:\n{}",
            show(&out)
        );
        String::from_utf8(out.stderr).expect("utf-8 stderr")
    }
}

/// Both streams of an output, for failure messages.
pub fn show(out: &Output) -> String {
    format!(
        "status: {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The repository root (for the examples).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli crate has a parent")
        .to_path_buf()
}
