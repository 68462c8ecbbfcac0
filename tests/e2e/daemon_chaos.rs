//! Chaos: the engine is killed with SIGKILL at a random point while `berth up -d` brings up a
//! 10-service compose project (a project network, a named volume, `depends_on`), in a loop.
//! After each restart nothing is leaked (mounts, shims, cgroups, bridges, veths, nftables
//! tables, processes), containers that ran keep running, and one `berth up -d` converges, with
//! a second one a no-op. A second loop does the same with the docker CLI on the default bridge.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::daemon_debris::{about, assert_no_debris, ids};
use crate::harness::{Engine, IMAGE};
use crate::util::{Project, show};

/// A command that runs until SIGTERM and then exits 0.
const SERVE: &str = r#"["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]"#;
const PROJECT: &str = "chaos";
const SERVICES: usize = 10;

/// A small xorshift generator seeded from the clock (the seed is printed, so a failing loop
/// can be replayed with `BERTH_CHAOS_SEED`).
struct Rng(u64);

impl Rng {
    fn new() -> Self {
        let seed = std::env::var("BERTH_CHAOS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("chaos seed: {seed} (BERTH_CHAOS_SEED replays it)");
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The project: `s1` holds the named volume, `s2`…`s10` depend on it; all on the project
/// network `back`. `marks[i]` is the `MARK` environment of service `i + 1`.
fn compose(marks: &[u64]) -> String {
    let mut out = format!("name: {PROJECT}\nservices:\n");
    for (i, mark) in marks.iter().enumerate() {
        let n = i + 1;
        out.push_str(&format!(
            "  s{n}:\n    image: {IMAGE}\n    command: {SERVE}\n    networks: [back]\n    environment:\n      MARK: \"{mark}\"\n"
        ));
        if n == 1 {
            out.push_str("    volumes: [data:/data]\n");
        } else {
            out.push_str("    depends_on: [s1]\n");
        }
    }
    out.push_str("networks:\n  back: {}\nvolumes:\n  data: {}\n");
    out
}

/// Container name → id of the project's containers.
fn containers(e: &Engine) -> BTreeMap<String, String> {
    e.ok(&[
        "ps",
        "-a",
        "--no-trunc",
        "--filter",
        &format!("label=com.docker.compose.project={PROJECT}"),
        "--format",
        "{{.Names}} {{.ID}}",
    ])
    .lines()
    .filter_map(|l| l.split_once(' '))
    .map(|(n, id)| (n.trim_start_matches('/').to_owned(), id.to_owned()))
    .collect()
}

/// `berth ARGS` against the engine, bounded so a hang fails instead of blocking the suite.
fn berth_cmd(e: &Engine, dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.args(["--kill-after=5", "120", env!("CARGO_BIN_EXE_berth")])
        .args(args)
        .current_dir(dir)
        .env_remove("COMPOSE_FILE")
        .env_remove("COMPOSE_PROJECT_NAME")
        .env_remove("COMPOSE_PROFILES")
        .env("DOCKER_HOST", e.host())
        .env("BERTH_NO_AUTOSTART", "1")
        .stdin(Stdio::null());
    cmd
}

/// Runs `berth ARGS`, asserting success (with the engine log on failure).
fn berth_ok(e: &Engine, dir: &Path, args: &[&str]) -> String {
    let out = berth_cmd(e, dir, args).output().expect("run berth");
    assert!(
        out.status.success(),
        "berth {args:?} failed:\n{}\n--- engine log (tail)\n{}",
        show(&out),
        tail(&e.log(), 60)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Asserts the whole project runs: 10 containers, named as compose names them, all running and
/// listed by `berth ps`.
fn assert_converged(e: &Engine, dir: &Path, l: usize) -> BTreeMap<String, String> {
    let all = containers(e);
    let want: BTreeSet<String> = (1..=SERVICES)
        .map(|i| format!("{PROJECT}-s{i}-1"))
        .collect();
    let names: BTreeSet<String> = all.keys().cloned().collect();
    assert_eq!(names, want, "loop {l}: the project's containers");
    let running = ids(e, "-q");
    for (name, id) in &all {
        assert!(running.contains(id), "loop {l}: {name} is not running");
    }
    let services: BTreeSet<String> = berth_ok(e, dir, &["ps", "--services", "--status", "running"])
        .lines()
        .map(str::to_owned)
        .collect();
    let want: BTreeSet<String> = (1..=SERVICES).map(|i| format!("s{i}")).collect();
    assert_eq!(services, want, "loop {l}: berth ps --services");
    all
}

#[test]
fn daemon_chaos_sigkill_during_compose_up() {
    let mut e = Engine::start("chaos_up");
    let p = Project::new();
    let dir = p.path().to_owned();
    let mut rng = Rng::new();
    let mut marks = vec![0u64; SERVICES];
    p.file("compose.yaml", &compose(&marks));
    let first = Instant::now();
    berth_ok(&e, &dir, &["up", "-d", "--progress", "quiet"]);
    // The kill lands at a random point of the `up`: within the duration of the last `up` of
    // the same kind that ran to its end (from scratch, or recreating some services).
    let mut window = [first.elapsed().as_millis() as u64 + 100; 2];
    assert_converged(&e, &dir, 0);
    let loops = 20;
    let started = Instant::now();
    let (mut kept_running, mut during_up, mut up_times) = (0, 0, Vec::new());
    for l in 0..loops {
        // The work: down (then everything is created again: network, volume, containers), down
        // with volumes, or a new environment for some services (they are recreated).
        let mut replaced = BTreeSet::new();
        let work = ["down", "recreate", "down -v", "recreate"][l % 4];
        match l % 4 {
            0 => {
                berth_ok(&e, &dir, &["down", "-t", "1", "--progress", "quiet"]);
            }
            2 => {
                berth_ok(&e, &dir, &["down", "-v", "-t", "1", "--progress", "quiet"]);
            }
            _ => {
                let old = containers(&e);
                let bits = rng.next();
                for (i, mark) in marks.iter_mut().enumerate() {
                    if bits >> i & 1 == 1 {
                        *mark += 1;
                        if let Some(id) = old.get(&format!("{PROJECT}-s{}-1", i + 1)) {
                            replaced.insert(id.clone());
                        }
                    }
                }
                p.file("compose.yaml", &compose(&marks));
            }
        }
        let kind = l % 2;
        let delay = Duration::from_millis(rng.next() % window[kind]);
        let mut up = berth_cmd(&e, &dir, &["up", "-d", "--progress", "quiet"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn berth up");
        let t0 = Instant::now();
        while t0.elapsed() < delay {
            if up.try_wait().expect("poll berth up").is_some() {
                window[kind] = t0.elapsed().as_millis() as u64 + 50;
                std::thread::sleep(delay.saturating_sub(t0.elapsed()));
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let before = ids(&e, "-q");
        let up_running = up.try_wait().expect("poll berth up").is_none();
        e.kill_engine(libc::SIGKILL);
        let _ = up.wait();
        if up_running {
            during_up += 1;
        }
        e.respawn();
        let after = ids(&e, "-q");
        let exist = ids(&e, "-aq");
        // `up` stops the containers it replaces; every other one that ran still runs.
        let lost: Vec<&String> = before
            .iter()
            .filter(|id| exist.contains(*id) && !after.contains(*id) && !replaced.contains(*id))
            .collect();
        let lost: Vec<String> = lost
            .into_iter()
            .map(|id| format!("{id}: {}", about(&e, id)))
            .collect();
        assert!(
            lost.is_empty(),
            "loop {l}: running containers lost across SIGKILL: {lost:#?}\n{}",
            tail(&e.log(), 80)
        );
        kept_running += before.iter().filter(|id| after.contains(*id)).count();
        // The exit watchers of half-started containers settle within a few ticks.
        std::thread::sleep(Duration::from_millis(300));
        assert_no_debris(&e, l);
        let t = Instant::now();
        berth_ok(&e, &dir, &["up", "-d", "--progress", "quiet"]);
        up_times.push(t.elapsed());
        eprintln!(
            "loop {l:2}: {work:8} kill after {delay:>6.0?} ({}), {} of {} running kept, \
             converging up {:.2?}",
            if up_running { "during up" } else { "after up" },
            before.iter().filter(|id| after.contains(*id)).count(),
            before.len(),
            t.elapsed()
        );
        let converged = assert_converged(&e, &dir, l);
        berth_ok(&e, &dir, &["up", "-d", "--progress", "quiet"]);
        assert_eq!(
            containers(&e),
            converged,
            "loop {l}: a second up recreated something"
        );
        let dry = berth_ok(&e, &dir, &["up", "-d", "--dry-run"]);
        assert_eq!(dry.trim(), "", "loop {l}: the no-op plan is not empty");
        for (i, mark) in marks.iter().enumerate() {
            let env = e.ok(&[
                "inspect",
                "-f",
                "{{json .Config.Env}}",
                &format!("{PROJECT}-s{}-1", i + 1),
            ]);
            assert!(env.contains(&format!("MARK={mark}")), "loop {l}: {env}");
        }
        assert_no_debris(&e, l);
    }
    let total: Duration = up_times.iter().sum();
    let max = up_times.iter().max().copied().unwrap_or_default();
    eprintln!(
        "chaos up: {loops} SIGKILL loops of `berth up -d` (10 services, network, volume) in {:?}; \
         {during_up} kills landed while up ran; {kept_running} running \
         containers kept across kills; converging up took {:?} on average, {max:?} at most",
        started.elapsed(),
        total / loops as u32
    );
    berth_ok(&e, &dir, &["down", "-v", "-t", "1", "--progress", "quiet"]);
}

/// Brings the 10-container stack to "all running", whatever state a crash left it in.
fn converge(e: &Engine, names: &[String]) {
    let listed = e.ok(&["ps", "-a", "--format", "{{.Names}} {{.State}}"]);
    let state = |n: &str| {
        listed
            .lines()
            .find_map(|l| l.strip_prefix(n)?.strip_prefix(' '))
            .map(str::to_owned)
    };
    let mut start = vec!["start"];
    for n in names {
        match state(n).as_deref() {
            None => {
                e.ok(&["run", "-d", "--name", n, IMAGE, "sleep", "1000"]);
            }
            Some("running") => {}
            Some(_) => start.push(n),
        }
    }
    if start.len() > 1 {
        e.ok(&start);
    }
}

/// The same with the docker CLI on the default bridge: `rm -f` and `run -d` of 10 containers.
#[test]
fn daemon_chaos_sigkill_during_docker_run() {
    let mut e = Engine::start("chaos");
    let names: Vec<String> = (0..10).map(|i| format!("chaos-{i}")).collect();
    let loops = 10;
    let started = Instant::now();
    let mut rng = Rng::new();
    let mut kept_running = 0;
    for l in 0..loops {
        let delay = Duration::from_millis(rng.next() % 1000);
        let host = e.host();
        let config = e.scratch().join("docker-config");
        let names_bg = names.clone();
        let worker = std::thread::spawn(move || {
            let docker = |args: &[&str]| {
                let _ = Command::new("timeout")
                    .args(["20", "docker", "-H", &host])
                    .args(args)
                    .env("DOCKER_CONFIG", &config)
                    .stdin(Stdio::null())
                    .output();
            };
            let mut rm = vec!["rm", "-f"];
            rm.extend(names_bg.iter().map(String::as_str));
            docker(&rm);
            for n in &names_bg {
                docker(&["run", "-d", "--name", n, IMAGE, "sleep", "1000"]);
            }
        });
        std::thread::sleep(delay);
        let before: BTreeSet<String> = {
            let out = e.docker(&["ps", "-q", "--no-trunc"]);
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_owned)
                .collect()
        };
        e.kill_engine(libc::SIGKILL);
        worker.join().unwrap();
        e.respawn();
        let after = ids(&e, "-q");
        let exist = ids(&e, "-aq");
        // A container the worker removed (or was killing with `rm -f`, exit 137) between the
        // listing and the kill is not lost.
        let lost: Vec<&String> = before
            .iter()
            .filter(|id| exist.contains(*id) && !after.contains(*id))
            .filter(|id| e.ok(&["inspect", "-f", "{{.State.ExitCode}}", id]) != "137")
            .collect();
        assert!(
            lost.is_empty(),
            "loop {l}: running containers lost across SIGKILL: {lost:?}"
        );
        kept_running += before.len();
        std::thread::sleep(Duration::from_millis(300));
        assert_no_debris(&e, l);
        converge(&e, &names);
        let running = e.ok(&["ps", "-q"]).lines().count();
        assert_eq!(running, names.len(), "loop {l}: stack did not converge");
        assert_no_debris(&e, l);
    }
    eprintln!(
        "chaos docker: {loops} SIGKILL loops of a 10-container stack in {:?}; {kept_running} running containers kept across kills; converged every time",
        started.elapsed()
    );
}

/// A network create cut short between the network's save and its metadata's (simulated by
/// dropping the metadata while the engine is down) is removed on restart with its bridge and
/// nftables table: the network list stays readable and the name can be created again.
#[test]
fn daemon_restart_removes_a_network_whose_create_was_cut_short() {
    let mut e = Engine::start("net_cut");
    let id = e.ok(&["network", "create", "cut"]);
    let meta = e.data_root().join("networks/meta.json");
    e.kill_and_restart(|| {
        let mut m: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
        assert!(m.remove(&id).is_some(), "{id} has metadata");
        std::fs::write(&meta, serde_json::to_vec(&m).unwrap()).unwrap();
    });
    let names = e.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!names.lines().any(|n| n == "cut"), "{names}");
    assert_no_debris(&e, 0);
    e.ok(&["network", "create", "cut"]);
    e.ok(&["network", "rm", "cut"]);
}
