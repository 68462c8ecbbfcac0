//! The example stacks of `examples/` end to end on a real engine: each test bootstraps (or reuses)
//! the Debian base image, copies the examples to a scratch directory, builds the stack's images
//! (`berth build`), runs `berth up -d --wait`, checks what issue 10's "Must show" asks of the
//! example, and ends with `berth down -v` (also from a Drop guard when a check fails).
//!
//! Needs root, debootstrap and the Debian mirror (the images install Debian packages); the base
//! tree is cached under `/var/cache/berth-test/bootstrap` (bootstraps take turns on a lock
//! there). The examples run one at a time (a lock in this binary), so at most one stack's builds
//! and databases share the machine with the rest of the suite. Each test prints its timings:
//! `example NAME: bootstrap …s, build …s, up --wait …s, checks …s, total …s`.

mod lb;
mod proxy;
mod pxc;
mod redis;
mod wordpress;

use std::cell::RefCell;
use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::harness::{Engine, require_root};
use crate::util::{repo_root, show};

/// The base image every example's Dockerfiles start `FROM`.
const BASE: &str = "berth/debian:bookworm";
/// The Debian mirror the base image's apt sources name (debootstrap's default).
const MIRROR_HOST: &str = "deb.debian.org";
/// Where the root tests keep debootstrap trees between runs (shared with `bootstrap.rs`).
const CACHE: &str = "/var/cache/berth-test/bootstrap";

/// Held by the example running now: the stacks build images and run databases, so two at once
/// would starve each other and the rest of the suite.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// One example's engine, scratch copy of `examples/`, lock and timings.
pub struct Example {
    name: &'static str,
    started: Instant,
    timings: RefCell<Vec<(&'static str, Duration)>>,
    // Field order is drop order: the proxy stops, then the engine, then the lock is released.
    proxy: proxy::MirrorProxy,
    e: Engine,
    _turn: MutexGuard<'static, ()>,
}

impl Example {
    /// Waits for the examples' turn, starts an engine, bootstraps the base image into it and
    /// copies `examples/` into its scratch directory.
    pub fn start(name: &'static str) -> Example {
        require_root();
        let turn = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let started = Instant::now();
        let e = Engine::start(&format!("ex_{name}"));
        let proxy = proxy::MirrorProxy::start(e.pid(), MIRROR_HOST);
        let ex = Example {
            name,
            started,
            timings: RefCell::default(),
            proxy,
            e,
            _turn: turn,
        };
        let t = Instant::now();
        ex.e.berth(ex.e.scratch())
            .arg_list(&[
                "image",
                "bootstrap",
                BASE,
                "--variant",
                "minbase",
                "--cache-dir",
                CACHE,
            ])
            .ok();
        ex.timings.borrow_mut().push(("bootstrap", t.elapsed()));
        let status = Command::new("cp")
            .arg("-a")
            .arg(repo_root().join("examples"))
            .arg(ex.e.scratch().join("examples"))
            .status()
            .expect("cp");
        assert!(status.success(), "copying examples/");
        ex
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.e
    }

    /// The stack of this example, with `env` added to every `berth` invocation.
    pub fn stack(&self, env: &[(&str, String)]) -> Stack<'_> {
        Stack {
            e: &self.e,
            dir: self.e.scratch().join("examples").join(self.name),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        }
    }

    /// `berth build` of the stack, with apt reaching the mirror through the proxy; timed.
    pub fn build(&self, stack: &Stack<'_>) {
        let arg = format!("http_proxy={}", self.proxy.url());
        let t = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["build", "--build-arg", &arg])
            .current_dir(&stack.dir)
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROJECT_NAME")
            .env_remove("COMPOSE_PROFILES")
            .env("DOCKER_HOST", self.e.host())
            .env("BERTH_NO_AUTOSTART", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn berth build");
        // Every line of the build with the seconds since it began (shown by --nocapture), so a
        // slow step is easy to find.
        let stderr = child.stderr.take().expect("piped stderr");
        let errors = std::thread::spawn(move || {
            BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<_>>()
        });
        for line in BufReader::new(child.stdout.take().expect("piped stdout"))
            .lines()
            .map_while(Result::ok)
        {
            eprintln!("[{:6.1}s] {line}", t.elapsed().as_secs_f64());
        }
        let status = child.wait().expect("wait for berth build");
        let errors = errors.join().expect("stderr reader").join("\n");
        assert!(
            status.success(),
            "berth build in {}: {status}\n{errors}\n--- engine log\n{}",
            stack.dir.display(),
            self.e.log()
        );
        self.timings.borrow_mut().push(("build", t.elapsed()));
    }

    /// `berth up -d --wait` of the stack; timed (the first call is recorded as `up --wait`).
    pub fn up(&self, stack: &Stack<'_>) {
        let t = Instant::now();
        stack.ok(&["up", "-d", "--wait"]);
        let label = if self.timings.borrow().iter().any(|(l, _)| *l == "up --wait") {
            "up --wait again"
        } else {
            "up --wait"
        };
        self.timings.borrow_mut().push((label, t.elapsed()));
    }

    /// Runs `step`, recording how long it took under `label`.
    pub fn timed<T>(&self, label: &'static str, step: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let out = step();
        self.timings.borrow_mut().push((label, t.elapsed()));
        out
    }

    /// Prints the timings (`--nocapture` shows them) once the checks passed.
    pub fn finish(self) {
        let mut line = format!("example {}:", self.name);
        for (label, d) in self.timings.borrow().iter() {
            line.push_str(&format!(" {label} {:.1}s,", d.as_secs_f64()));
        }
        line.push_str(&format!(
            " total {:.1}s",
            self.started.elapsed().as_secs_f64()
        ));
        eprintln!("{line}");
    }
}

/// A compose project directory driven through `berth` against one engine; `berth down -v
/// --remove-orphans` when dropped.
pub struct Stack<'a> {
    e: &'a Engine,
    dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Stack<'_> {
    /// Runs `berth ARGS` in the project directory.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut b = self.e.berth(&self.dir);
        for (k, v) in &self.env {
            b = b.env(k, v);
        }
        b.arg_list(args).output()
    }

    /// Runs `berth ARGS`, asserts success (printing the engine log otherwise; the containers'
    /// state and logs follow from the drop guard), returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "berth {args:?} in {}:\n{}\n--- engine log\n{}",
            self.dir.display(),
            show(&out),
            self.e.log()
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// What a failed check needs to be understood: every container's state, exit code and
    /// last health-check results, and the last lines of its log.
    pub fn diagnostics(&self) -> String {
        let ps = self.run(&["ps", "-a", "-q"]);
        let mut text = format!("--- berth ps -a\n{}", show(&self.run(&["ps", "-a"])));
        for id in String::from_utf8_lossy(&ps.stdout).split_whitespace() {
            let state = self.e.docker(&[
                "inspect",
                "-f",
                "{{.Name}} {{.State.Status}} exit {{.State.ExitCode}} restarts {{.RestartCount}} \
                 health {{json .State.Health}}",
                id,
            ]);
            let logs = self.e.docker(&["logs", "--tail", "80", id]);
            text.push_str(&format!(
                "\n--- container {id}\n{}\n{}",
                show(&state),
                show(&logs)
            ));
        }
        text
    }

    /// `berth exec SERVICE mariadb -uroot -pPASSWORD -NB -e SQL`: (success, trimmed stdout).
    pub fn sql(&self, service: &str, password: &str, sql: &str) -> (bool, String) {
        let pw = format!("-p{password}");
        let out = self.run(&["exec", service, "mariadb", "-uroot", &pw, "-NB", "-e", sql]);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        )
    }
}

impl Drop for Stack<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // A check failed: its containers say why, before `down` removes them.
            eprintln!("{}", self.diagnostics());
        }
        let _ = self.run(&["down", "-v", "--remove-orphans"]);
    }
}

/// Polls `check` every 250 ms for up to `limit`; false when it never held.
pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// `cmd ARGS` run in the engine's network namespace (where its published ports are): returns
/// the raw output.
pub fn in_netns(e: &Engine, cmd: &str, args: &[&str]) -> Output {
    Command::new("nsenter")
        .arg(format!("--net=/proc/{}/ns/net", e.pid()))
        .arg("--")
        .arg(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("run {cmd} in the engine's network namespace: {err}"))
}

/// `curl -sS --max-time 10 ARGS` in the engine's network namespace: (success, stdout), or
/// (false, curl's error message) when it failed.
pub fn curl(e: &Engine, args: &[&str]) -> (bool, String) {
    let mut all = vec!["-sS", "--max-time", "10"];
    all.extend_from_slice(args);
    let out = in_netns(e, "curl", &all);
    let ok = out.status.success();
    let text = if ok { &out.stdout } else { &out.stderr };
    (ok, String::from_utf8_lossy(text).into_owned())
}
