//! The networking keys of a compose service reaching its containers: `dns` (behind the
//! network's embedded server, which forwards to it and still answers service names),
//! `dns_search`, `dns_opt`, `extra_hosts`, `links`, `domainname`, `expose`, per-network
//! `priority` and `mac_address`.

use std::fs::File;
use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use nix::sched::{CloneFlags, setns};

use crate::harness::{Engine, IMAGE};
use crate::network::eth0_v4;

/// The address every A query to [`OwnDns`] is answered with.
const OWN_ANSWER: [u8; 4] = [10, 203, 77, 77];

/// A DNS server on 127.0.0.1:53 inside the engine's network namespace (where its embedded
/// servers forward from): A queries for `elsewhere.test` get [`OWN_ANSWER`], every other name
/// NXDOMAIN; it counts the queries it answers with an address.
struct OwnDns {
    stop: Arc<AtomicBool>,
    queries: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl OwnDns {
    fn start(e: &Engine) -> OwnDns {
        let ns = File::open(format!("/proc/{}/ns/net", e.pid())).expect("engine netns");
        let (stop, queries) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicUsize::new(0)),
        );
        let (stop2, queries2) = (stop.clone(), queries.clone());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            // Only this thread moves into the engine's namespace.
            setns(&ns, CloneFlags::CLONE_NEWNET).expect("setns into the engine's netns");
            let sock = UdpSocket::bind("127.0.0.1:53").expect("bind 127.0.0.1:53");
            sock.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            ready_tx.send(()).unwrap();
            let mut buf = [0u8; 512];
            while !stop2.load(Ordering::SeqCst) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                if let Some((reply, answered)) = answer(&buf[..n]) {
                    if answered {
                        queries2.fetch_add(1, Ordering::SeqCst);
                    }
                    let _ = sock.send_to(&reply, from);
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("own DNS server never started");
        OwnDns {
            stop,
            queries,
            thread: Some(thread),
        }
    }
}

impl Drop for OwnDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The reply to a one-question query, and whether it carries an address: the question
/// echoed, one A answer for an A question about `elsewhere.test`, NXDOMAIN for other names.
fn answer(query: &[u8]) -> Option<(Vec<u8>, bool)> {
    if query.len() < 12 || query[4..6] != [0, 1] {
        return None;
    }
    // The question: labels up to the zero byte, then type and class.
    let mut end = 12;
    while *query.get(end)? != 0 {
        end += 1 + usize::from(query[end]);
    }
    let question = query.get(12..end + 5)?;
    let known = question.starts_with(b"\x09elsewhere\x04test\x00");
    let is_a = question[question.len() - 4..question.len() - 2] == [0, 1];
    let answered = known && is_a;
    let rcode = if known { 0 } else { 3 };
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&query[..2]); // id
    out.extend_from_slice(&[0x81, 0x80 | rcode, 0, 1, 0, u8::from(answered), 0, 0, 0, 0]);
    out.extend_from_slice(question);
    if answered {
        // Name by pointer to the question, type A, class IN, TTL 60, 4 bytes of address.
        out.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        out.extend_from_slice(&OWN_ANSWER);
    }
    Some((out, answered))
}

#[test]
fn network_compose_dns_hosts_links_and_endpoint_keys_reach_the_containers() {
    let e = Engine::start("net_compose_keys");
    let own = OwnDns::start(&e);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("compose.yaml"),
        format!(
            "name: keys
services:
  srv:
    image: {IMAGE}
    command: [sleep, '600']
    mac_address: '02:42:0a:cb:0b:09'
    networks:
      back:
      front:
        priority: 10
  cli:
    image: {IMAGE}
    command: [sleep, '600']
    dns: [127.0.0.1]
    dns_search: [corp.example]
    dns_opt: ['ndots:2']
    extra_hosts: ['legacy.example=10.203.11.99']
    links: ['srv:database']
    domainname: example.test
    expose: ['3000', '5353/udp']
    networks: [front]
networks:
  front:
    ipam:
      config:
        - subnet: 10.203.11.0/24
  back:
    ipam:
      config:
        - subnet: 10.203.12.0/24
"
        ),
    )
    .unwrap();
    e.berth(dir.path())
        .args(["up", "-d", "--progress", "quiet"])
        .ok();
    // `front` has the higher priority: joined first, so it is eth0; `mac_address` is on it.
    let eth0 = eth0_v4(&e, "keys-srv-1");
    assert!(eth0.contains("inet 10.203.11."), "{eth0}");
    let srv_ip = eth0
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .unwrap()
        .to_owned();
    let mac = e.ok(&["exec", "keys-srv-1", "cat", "/sys/class/net/eth0/address"]);
    assert_eq!(mac, "02:42:0a:cb:0b:09");
    // The embedded server stays the nameserver; the search and option lines are the service's.
    let resolv = e.ok(&["exec", "keys-cli-1", "cat", "/etc/resolv.conf"]);
    assert_eq!(
        resolv, "nameserver 10.203.11.1\nsearch corp.example\noptions ndots:2",
        "{resolv}"
    );
    // Service names still resolve; other names go to the service's own server.
    // (Absolute names: with `ndots:2` busybox's nslookup tries only the search domain.)
    let srv = e.ok(&["exec", "keys-cli-1", "nslookup", "-type=a", "srv."]);
    assert!(srv.contains(&format!("Address: {srv_ip}")), "{srv}");
    assert_eq!(own.queries.load(Ordering::SeqCst), 0, "{srv}");
    let outside = e.ok(&[
        "exec",
        "keys-cli-1",
        "nslookup",
        "-type=a",
        "elsewhere.test.",
    ]);
    assert!(outside.contains("10.203.77.77"), "{outside}");
    assert!(own.queries.load(Ordering::SeqCst) >= 1);
    // /etc/hosts: the extra host and the link alias of srv's container.
    let hosts = e.ok(&["exec", "keys-cli-1", "cat", "/etc/hosts"]);
    assert!(hosts.contains("10.203.11.99\tlegacy.example"), "{hosts}");
    assert!(
        hosts
            .lines()
            .any(|l| l.starts_with(&srv_ip) && l.split_whitespace().any(|w| w == "database")),
        "{hosts}"
    );
    let domain = e.ok(&["exec", "keys-cli-1", "cat", "/proc/sys/kernel/domainname"]);
    assert_eq!(domain, "example.test");
    let exposed = e.ok(&[
        "inspect",
        "-f",
        "{{range $p, $v := .Config.ExposedPorts}}{{$p}} {{end}}",
        "keys-cli-1",
    ]);
    assert_eq!(exposed, "3000/tcp 5353/udp");
    e.berth(dir.path())
        .args(["down", "--progress", "quiet"])
        .ok();
}
