//! Interactive containers and stats end to end, with the docker CLI and with `berth`: stdin
//! piped into `run -i`, `run -it` and `exec -it` through a real pseudo-terminal opened here
//! (the terminal's size reaches the container and follows a resize), exit codes, `--rm`, and
//! `stats --no-stream`. Needs root.

use std::io::{Read as _, Write as _};
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::{Engine, IMAGE};
use crate::util::show;

/// How long any one expected output may take before the test fails (a bound, not a
/// measurement: it only keeps a broken session from hanging the suite).
const PATIENCE: Duration = Duration::from_secs(60);

/// A process on the slave side of a pseudo-terminal this test owns; killed on drop.
struct PtySession {
    master: std::fs::File,
    seen: Arc<Mutex<Vec<u8>>>,
    child: Child,
}

impl PtySession {
    /// Starts `cmd` with a new terminal of `rows`×`cols` as its stdin, stdout and stderr.
    fn spawn(mut cmd: Command, rows: u16, cols: u16) -> Self {
        let (mut master, mut slave) = (0, 0);
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty writes two descriptors through live pointers and reads `ws`.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &ws,
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: openpty just returned these descriptors; nothing else owns them.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let dup = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup pty"));
        cmd.stdin(dup(&slave))
            .stdout(dup(&slave))
            .stderr(dup(&slave));
        let child = cmd.spawn().expect("spawn on the pty");
        drop(slave);
        let master = std::fs::File::from(master);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().expect("dup master");
        let sink = Arc::clone(&seen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // EIO once the last slave holder is gone.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Self {
            master,
            seen,
            child,
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().unwrap()).into_owned()
    }

    fn send(&mut self, text: &str) {
        self.master
            .write_all(text.as_bytes())
            .expect("write to the pty");
    }

    /// Waits until the output contains `needle`, sending `nudge` (if any) every few tenths
    /// of a second meanwhile.
    fn expect(&mut self, needle: &str, nudge: Option<&str>) {
        let start = Instant::now();
        let mut last_nudge = Instant::now() - Duration::from_secs(1);
        while !self.text().contains(needle) {
            if let Some(status) = self.child.try_wait().expect("poll the client") {
                panic!(
                    "the client exited ({status}) before printing {needle:?}:\n{}",
                    self.text()
                );
            }
            assert!(
                start.elapsed() < PATIENCE,
                "no {needle:?} in the terminal output:\n{}",
                self.text()
            );
            if let Some(n) = nudge {
                if last_nudge.elapsed() > Duration::from_millis(300) {
                    self.send(n);
                    last_nudge = Instant::now();
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Resizes the terminal and tells the client (`SIGWINCH`) until `stty size` in the
    /// container shows the new size. The signal is repeated: the client installs its handler
    /// only once the container has started, and a `SIGWINCH` before that is ignored (the
    /// container's terminal starts at the client's size, so the shell may already be up).
    fn resize_until_seen(&mut self, rows: u16, cols: u16) {
        let want = format!("{rows} {cols}");
        let start = Instant::now();
        while !self.text().contains(&want) {
            assert!(
                start.elapsed() < PATIENCE,
                "no {want:?} in the terminal output:\n{}",
                self.text()
            );
            self.resize(rows, cols);
            self.send("stty size\n");
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Resizes the terminal and tells the client (`SIGWINCH`), as a terminal emulator does.
    fn resize(&mut self, rows: u16, cols: u16) {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize from a live pointer; the master is open.
        let rc = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        assert_eq!(rc, 0, "resize: {}", std::io::Error::last_os_error());
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGWINCH) };
    }

    /// Waits for the client to exit and returns its exit code.
    fn exit_code(&mut self) -> i32 {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the client") {
                return status.code().unwrap_or(-1);
            }
            assert!(
                start.elapsed() < PATIENCE,
                "the client did not exit:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for PtySession {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn docker_cmd(e: &Engine, args: &[&str]) -> Command {
    let mut cmd = Command::new("docker");
    cmd.arg("-H")
        .arg(e.host())
        .args(args)
        .env_remove("DOCKER_HOST")
        .env("DOCKER_CONFIG", e.scratch().join("docker-config"));
    cmd
}

fn berth_cmd(e: &Engine, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.args(args)
        .current_dir(e.scratch())
        .env("DOCKER_HOST", e.host())
        .env("BERTH_NO_AUTOSTART", "1");
    cmd
}

fn gone(e: &Engine, name: &str) {
    let left = e.ok(&["ps", "-aq", "--filter", &format!("name={name}")]);
    assert!(left.is_empty(), "container {name} was not removed: {left}");
}

/// Pipes `script` into `cmd` and returns (stdout, stderr, exit code).
fn piped(mut cmd: Command, script: &str) -> (String, String, i32) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the client");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("client output");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

#[test]
fn interactive_docker_run_i_reads_stdin_and_exits_with_its_code() {
    let e = Engine::start("it-stdin");
    let cmd = docker_cmd(&e, &["run", "--rm", "-i", "--name", "itstdin", IMAGE, "sh"]);
    let (out, err, code) = piped(cmd, "echo hello from stdin\necho oops >&2\nexit 7\n");
    assert_eq!(code, 7, "stdout: {out}\nstderr: {err}\n{}", e.log());
    assert_eq!(out, "hello from stdin\n");
    assert_eq!(err, "oops\n");
    gone(&e, "itstdin");
}

#[test]
fn interactive_docker_run_it_through_a_pty_resizes_and_propagates_the_exit() {
    let e = Engine::start("it-pty");
    let cmd = docker_cmd(&e, &["run", "--rm", "-it", "--name", "itpty", IMAGE, "sh"]);
    let mut s = PtySession::spawn(cmd, 33, 111);
    // Input typed before the client switches its terminal to raw mode may be discarded by that
    // switch (as with any terminal program), so the first command is repeated until it shows.
    s.send("tty; stty size\n");
    s.expect("/dev/pts/0", Some("tty; stty size\n"));
    // The terminal has the client's size before the shell starts (`ConsoleSize`): the first
    // `stty size` already reads it, and never fails on a 0x0 terminal.
    s.expect("33 111", None);
    assert!(!s.text().contains("stty: standard input"), "{}", s.text());
    s.resize_until_seen(44, 132);
    s.send("exit 3\n");
    assert_eq!(s.exit_code(), 3, "{}", s.text());
    gone(&e, "itpty");
}

#[test]
fn interactive_docker_exec_it_gets_a_terminal() {
    let e = Engine::start("it-exec");
    e.ok(&["run", "-d", "--name", "itexec", IMAGE, "sleep", "300"]);
    let cmd = docker_cmd(&e, &["exec", "-it", "itexec", "sh"]);
    let mut s = PtySession::spawn(cmd, 25, 90);
    s.send("tty; stty size\n");
    s.expect("/dev/pts/", Some("tty; stty size\n"));
    s.expect("25 90", Some("stty size\n"));
    s.send("exit 4\n");
    assert_eq!(s.exit_code(), 4, "{}", s.text());
    let running = e.ok(&["inspect", "-f", "{{.State.Running}}", "itexec"]);
    assert_eq!(running, "true");
}

#[test]
fn interactive_docker_stats_no_stream_shows_memory_in_use() {
    let e = Engine::start("it-stats");
    e.ok(&["run", "-d", "--name", "itstats", IMAGE, "sleep", "300"]);
    let out = e.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}}|{{.MemUsage}}|{{.PIDs}}",
    ]);
    let line = out
        .lines()
        .find(|l| l.starts_with("itstats|"))
        .unwrap_or_else(|| panic!("itstats missing from docker stats:\n{out}"));
    let fields: Vec<&str> = line.split('|').collect();
    assert!(!fields[1].starts_with("0B "), "no memory in use: {line}");
    assert_eq!(fields[2], "1", "{line}");
    let berth = berth_cmd(
        &e,
        &[
            "container",
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}}|{{.MemUsage}}",
        ],
    )
    .output()
    .expect("berth container stats");
    assert!(berth.status.success(), "{}", show(&berth));
    let text = String::from_utf8_lossy(&berth.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("itstats|"))
        .unwrap_or_else(|| panic!("itstats missing from berth stats:\n{text}"));
    assert!(!line.contains("|0B /"), "no memory in use: {line}");
}

#[test]
fn interactive_berth_run_it_and_exec_it_through_a_pty() {
    let e = Engine::start("it-berth");
    let cmd = berth_cmd(
        &e,
        &[
            "container",
            "run",
            "--rm",
            "-it",
            "--name",
            "bpty",
            IMAGE,
            "sh",
        ],
    );
    let mut s = PtySession::spawn(cmd, 30, 100);
    s.send("tty; stty size\n");
    s.expect("/dev/pts/0", None);
    s.expect("30 100", None);
    s.resize_until_seen(31, 101);
    s.send("exit 5\n");
    assert_eq!(s.exit_code(), 5, "{}", s.text());
    gone(&e, "bpty");

    e.ok(&["run", "-d", "--name", "bexec", IMAGE, "sleep", "300"]);
    let cmd = berth_cmd(&e, &["container", "exec", "-it", "bexec", "sh"]);
    let mut s = PtySession::spawn(cmd, 20, 70);
    s.send("tty\n");
    s.expect("/dev/pts/", None);
    s.expect("20 70", Some("stty size\n"));
    s.send("exit 6\n");
    assert_eq!(s.exit_code(), 6, "{}", s.text());

    let cmd = berth_cmd(&e, &["container", "run", "--rm", "-i", IMAGE, "sh"]);
    let (out, err, code) = piped(cmd, "echo piped\nexit 9\n");
    assert_eq!((out.as_str(), code), ("piped\n", 9), "stderr: {err}");
}

/// The shim owns an interactive container's stdin: after the engine is killed and restarted,
/// a new attach still reaches it.
#[test]
fn interactive_stdin_survives_an_engine_crash() {
    let mut e = Engine::start("it-crash");
    e.ok(&[
        "run",
        "-d",
        "-i",
        "--name",
        "itcrash",
        IMAGE,
        "sh",
        "-c",
        "read line; echo got $line; read again; echo then $again",
    ]);
    e.crash_and_restart();
    let mut attach = docker_cmd(&e, &["attach", "itcrash"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker attach");
    let mut stdin = attach.stdin.take().expect("stdin");
    stdin.write_all(b"one\ntwo\n").expect("write");
    drop(stdin);
    let out = attach.wait_with_output().expect("attach output");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("got one") && text.contains("then two"),
        "{}\n{}",
        show(&out),
        e.log()
    );
    let code = e.ok(&["wait", "itcrash"]);
    assert_eq!(code, "0");
}

#[test]
fn interactive_compose_stats_and_attach_to_a_service() {
    let e = Engine::start("it-compose");
    let p = crate::util::Project::new();
    p.file(
        "compose.yaml",
        &format!(
            "name: itcompose\nservices:\n  echo:\n    image: {IMAGE}\n    network_mode: none\n    stdin_open: true\n    command: [\"sh\", \"-c\", \"head -n 1 | sed s/^/said/; exit 2\"]\n"
        ),
    );
    e.berth(p.path())
        .args(["up", "-d", "--progress", "quiet"])
        .ok();
    let stats = e
        .berth(p.path())
        .args(["stats", "--no-stream", "--format", "{{.Name}}|{{.PIDs}}"])
        .ok();
    assert!(stats.contains("itcompose-echo-1|"), "{stats}");
    let out = e
        .berth(p.path())
        .args(["attach", "echo"])
        .stdin("hello\n")
        .output();
    assert_eq!(out.status.code(), Some(2), "{}\n{}", show(&out), e.log());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("saidhello"),
        "{}",
        show(&out)
    );
    e.berth(p.path()).args(["down", "--progress", "quiet"]).ok();
}
