//! The example stacks of `examples/` end to end on a real engine: each test bootstraps (or reuses)
//! the Debian base image, copies its example to a scratch directory, runs `berth up --wait`
//! (which builds the images), checks what the example promises, and ends with `berth down -v`.
//! Needs root, debootstrap and the Debian mirror (the images install Debian packages); the base
//! tree is cached under `/var/cache/berth-test/bootstrap`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{Engine, require_root};
use crate::util::{repo_root, show};

/// The base image every example's Dockerfiles start `FROM`.
const BASE: &str = "berth/debian:bookworm";

/// An engine holding the Debian base image.
fn engine_with_base(test: &str) -> Engine {
    require_root();
    let e = Engine::start(test);
    e.berth(e.scratch())
        .arg_list(&[
            "image",
            "bootstrap",
            BASE,
            "--variant",
            "minbase",
            "--cache-dir",
            "/var/cache/berth-test/bootstrap",
        ])
        .ok();
    e
}

/// Copies `examples/<name>` into the engine's scratch directory (the tests never write into the
/// repository) and returns the copy.
fn example(e: &Engine, name: &str) -> PathBuf {
    let dest = e.scratch().join(name);
    let status = Command::new("cp")
        .arg("-a")
        .arg(repo_root().join("examples").join(name))
        .arg(&dest)
        .status()
        .expect("cp");
    assert!(status.success(), "copying examples/{name}");
    dest
}

/// A free TCP port on the loopback address.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

/// Polls `check` every 250 ms for up to `limit`; false when it never held.
fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
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

/// `curl` with its arguments; returns (success, stdout).
fn curl(args: &[&str]) -> (bool, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("run curl (apt-get install curl)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// A compose project in `dir` driven through `berth` against `e`.
struct Stack<'a> {
    e: &'a Engine,
    dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Stack<'_> {
    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut b = self.e.berth(&self.dir);
        for (k, v) in &self.env {
            b = b.env(k, v);
        }
        b.arg_list(args).output()
    }

    fn ok(&self, args: &[&str]) -> String {
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

    /// `berth up -d --wait`, reporting how long it took.
    fn up(&self) {
        let start = Instant::now();
        self.ok(&["up", "-d", "--wait"]);
        eprintln!(
            "{}: up --wait took {:.1}s",
            self.dir.display(),
            start.elapsed().as_secs_f64()
        );
    }
}

impl Drop for Stack<'_> {
    fn drop(&mut self) {
        let _ = self.run(&["down", "-v", "--remove-orphans"]);
    }
}

fn stack<'a>(e: &'a Engine, dir: &Path, env: &[(&str, String)]) -> Stack<'a> {
    Stack {
        e,
        dir: dir.to_path_buf(),
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    }
}

#[test]
fn example_redis_replicates() {
    let e = engine_with_base("ex_redis");
    let dir = example(&e, "redis");
    let s = stack(&e, &dir, &[]);
    s.up();
    s.ok(&["exec", "primary", "redis-cli", "set", "berth-e2e", "replicated"]);
    assert!(
        eventually(Duration::from_secs(20), || {
            s.run(&["exec", "replica", "redis-cli", "get", "berth-e2e"])
                .stdout
                .starts_with(b"replicated")
        }),
        "the replica never saw the key"
    );
    s.ok(&["down", "-v"]);
}

#[test]
fn example_lb_spreads_over_three_replicas() {
    let e = engine_with_base("ex_lb");
    let dir = example(&e, "lb");
    let port = free_port().to_string();
    let s = stack(&e, &dir, &[("LB_PORT", port.clone())]);
    s.up();
    let url = format!("http://127.0.0.1:{port}/");
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..30 {
        let (ok, body) = curl(&[&url]);
        assert!(ok, "request through nginx failed");
        seen.insert(body.trim().to_owned());
    }
    assert_eq!(seen.len(), 3, "30 requests reached {seen:?}");
    s.ok(&["down", "-v"]);
}

fn wp_install(base: &str) {
    let (ok, page) = curl(&[&format!("{base}/wp-admin/install.php")]);
    assert!(ok && page.contains("WordPress"), "installer page: {page}");
    let (ok, page) = curl(&[
        "-X",
        "POST",
        &format!("{base}/wp-admin/install.php?step=2"),
        "--data-urlencode",
        "weblog_title=berth e2e",
        "--data-urlencode",
        "user_name=admin",
        "--data-urlencode",
        "admin_password=Berth-e2e-1",
        "--data-urlencode",
        "admin_password2=Berth-e2e-1",
        "--data-urlencode",
        "pw_weak=on",
        "--data-urlencode",
        "admin_email=admin@example.invalid",
        "--data-urlencode",
        "blog_public=0",
    ]);
    assert!(ok && page.contains("Success"), "install: {page}");
}

fn wp_post(base: &str, title: &str) {
    let body = format!(
        "<?xml version=\"1.0\"?><methodCall><methodName>wp.newPost</methodName><params>\
         <param><value><int>1</int></value></param>\
         <param><value><string>admin</string></value></param>\
         <param><value><string>Berth-e2e-1</string></value></param>\
         <param><value><struct>\
         <member><name>post_title</name><value><string>{title}</string></value></member>\
         <member><name>post_content</name><value><string>e2e</string></value></member>\
         <member><name>post_status</name><value><string>publish</string></value></member>\
         </struct></value></param></params></methodCall>"
    );
    let (ok, reply) = curl(&[
        "-H",
        "Content-Type: text/xml",
        "--data-binary",
        &body,
        &format!("{base}/xmlrpc.php"),
    ]);
    assert!(ok && !reply.contains("fault"), "xmlrpc: {reply}");
}

#[test]
fn example_wordpress_installs_keeps_posts_and_restarts_the_db() {
    let e = engine_with_base("ex_wordpress");
    let dir = example(&e, "wordpress");
    let port = free_port().to_string();
    let s = stack(&e, &dir, &[("WORDPRESS_PORT", port.clone())]);
    s.up();
    let base = format!("http://127.0.0.1:{port}");
    wp_install(&base);
    wp_post(&base, "Survives down and up");
    s.ok(&["down"]);
    s.up();
    let (ok, home) = curl(&[&format!("{base}/")]);
    assert!(ok && home.contains("Survives down and up"), "home: {home}");
    // Kill the database's main process: `restart: always` brings it back.
    let db = s.ok(&["ps", "-q", "db"]);
    let pid = e.ok(&["inspect", "-f", "{{.State.Pid}}", &db]);
    let status = Command::new("kill").args(["-9", &pid]).status().expect("kill");
    assert!(status.success());
    assert!(
        eventually(Duration::from_secs(90), || {
            e.ok(&["inspect", "-f", "{{.RestartCount}}", &db]) != "0"
                && curl(&[&format!("{base}/")]).1.contains("Survives down and up")
        }),
        "the database was not restarted by policy, or the site did not answer again"
    );
    s.ok(&["down", "-v"]);
}

#[test]
fn example_pxc_serves_through_haproxy_and_rejoins() {
    let e = engine_with_base("ex_pxc");
    let dir = example(&e, "pxc");
    let stats = free_port().to_string();
    let mysql = free_port().to_string();
    let s = stack(
        &e,
        &dir,
        &[("PXC_STATS_PORT", stats.clone()), ("PXC_MYSQL_PORT", mysql.clone())],
    );
    s.up();
    let via_haproxy = |sql: &str| {
        Command::new("mariadb")
            .args(["-h", "127.0.0.1", "-P", &mysql, "-uroot", "-pabc123456", "-NB", "-e", sql])
            .output()
            .expect("run the mariadb client (apt-get install mariadb-client)")
    };
    let out = via_haproxy(
        "CREATE DATABASE e2e; CREATE TABLE e2e.t (id INT PRIMARY KEY); INSERT INTO e2e.t VALUES (1),(2)",
    );
    assert!(out.status.success(), "{}", show(&out));
    for node in ["node1", "node2", "node3"] {
        let n = s.ok(&[
            "exec", node, "mariadb", "-uroot", "-pabc123456", "-NB", "-e",
            "SELECT COUNT(*) FROM e2e.t",
        ]);
        assert_eq!(n, "2", "{node}");
    }
    s.ok(&["stop", "node1"]);
    for i in 3..9 {
        let out = via_haproxy(&format!("INSERT INTO e2e.t VALUES ({i})"));
        assert!(out.status.success(), "haproxy stopped serving: {}", show(&out));
    }
    let stats_url = format!("http://127.0.0.1:{stats}/dbs;csv");
    assert!(
        eventually(Duration::from_secs(15), || {
            let (_, csv) = curl(&["-u", "admin:abc123456", &stats_url]);
            csv.lines()
                .any(|l| l.starts_with("proxy-mysql,MySQL_1,") && l.contains(",DOWN,"))
        }),
        "the stats page never showed MySQL_1 down"
    );
    s.ok(&["start", "node1"]);
    assert!(
        eventually(Duration::from_secs(120), || {
            s.run(&[
                "exec", "node1", "mariadb", "-uroot", "-pabc123456", "-NB", "-e",
                "SELECT COUNT(*) FROM e2e.t",
            ])
            .stdout
            .starts_with(b"8")
        }),
        "node1 did not rejoin with the rows written while it was down"
    );
    s.ok(&["down", "-v"]);
}
