//! Test harness for the root tests: namespaces, listeners and clients inside them, a fake DNS
//! upstream on loopback, and a fixture whose guard removes every bridge, veth, namespace and
//! nftables table the test created, even when the test fails.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use berth_network::firewall::Firewall;
use berth_network::ipam::{SubnetRequest, default_pools};
use berth_network::manager::{
    Endpoint, EndpointSpec, ManagerConfig, ManagerError, Network, NetworkManager, NetworkSpec,
    PortSpec,
};
use berth_network::netlink::RtNetlink;
use hickory_proto::op::{Message, MessageType, Query};
use hickory_proto::rr::{Name, RData, Record, RecordType, rdata::A};

/// What the fake upstream answers for every name.
pub const FAKE_UPSTREAM_ANSWER: Ipv4Addr = Ipv4Addr::new(10, 203, 250, 250);

/// `PATH` plus the sbin directories, where `nft`, `iptables` and `ip` live on Debian.
pub fn search_path() -> String {
    format!(
        "{}:/usr/sbin:/sbin",
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Fails the test loudly unless running as root.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (bridges, veths, namespaces, nftables): run it as root"
    );
}

fn run(prog: &str, args: &[&str]) -> std::process::Output {
    Command::new(prog)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {prog}: {e}"))
}

/// Runs `ip` and returns its stdout (panics on failure).
pub fn ip_cmd(args: &[&str]) -> String {
    let out = run("ip", args);
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `nft` and returns its stdout (panics on failure).
pub fn nft(args: &[&str]) -> String {
    let out = run("nft", args);
    assert!(
        out.status.success(),
        "nft {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The whole iptables ruleset (nat and filter).
pub fn iptables_save() -> String {
    let out = run("iptables-save", &[]);
    assert!(
        out.status.success(),
        "iptables-save: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A named network namespace (`ip netns add`), deleted on drop.
#[derive(Debug)]
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(name: String) -> Self {
        let _ = run("ip", &["netns", "del", &name]);
        ip_cmd(&["netns", "add", &name]);
        Self { name }
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run("ip", &["netns", "del", &self.name]);
    }
}

fn enter(path: &std::path::Path) {
    let file = std::fs::File::open(path).expect("open netns");
    nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
}

/// A TCP server in a namespace answering `greeting` to every connection; stops on drop.
#[derive(Debug)]
pub struct Listener {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    pub fn start(ns: &Netns, addr: SocketAddr, greeting: &str) -> Self {
        let (path, greeting) = (ns.path(), greeting.to_string());
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            enter(&path);
            let listener = TcpListener::bind(addr).expect("bind listener");
            listener.set_nonblocking(true).expect("nonblocking");
            ready_tx.send(()).expect("ready");
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut conn, _)) => {
                        let _ = conn.set_nonblocking(false);
                        let _ = conn.write_all(greeting.as_bytes());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        ready_rx.recv().expect("listener failed to start");
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A UDP server in a namespace answering `greeting` to every datagram; stops on drop.
#[derive(Debug)]
pub struct UdpEcho {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl UdpEcho {
    pub fn start(ns: &Netns, addr: SocketAddr, greeting: &str) -> Self {
        let (path, greeting) = (ns.path(), greeting.to_string());
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            enter(&path);
            let sock = std::net::UdpSocket::bind(addr).expect("bind udp");
            sock.set_read_timeout(Some(Duration::from_millis(50)))
                .expect("timeout");
            ready_tx.send(()).expect("ready");
            let mut buf = [0u8; 512];
            while !flag.load(Ordering::SeqCst) {
                if let Ok((_, from)) = sock.recv_from(&mut buf) {
                    let _ = sock.send_to(greeting.as_bytes(), from);
                }
            }
        });
        ready_rx.recv().expect("udp server failed to start");
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for UdpEcho {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sends one datagram to `addr` from the host and returns the reply.
pub fn udp_ask(addr: SocketAddr) -> std::io::Result<String> {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0")?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    sock.send_to(b"ping", addr)?;
    let mut buf = [0u8; 512];
    let (n, _) = sock.recv_from(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// Connects to `addr` from `ns` (or the host) and returns what the server sent.
pub fn connect_from(ns: Option<&Netns>, addr: SocketAddr) -> std::io::Result<String> {
    let path = ns.map(Netns::path);
    std::thread::spawn(move || {
        if let Some(p) = &path {
            enter(p);
        }
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut text = String::new();
        stream.read_to_string(&mut text)?;
        Ok(text)
    })
    .join()
    .expect("client thread")
}

/// Asks `server` for the A records of `name` from inside `ns`.
pub async fn dns_a_from(ns: &Netns, server: SocketAddr, name: &str) -> Vec<Ipv4Addr> {
    let (path, name) = (ns.path(), name.to_string());
    let reply = tokio::task::spawn_blocking(move || {
        std::thread::spawn(move || {
            enter(&path);
            let sock = std::net::UdpSocket::bind("0.0.0.0:0").expect("udp bind");
            sock.set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            let mut msg = Message::new();
            msg.set_id(42).set_recursion_desired(true);
            let mut qname = Name::from_ascii(&name).expect("name");
            qname.set_fqdn(true);
            msg.add_query(Query::query(qname, RecordType::A));
            sock.send_to(&msg.to_vec().expect("encode"), server)
                .expect("send");
            let mut buf = vec![0u8; 4096];
            let (n, _) = sock.recv_from(&mut buf).expect("dns reply");
            Message::from_vec(&buf[..n]).expect("decode")
        })
        .join()
        .expect("dns thread")
    })
    .await
    .expect("dns task");
    reply
        .answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

async fn fake_upstream(count: Arc<AtomicUsize>) -> SocketAddr {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("fake upstream");
    let addr = sock.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            count.fetch_add(1, Ordering::SeqCst);
            let Ok(req) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut reply = req.clone();
            reply.set_message_type(MessageType::Response);
            if let Some(q) = req.queries().first() {
                reply.add_answer(Record::from_rdata(
                    q.name().clone(),
                    60,
                    RData::A(A(FAKE_UPSTREAM_ANSWER)),
                ));
            }
            let _ = sock.send_to(&reply.to_vec().expect("encode"), from).await;
        }
    });
    addr
}

/// One test's manager, fake upstream and cleanup guard.
#[derive(Debug)]
pub struct Fixture {
    pub manager: NetworkManager,
    pub upstream_queries: Arc<AtomicUsize>,
    tag: String,
    bridges: Vec<String>,
    net_ids: Vec<String>,
    firewall: Firewall,
    veths: Vec<String>,
    _root: tempfile::TempDir,
}

impl Fixture {
    pub async fn new(tag: &str) -> Self {
        require_root();
        let firewall = Firewall::detect(&search_path());
        assert!(
            matches!(firewall, Firewall::Nftables { .. }),
            "nft not found: install nftables"
        );
        Self::with_firewall(tag, firewall).await
    }

    /// A fixture using the given firewall backend.
    pub async fn with_firewall(tag: &str, firewall: Firewall) -> Self {
        require_root();
        let upstream_queries = Arc::new(AtomicUsize::new(0));
        let upstream = fake_upstream(upstream_queries.clone()).await;
        let root = tempfile::tempdir().expect("tempdir");
        let manager = NetworkManager::open(ManagerConfig {
            root: root.path().to_path_buf(),
            proc_sys: "/proc/sys".into(),
            host_routes: vec![],
            host_routes6: vec![],
            pools: default_pools(),
            pools6: berth_network::ipam6::default_pools6(),
            firewall: firewall.clone(),
            netlink: Arc::new(RtNetlink),
            upstreams: vec![upstream],
        })
        .expect("open manager");
        Self {
            manager,
            upstream_queries,
            tag: format!("{tag}-{}", std::process::id()),
            bridges: vec![],
            net_ids: vec![],
            firewall,
            veths: vec![],
            _root: root,
        }
    }

    /// A namespace named after the test.
    pub fn netns(&self, name: &str) -> Netns {
        Netns::new(format!("bt-{}-{name}", self.tag))
    }

    /// Creates a network on `subnet` with a bridge name unique to this test.
    pub async fn network(&mut self, subnet: &str, internal: bool) -> Network {
        self.network_opts(subnet, internal, &[]).await
    }

    /// Like [`Fixture::network`] with extra driver options.
    pub async fn network_opts(
        &mut self,
        subnet: &str,
        internal: bool,
        opts: &[(&str, &str)],
    ) -> Network {
        let n = self.bridges.len();
        let mut bridge = format!("bt{}{n}", self.tag.replace('-', ""));
        bridge.truncate(15);
        self.bridges.push(bridge.clone());
        let spec = NetworkSpec {
            name: format!("{}-n{n}", self.tag),
            internal,
            ipv6_only: false,
            ipam: SubnetRequest {
                subnet: Some(subnet.parse().expect("subnet")),
                ..Default::default()
            },
            driver_opts: opts
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .chain([("com.docker.network.bridge.name".to_string(), bridge)])
                .collect(),
            dns_listen: None,
            ipv6: None,
        };
        let net = self
            .manager
            .create_network(spec)
            .await
            .expect("create network");
        self.net_ids.push(net.id[..12].to_string());
        net
    }

    /// Connects `ns` as endpoint `id`.
    pub async fn connect(
        &mut self,
        network: &str,
        id: &str,
        ns: &Netns,
        ip: Option<Ipv4Addr>,
        names: &[&str],
        ports: Vec<PortSpec>,
    ) -> Result<Endpoint, ManagerError> {
        let spec = EndpointSpec {
            id: id.to_string(),
            netns: ns.path(),
            ifname: None,
            ip,
            ip6: None,
            mac: None,
            names: names.iter().map(|s| s.to_string()).collect(),
            ports,
            dns_upstreams: Vec::new(),
        };
        let ep = self.manager.connect(network, spec).await?;
        self.veths.push(ep.host_if.clone());
        Ok(ep)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for link in self.veths.iter().chain(&self.bridges) {
            let _ = run("ip", &["link", "del", link]);
        }
        for id in &self.net_ids {
            if let Err(e) = self.firewall.remove(id) {
                eprintln!("cleanup of firewall rules of {id}: {e}");
            }
        }
    }
}
