//! Registry security end to end, against Debian's `docker-registry` inside the engine's network
//! namespace on a non-loopback address (198.18.0.x on its `lo`): TLS with a CA the test makes
//! (refused until the CA is in the engine's certs.d), plain HTTP refused until the registry is
//! listed in `insecure-registries`, and bearer-token auth with a token server the test runs.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;

use rcgen::{CertificateParams, KeyPair};

use super::registry::{Config, Registry, add_address};
use super::{marked_rootfs, run_cat};
use crate::harness::Engine;

/// A CA and a server certificate for `ip`, written as PEM files into `dir`.
fn make_tls(dir: &Path, ip: &str) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "berth e2e CA");
    let ca = ca_params.self_signed(&ca_key).expect("CA cert");
    let key = KeyPair::generate().expect("server key");
    let cert = CertificateParams::new(vec![ip.to_owned()])
        .expect("server params")
        .signed_by(&key, &ca, &ca_key)
        .expect("server cert");
    let (cert_path, key_path) = (dir.join("server.crt"), dir.join("server.key"));
    std::fs::write(&cert_path, cert.pem()).expect("write cert");
    std::fs::write(&key_path, key.serialize_pem()).expect("write key");
    (cert_path, key_path, ca.pem())
}

/// Imports a marked busybox rootfs as `name` in `e` and pushes it with `berth image push`,
/// returning the command's result (stdout on success, stderr on failure).
fn push(e: &Engine, name: &str, marker: &str) -> Result<String, String> {
    let tar = marked_rootfs(e.scratch(), marker);
    e.ok(&["import", &tar, name]);
    let out = e
        .berth(e.scratch())
        .arg_list(&["image", "push", name])
        .output();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn images_tls_registry_needs_its_ca_in_certs_d() {
    let certs = tempfile::Builder::new()
        .prefix("berth-certs-d-")
        .tempdir()
        .expect("certs.d");
    let certs_d = certs.path().join("certs.d");
    let e = Engine::start_with_args(
        "img_tls",
        None,
        &["--certs-d", certs_d.to_str().expect("utf-8 path")],
    );
    add_address(&e, "198.18.0.1");
    let (cert, key, ca) = make_tls(certs.path(), "198.18.0.1");
    let reg = Registry::start_with(
        "tls",
        &e,
        &Config {
            addr: Some("198.18.0.1:5443"),
            tls: Some((&cert, &key)),
            ..Config::default()
        },
    );
    let name = format!("{}/e2e/tls:v1", reg.addr);
    let err = push(&e, &name, "tls-marker").expect_err("push without the CA");
    let dir = certs_d.join(&reg.addr);
    assert!(
        err.contains("TLS handshake with registry 198.18.0.1:5443")
            && err.contains(&format!("{}/ca.crt", dir.display())),
        "push without the CA: {err}"
    );
    std::fs::create_dir_all(&dir).expect("certs.d dir");
    std::fs::write(dir.join("ca.crt"), &ca).expect("write ca.crt");
    push(&e, &name, "tls-marker").unwrap_or_else(|err| panic!("push with the CA: {err}"));
    e.ok(&["rmi", &name]);
    std::fs::remove_file(dir.join("ca.crt")).expect("remove ca.crt");
    let out = e.docker(&["pull", &name]);
    assert!(!out.status.success(), "pull without the CA succeeded");
    std::fs::write(dir.join("ca.crt"), &ca).expect("write ca.crt");
    e.ok(&["pull", &name]);
    assert_eq!(run_cat(&e, &name), "tls-marker");
}

#[test]
fn images_insecure_registry_must_be_listed() {
    let json = r#"{"insecure-registries": ["198.18.0.1/32"]}"#;
    let e = Engine::start_with_config("img_insecure", Some(json));
    add_address(&e, "198.18.0.1");
    add_address(&e, "198.18.0.2");
    let listed = Registry::start_with(
        "insecure-listed",
        &e,
        &Config {
            addr: Some("198.18.0.1:5000"),
            ..Config::default()
        },
    );
    let unlisted = Registry::start_with(
        "insecure-unlisted",
        &e,
        &Config {
            addr: Some("198.18.0.2:5000"),
            ..Config::default()
        },
    );
    let refused = format!("{}/e2e/plain:v1", unlisted.addr);
    let err = push(&e, &refused, "plain-marker").expect_err("push to an unlisted HTTP registry");
    assert!(
        err.contains("198.18.0.2:5000") && err.contains("insecure-registries"),
        "unlisted registry: {err}"
    );
    let name = format!("{}/e2e/plain:v1", listed.addr);
    push(&e, &name, "plain-marker").unwrap_or_else(|err| panic!("listed registry: {err}"));
    e.ok(&["rmi", &name]);
    e.ok(&["pull", &name]);
    assert_eq!(run_cat(&e, &name), "plain-marker");
}

/// A bearer-token server (Docker's token protocol) on `addr` inside an engine's network
/// namespace: it checks basic credentials and signs ES256 JWTs granting the requested scopes,
/// with its self-signed certificate in the `x5c` header.
struct TokenServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    issued: Arc<AtomicUsize>,
}

struct Signer {
    key: ring::signature::EcdsaKeyPair,
    cert_der: Vec<u8>,
    service: String,
    issuer: String,
    user: String,
    password: String,
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64(data: &[u8], url: bool) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            let c = B64[(n >> (18 - 6 * i) & 63) as usize] as char;
            out.push(match (url, c) {
                (true, '+') => '-',
                (true, '/') => '_',
                (_, c) => c,
            });
        }
        if !url {
            out.push_str(&"=".repeat(3 - chunk.len()));
        }
    }
    out
}

impl Signer {
    fn token(&self, scopes: &[String]) -> String {
        let access: Vec<serde_json::Value> = scopes
            .iter()
            .filter_map(|s| {
                let (kind, rest) = s.split_once(':')?;
                let (name, actions) = rest.rsplit_once(':')?;
                Some(serde_json::json!({
                    "type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()
                }))
            })
            .collect();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let header = serde_json::json!({
            "typ": "JWT", "alg": "ES256", "x5c": [base64(&self.cert_der, false)]
        });
        let claims = serde_json::json!({
            "iss": self.issuer, "sub": self.user, "aud": self.service,
            "exp": now + 600, "nbf": now - 60, "iat": now, "jti": format!("berth-{now}"),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            base64(header.to_string().as_bytes(), true),
            base64(claims.to_string().as_bytes(), true)
        );
        let sig = self
            .key
            .sign(&ring::rand::SystemRandom::new(), signing_input.as_bytes())
            .expect("sign token");
        format!("{signing_input}.{}", base64(sig.as_ref(), true))
    }

    fn answer(&self, request_line: &str, authorization: Option<&str>) -> (u16, String) {
        let expected = format!(
            "Basic {}",
            base64(format!("{}:{}", self.user, self.password).as_bytes(), false)
        );
        if authorization != Some(expected.as_str()) {
            return (401, r#"{"details":"bad credentials"}"#.to_owned());
        }
        let target = request_line.split(' ').nth(1).unwrap_or("");
        let query = target.split_once('?').map_or("", |(_, q)| q);
        let scopes: Vec<String> = query
            .split('&')
            .filter_map(|kv| kv.strip_prefix("scope="))
            .map(|s| {
                s.replace("%3A", ":")
                    .replace("%2F", "/")
                    .replace("%2C", ",")
            })
            .collect();
        let token = self.token(&scopes);
        (
            200,
            serde_json::json!({ "token": token, "access_token": token, "expires_in": 600 })
                .to_string(),
        )
    }
}

impl TokenServer {
    fn start(engine: &Engine, addr: &str, signer: Signer) -> TokenServer {
        let ns = std::fs::File::open(format!("/proc/{}/ns/net", engine.pid())).expect("netns");
        let stop = Arc::new(AtomicBool::new(false));
        let issued = Arc::new(AtomicUsize::new(0));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop2, issued2, addr) = (Arc::clone(&stop), Arc::clone(&issued), addr.to_owned());
        let thread = std::thread::spawn(move || {
            use std::os::fd::AsRawFd;
            // SAFETY: setns(2) on a valid namespace fd; it only moves this thread, which serves
            // tokens and nothing else, into the engine's network namespace.
            let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            let listener = TcpListener::bind(&addr).expect("bind the token server");
            listener.set_nonblocking(true).expect("nonblocking");
            ready_tx.send(()).expect("ready");
            while !stop2.load(Ordering::SeqCst) {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    continue;
                };
                stream.set_nonblocking(false).expect("blocking stream");
                let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
                let mut request_line = String::new();
                let _ = reader.read_line(&mut request_line);
                let mut authorization = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':')
                        && k.eq_ignore_ascii_case("authorization")
                    {
                        authorization = Some(v.trim().to_owned());
                    }
                }
                let (status, body) = signer.answer(&request_line, authorization.as_deref());
                if status == 200 {
                    issued2.fetch_add(1, Ordering::SeqCst);
                }
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        ready_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("token server ready");
        TokenServer {
            stop,
            thread: Some(thread),
            issued,
        }
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn images_bearer_token_auth_pulls_and_pushes() {
    let e = Engine::start("img_token");
    add_address(&e, "198.18.0.1");
    let dir = tempfile::Builder::new()
        .prefix("berth-token-")
        .tempdir()
        .expect("token dir");
    let key = KeyPair::generate().expect("token key");
    let mut params = CertificateParams::new(Vec::new()).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "berth e2e token signer");
    let cert = params.self_signed(&key).expect("token cert");
    let bundle = dir.path().join("token-root.pem");
    std::fs::write(&bundle, cert.pem()).expect("write bundle");
    let signer = Signer {
        key: ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &key.serialize_der(),
            &ring::rand::SystemRandom::new(),
        )
        .expect("ring key"),
        cert_der: cert.der().to_vec(),
        service: "berth-e2e-registry".into(),
        issuer: "berth-e2e-issuer".into(),
        user: "bob".into(),
        password: "token-pass".into(),
    };
    let tokens = TokenServer::start(&e, "198.18.0.1:5001", signer);
    let reg = Registry::start_with(
        "token",
        &e,
        &Config {
            addr: Some("127.0.0.1:5000"),
            token: Some((
                "http://198.18.0.1:5001/token",
                "berth-e2e-registry",
                "berth-e2e-issuer",
                &bundle,
            )),
            ..Config::default()
        },
    );
    let name = format!("{}/e2e/token:v1", reg.addr);
    let cfg = e.scratch().join("docker-config-token");
    let cfg = cfg.to_str().expect("utf-8 path");
    let berth = || e.berth(e.scratch()).env("DOCKER_CONFIG", cfg);
    let tar = marked_rootfs(e.scratch(), "token-marker");
    e.ok(&["import", &tar, &name]);
    let err = berth().arg_list(&["image", "push", &name]).fails();
    assert!(err.contains("token endpoint"), "push without login: {err}");
    berth()
        .arg_list(&["login", &reg.addr, "-u", "bob", "--password-stdin"])
        .stdin("token-pass\n")
        .ok();
    let out = berth().arg_list(&["image", "push", &name]).output();
    assert!(
        out.status.success(),
        "push with a token: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        reg.log()
    );
    e.ok(&["rmi", &name]);
    berth().arg_list(&["image", "pull", &name]).ok();
    assert_eq!(run_cat(&e, &name), "token-marker");
    assert!(
        tokens.issued.load(Ordering::SeqCst) >= 2,
        "tokens were issued"
    );
}
