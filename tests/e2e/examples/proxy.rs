//! A small HTTP forward proxy that lets the builds of an engine isolated in its own network
//! namespace reach the Debian mirror. The harness starts every engine in a namespace with only
//! loopback, so `RUN apt-get` on the build's `host` network (the engine's namespace) has no route
//! out. The proxy listens on the engine namespace's loopback (the socket is made by a thread that
//! entered that namespace) and connects out from the test's own namespace; builds get it as the
//! predefined `http_proxy` build argument, which apt honours. Only the mirror's host is served
//! (anything else gets 403), and only bodiless requests (apt's GETs), rewritten to origin form.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// The proxy; stops accepting and joins its thread when dropped.
pub struct MirrorProxy {
    port: u16,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl MirrorProxy {
    /// Listens on 127.0.0.1 inside the network namespace of process `pid` and forwards requests
    /// for `mirror_host` (port 80) from the caller's namespace.
    pub fn start(pid: u32, mirror_host: &'static str) -> MirrorProxy {
        let listener = std::thread::spawn(move || {
            let ns = std::fs::File::open(format!("/proc/{pid}/ns/net")).expect("open the netns");
            // SAFETY: setns(2) on a valid namespace fd; it moves only this short-lived thread,
            // which ends right after binding the socket.
            let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            TcpListener::bind("127.0.0.1:0").expect("bind the proxy in the engine's netns")
        })
        .join()
        .expect("proxy bind thread");
        let port = listener.local_addr().expect("proxy address").port();
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let accept = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        std::thread::spawn(move || serve(client, mirror_host));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    Err(_) => break,
                }
            }
        });
        MirrorProxy {
            port,
            stop,
            accept: Some(accept),
        }
    }

    /// The `http_proxy` value for builds on the engine's network.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for MirrorProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// Reads one request head (request line and headers up to the blank line); None at EOF.
fn read_head(r: &mut BufReader<TcpStream>) -> Option<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            return (!lines.is_empty()).then_some(lines);
        }
        lines.push(line);
    }
}

/// `GET http://HOST/PATH HTTP/1.1` → (HOST, `GET /PATH HTTP/1.1`).
fn origin_form(request_line: &str) -> Option<(String, String)> {
    let mut parts = request_line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    let rest = target.strip_prefix("http://")?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    Some((host.to_owned(), format!("{method} {path} {version}")))
}

/// Forwards one client connection: request heads go to the mirror rewritten, the mirror's bytes
/// come back unchanged.
fn serve(client: TcpStream, mirror_host: &str) {
    let _ = client.set_nonblocking(false);
    let Ok(reply_to) = client.try_clone() else {
        return;
    };
    let mut from_client = BufReader::new(client);
    let mut upstream: Option<TcpStream> = None;
    while let Some(head) = read_head(&mut from_client) {
        let has_body = head[1..].iter().any(|h| {
            let h = h.to_ascii_lowercase();
            h.starts_with("transfer-encoding:")
                || (h.starts_with("content-length:") && h.trim_end() != "content-length: 0")
        });
        let allowed = origin_form(&head[0])
            .filter(|(host, _)| host == mirror_host || host == &format!("{mirror_host}:80"));
        let Some((_, line)) = allowed.filter(|_| !has_body) else {
            let _ = (&reply_to).write_all(
                b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            break;
        };
        if upstream.is_none() {
            let Ok(server) = TcpStream::connect((mirror_host, 80)) else {
                let _ = (&reply_to).write_all(
                    b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                break;
            };
            let (Ok(mut back), Ok(mut to)) = (server.try_clone(), reply_to.try_clone()) else {
                break;
            };
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut back, &mut to);
                let _ = to.shutdown(Shutdown::Both);
            });
            upstream = Some(server);
        }
        let Some(server) = upstream.as_mut() else {
            break;
        };
        let mut text = line;
        text.push_str("\r\n");
        for h in head[1..]
            .iter()
            .filter(|h| !h.to_ascii_lowercase().starts_with("proxy-"))
        {
            text.push_str(h);
            text.push_str("\r\n");
        }
        text.push_str("\r\n");
        if server.write_all(text.as_bytes()).is_err() {
            break;
        }
    }
    if let Some(server) = upstream {
        let _ = server.shutdown(Shutdown::Write);
    }
}

#[test]
fn origin_form_splits_host_and_path() {
    assert_eq!(
        origin_form("GET http://deb.debian.org/debian/dists/x HTTP/1.1"),
        Some((
            "deb.debian.org".to_owned(),
            "GET /debian/dists/x HTTP/1.1".to_owned()
        ))
    );
    assert_eq!(
        origin_form("GET http://h HTTP/1.1"),
        Some(("h".to_owned(), "GET / HTTP/1.1".to_owned()))
    );
    assert_eq!(origin_form("GET /relative HTTP/1.1"), None);
    assert_eq!(origin_form("CONNECT h:443 HTTP/1.1"), None);
}
