//! A local registry from Debian's `docker-registry` package for the push/pull tests, run inside
//! an engine's network namespace (each test engine, berth's or dockerd, has its own) on 127.0.0.1:5000, with its own
//! config and storage (optionally htpasswd basic auth); killed in `Drop`. [`Registry::share`]
//! serves the same storage inside another engine's namespace, so an image pushed from one
//! engine can be pulled by a fresh one under the same name. [`Registry::start_with`] takes a
//! [`Config`]: another listen address, TLS, or bearer-token auth.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use crate::dockerd::Target;

/// The registry binary of Debian's `docker-registry` package.
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
/// Where the registry listens inside each engine's network namespace.
pub const ADDR: &str = "127.0.0.1:5000";

/// How a registry is set up beyond its storage.
#[derive(Debug, Default)]
pub struct Config<'a> {
    /// Listen address (default [`ADDR`]).
    pub addr: Option<&'a str>,
    /// htpasswd basic auth with this user and password.
    pub user: Option<(&'a str, &'a str)>,
    /// Serve TLS with this certificate and key (PEM files).
    pub tls: Option<(&'a Path, &'a Path)>,
    /// Token auth: (realm URL, service, issuer, PEM bundle of the token signing root).
    pub token: Option<(&'a str, &'a str, &'a str, &'a Path)>,
}

/// Adds `ip`/32 to the loopback device of `engine`'s network namespace (gone with the engine),
/// so a registry can listen on an address that is not loopback.
pub fn add_address(engine: &impl Target, ip: &str) {
    let out = Command::new("nsenter")
        .arg(format!("--net=/proc/{}/ns/net", engine.pid()))
        .args(["ip", "addr", "add", &format!("{ip}/32"), "dev", "lo"])
        .output()
        .expect("run nsenter ip addr add");
    assert!(
        out.status.success(),
        "ip addr add {ip}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A running registry; stopped (and its storage removed, with the last user) when dropped.
pub struct Registry {
    child: Child,
    dir: Arc<tempfile::TempDir>,
    log: PathBuf,
    /// `127.0.0.1:5000` (or the configured address), as image references name it.
    pub addr: String,
}

impl Registry {
    /// Starts a registry in `engine`'s network namespace; with `user` it requires that user
    /// name and password (basic auth).
    pub fn start(test: &str, engine: &impl Target, user: Option<(&str, &str)>) -> Registry {
        Self::start_with(
            test,
            engine,
            &Config {
                user,
                ..Config::default()
            },
        )
    }

    /// Starts a registry in `engine`'s network namespace as `cfg` says.
    pub fn start_with(test: &str, engine: &impl Target, cfg: &Config<'_>) -> Registry {
        let addr = cfg.addr.unwrap_or(ADDR);
        assert!(
            Path::new(REGISTRY_BIN).exists(),
            "these tests need {REGISTRY_BIN}: apt-get install docker-registry"
        );
        let dir = tempfile::Builder::new()
            .prefix(&format!("berth-registry-{test}-"))
            .tempdir()
            .expect("registry dir");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  \
             filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            dir.path().join("data").display()
        );
        if let Some((cert, key)) = cfg.tls {
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
        }
        if let Some((realm, service, issuer, bundle)) = cfg.token {
            config.push_str(&format!(
                "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    \
                 rootcertbundle: {}\n",
                bundle.display()
            ));
        }
        if let Some((name, password)) = cfg.user {
            let out = Command::new("htpasswd")
                .args(["-Bbn", name, password])
                .output()
                .expect("run htpasswd (apt-get install apache2-utils)");
            assert!(out.status.success(), "htpasswd failed");
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, &out.stdout).expect("write htpasswd");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                file.display()
            ));
        }
        std::fs::write(dir.path().join("config.yml"), config).expect("write registry config");
        Self::spawn(Arc::new(dir), engine, "first", addr)
    }

    /// Another registry process on the same storage and config, in `engine`'s namespace.
    pub fn share(&self, engine: &impl Target) -> Registry {
        Self::spawn(Arc::clone(&self.dir), engine, "shared", &self.addr)
    }

    fn spawn(
        dir: Arc<tempfile::TempDir>,
        engine: &impl Target,
        which: &str,
        addr: &str,
    ) -> Registry {
        let netns = format!("/proc/{}/ns/net", engine.pid());
        let log = dir
            .path()
            .join(format!("registry-{which}-{}.log", engine.pid()));
        let file = std::fs::File::create(&log).expect("registry log");
        let child = Command::new("nsenter")
            .arg(format!("--net={netns}"))
            .arg(REGISTRY_BIN)
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log fd"))
            .stderr(file)
            .spawn()
            .expect("spawn docker-registry");
        let mut reg = Registry {
            child,
            dir,
            log,
            addr: addr.to_owned(),
        };
        reg.wait_ready(&netns);
        reg
    }

    /// Polls the port from a thread that joined the engine's network namespace.
    fn wait_ready(&mut self, netns: &str) {
        let ns = std::fs::File::open(netns).expect("open the engine's netns");
        let addr = self.addr.clone();
        let probe = std::thread::spawn(move || {
            use std::os::fd::AsRawFd;
            // SAFETY: setns(2) on a valid namespace fd; it only moves this new thread, which
            // does nothing else, into the engine's network namespace.
            let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            (0..400).any(|_| {
                let up = TcpStream::connect(&addr).is_ok();
                if !up {
                    std::thread::sleep(std::time::Duration::from_millis(25));
                }
                up
            })
        });
        let up = probe.join().expect("probe thread");
        if let Some(status) = self.child.try_wait().expect("poll registry") {
            panic!("docker-registry exited with {status}:\n{}", self.log());
        }
        assert!(
            up,
            "docker-registry did not listen on {}:\n{}",
            self.addr,
            self.log()
        );
    }

    /// The registry's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
