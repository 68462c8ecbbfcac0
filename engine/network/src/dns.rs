//! Embedded DNS server of a network, so containers find each other by service name, container
//! name, alias or `name.network` while every other name goes to the host's resolvers.
//!
//! One server per network, bound on the gateway address (UDP and TCP) of that network, and on
//! its IPv6 gateway too when it has IPv6. It only answers clients whose source address is inside
//! the network's subnets; internal networks get no upstreams, so names outside the network fail
//! instead of leaking out. Endpoints of IPv6
//! networks have AAAA records too; a known name without an address of the asked type gets an
//! empty NOERROR answer, never a forward.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hickory_proto::op::{Header, Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType, rdata::A, rdata::AAAA};
use hickory_server::ServerFuture;
use hickory_server::authority::MessageResponseBuilder;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use ipnet::{Ipv4Net, Ipv6Net};

/// Time-to-live of answers about containers (short: containers come and go).
const LOCAL_TTL: u32 = 600;
/// How long to wait for one upstream resolver.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(3);

/// Errors of the DNS server.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// Binding the listen address failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Underlying error.
        source: std::io::Error,
    },
    /// Reading resolv.conf failed.
    #[error("cannot read {path}: {source}")]
    ResolvConf {
        /// File.
        path: std::path::PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
}

/// Name records of one network, keyed by endpoint id.
///
/// A container attached to several networks resolves the names of all of them: `peers` maps the
/// address of such a client in this network (its IPv4 one, or its IPv6 one on an IPv6-only
/// network) to the (name, records) of its other networks.
#[derive(Default)]
pub struct Records {
    endpoints: BTreeMap<String, (Addrs, Vec<String>)>,
    peers: BTreeMap<IpAddr, Vec<(String, SharedRecords)>>,
    /// A client's own DNS servers, used instead of the network's upstreams for it.
    upstreams: BTreeMap<IpAddr, Vec<SocketAddr>>,
    rotation: AtomicUsize,
}

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let peers: BTreeMap<_, Vec<&String>> = self
            .peers
            .iter()
            .map(|(ip, nets)| (ip, nets.iter().map(|(n, _)| n).collect()))
            .collect();
        f.debug_struct("Records")
            .field("endpoints", &self.endpoints)
            .field("peers", &peers)
            .field("upstreams", &self.upstreams)
            .finish_non_exhaustive()
    }
}

/// Records shared between the manager (writer) and the server (reader).
pub type SharedRecords = Arc<RwLock<Records>>;

/// The addresses of one endpoint: IPv4 (none on an IPv6-only network), IPv6 on IPv6 networks.
pub type Addrs = (Option<Ipv4Addr>, Option<Ipv6Addr>);

/// The address a client is known by in [`Records`]: its IPv4 one, else its IPv6 one.
pub fn client_key(addrs: Addrs) -> Option<IpAddr> {
    addrs.0.map(IpAddr::V4).or(addrs.1.map(IpAddr::V6))
}

impl Records {
    /// Sets the names (service, container name, aliases…) of an IPv4-only endpoint.
    pub fn upsert(&mut self, endpoint: &str, ip: Ipv4Addr, names: Vec<String>) {
        self.upsert_dual(endpoint, (Some(ip), None), names);
    }

    /// Sets the addresses and names of an endpoint.
    pub fn upsert_dual(&mut self, endpoint: &str, addrs: Addrs, names: Vec<String>) {
        let names = names.into_iter().map(|n| n.to_ascii_lowercase()).collect();
        self.endpoints.insert(endpoint.to_string(), (addrs, names));
    }

    /// Forgets an endpoint.
    pub fn remove(&mut self, endpoint: &str) {
        if let Some((addrs, _)) = self.endpoints.remove(endpoint) {
            if let Some(key) = client_key(addrs) {
                self.peers.remove(&key);
                self.upstreams.remove(&key);
            }
        }
    }

    /// The address the endpoint holding the IPv6 address `ip6` is known by (see
    /// [`client_key`]): its IPv4 one, or `ip6` itself on an IPv6-only network.
    pub fn key_of(&self, ip6: Ipv6Addr) -> Option<IpAddr> {
        self.endpoints
            .values()
            .find_map(|(addrs, _)| (addrs.1 == Some(ip6)).then(|| client_key(*addrs))?)
    }

    /// Sets the other networks (name, records) whose names the client at `client` (see
    /// [`client_key`]) also sees.
    pub fn set_peers(&mut self, client: IpAddr, peers: Vec<(String, SharedRecords)>) {
        if peers.is_empty() {
            self.peers.remove(&client);
        } else {
            self.peers.insert(client, peers);
        }
    }

    /// Sets the DNS servers the client at `client` (see [`client_key`]) asked for: names this
    /// network does not know are forwarded to them instead of the network's upstreams. Empty
    /// restores the network's.
    pub fn set_upstreams(&mut self, client: IpAddr, upstreams: Vec<SocketAddr>) {
        if upstreams.is_empty() {
            self.upstreams.remove(&client);
        } else {
            self.upstreams.insert(client, upstreams);
        }
    }

    /// The DNS servers the client at `client` asked for, if any.
    pub fn upstreams_of(&self, client: IpAddr) -> Option<Vec<SocketAddr>> {
        self.upstreams.get(&client).cloned()
    }

    /// IPv4 addresses for `name` (`name`, `name.` or `name.<network>`), rotated on every call.
    pub fn lookup(&self, name: &str, network: &str) -> Vec<Ipv4Addr> {
        self.lookup_dual(name, network)
            .into_iter()
            .filter_map(|(ip, _)| ip)
            .collect()
    }

    /// Addresses of both families for `name`, rotated on every call.
    pub fn lookup_dual(&self, name: &str, network: &str) -> Vec<Addrs> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let suffix = format!(".{}", network.to_ascii_lowercase());
        let name = name.strip_suffix(&suffix).unwrap_or(&name);
        let mut ips: Vec<Addrs> = self
            .endpoints
            .values()
            .filter(|(_, names)| names.iter().any(|n| n == name))
            .map(|(ip, _)| *ip)
            .collect();
        if !ips.is_empty() {
            let turn = self.rotation.fetch_add(1, Ordering::Relaxed) % ips.len();
            ips.rotate_left(turn);
        }
        ips
    }
}

/// IPv4 addresses of `name` for a query from `client` (see [`resolve_dual`]).
pub fn resolve(
    records: &SharedRecords,
    network: &str,
    client: Option<IpAddr>,
    name: &str,
) -> Vec<Ipv4Addr> {
    resolve_dual(records, network, client, name)
        .into_iter()
        .filter_map(|(ip, _)| ip)
        .collect()
}

/// Addresses of `name` for a query from `client`: this network's records first, then those of
/// the client's other networks. Never holds two locks at once.
pub fn resolve_dual(
    records: &SharedRecords,
    network: &str,
    client: Option<IpAddr>,
    name: &str,
) -> Vec<Addrs> {
    let (ips, peers) = match records.read() {
        Ok(r) => {
            let peers = client.and_then(|c| r.peers.get(&c).cloned());
            (r.lookup_dual(name, network), peers.unwrap_or_default())
        }
        Err(_) => return Vec::new(),
    };
    if !ips.is_empty() {
        return ips;
    }
    peers
        .iter()
        .find_map(|(net, recs)| {
            let ips = recs.read().ok()?.lookup_dual(name, net);
            (!ips.is_empty()).then_some(ips)
        })
        .unwrap_or_default()
}

/// Nameservers of a resolv.conf text, as port-53 socket addresses.
pub fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            match (words.next(), words.next()) {
                (Some("nameserver"), Some(addr)) => addr
                    .split('%')
                    .next()
                    .and_then(|a| a.parse::<IpAddr>().ok()),
                _ => None,
            }
        })
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// The resolv.conf for a container: the host's `search` and `options` lines, with the
/// network's embedded server as the only nameserver.
pub fn container_resolv_conf(host_resolv_conf: &str, server: IpAddr) -> String {
    let mut out = format!("nameserver {server}\n");
    for line in host_resolv_conf.lines() {
        let word = line.split_whitespace().next();
        if matches!(word, Some("search" | "domain" | "options")) {
            out.push_str(line.trim());
            out.push('\n');
        }
    }
    out
}

/// Reads and parses the host's resolv.conf at `path`.
pub fn read_resolv_conf(path: &Path) -> Result<Vec<SocketAddr>, DnsError> {
    std::fs::read_to_string(path)
        .map(|t| parse_resolv_conf(&t))
        .map_err(|source| DnsError::ResolvConf {
            path: path.to_path_buf(),
            source,
        })
}

/// What one network's server serves.
#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// Listen address (UDP and TCP), normally `<gateway>:53` (`[<IPv6 gateway>]:53` on an
    /// IPv6-only network).
    pub listen: SocketAddr,
    /// Second listen address of a dual-stack network, normally `[<IPv6 gateway>]:53`.
    pub listen6: Option<SocketAddr>,
    /// Only clients in this subnet (or in `subnet6`) get answers; `None` on an IPv6-only
    /// network.
    pub subnet: Option<Ipv4Net>,
    /// IPv6 subnet of the network, if any.
    pub subnet6: Option<Ipv6Net>,
    /// Network name, for `name.network` lookups.
    pub network: String,
    /// Upstream resolvers; empty for internal networks.
    pub upstreams: Vec<SocketAddr>,
}

#[derive(Debug)]
struct Handler {
    config: DnsConfig,
    records: SharedRecords,
}

impl Handler {
    /// The key the client at `src` is known by in the records (see [`client_key`]).
    fn client_of(&self, src: IpAddr) -> Option<IpAddr> {
        match src {
            IpAddr::V4(v4) => Some(IpAddr::V4(v4)),
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).or_else(|| {
                let records = self.records.read().ok()?;
                records.key_of(v6)
            }),
        }
    }

    /// The DNS servers `client` asked for, if any (else the network's upstreams apply).
    fn own_upstreams(&self, client: Option<IpAddr>) -> Option<Vec<SocketAddr>> {
        client.and_then(|c| self.records.read().ok()?.upstreams_of(c))
    }

    fn local(&self, query: &Query, client: Option<IpAddr>) -> Option<Vec<Record>> {
        let name = query.name().to_utf8();
        let ips = resolve_dual(&self.records, &self.config.network, client, &name);
        if ips.is_empty() {
            return None;
        }
        let owner = query.name().clone();
        let record = |data| Record::from_rdata(owner.clone(), LOCAL_TTL, data);
        Some(match query.query_type() {
            RecordType::A => ips
                .into_iter()
                .filter_map(|(ip, _)| Some(record(RData::A(A(ip?)))))
                .collect(),
            RecordType::AAAA => ips
                .into_iter()
                .filter_map(|(_, ip6)| Some(record(RData::AAAA(AAAA(ip6?)))))
                .collect(),
            _ => Vec::new(),
        })
    }

    async fn forward(&self, query: &Query, id: u16, upstreams: &[SocketAddr]) -> Option<Message> {
        let mut msg = Message::new();
        msg.set_id(id)
            .set_message_type(MessageType::Query)
            .set_recursion_desired(true);
        msg.add_query(query.clone());
        let bytes = msg.to_vec().ok()?;
        for upstream in upstreams {
            let bind: SocketAddr = if upstream.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            }
            .parse()
            .ok()?;
            let Ok(sock) = tokio::net::UdpSocket::bind(bind).await else {
                continue;
            };
            if sock.send_to(&bytes, upstream).await.is_err() {
                continue;
            }
            let mut buf = vec![0u8; 4096];
            if let Ok(Ok((n, _))) =
                tokio::time::timeout(UPSTREAM_TIMEOUT, sock.recv_from(&mut buf)).await
            {
                if let Ok(reply) = Message::from_vec(&buf[..n]) {
                    if reply.id() == id {
                        return Some(reply);
                    }
                }
            }
        }
        None
    }
}

fn in_subnet(subnet: Option<Ipv4Net>, subnet6: Option<Ipv6Net>, addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => subnet.is_some_and(|net| net.contains(&v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => subnet.is_some_and(|net| net.contains(&v4)),
            None => subnet6.is_some_and(|net| net.contains(&v6)),
        },
    }
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler>(
        &self,
        request: &Request,
        mut response: R,
    ) -> ResponseInfo {
        let builder = || MessageResponseBuilder::from_message_request(request);
        let refuse = |code| builder().error_msg(request.header(), code);
        let Some(query) = request.queries().first().map(|q| q.original().clone()) else {
            return send(&mut response, refuse(ResponseCode::FormErr)).await;
        };
        if !in_subnet(self.config.subnet, self.config.subnet6, request.src().ip()) {
            return send(&mut response, refuse(ResponseCode::Refused)).await;
        }
        let client = self.client_of(request.src().ip());
        // Where names this network does not know go: the client's own servers, else the
        // network's upstreams (none on an internal network).
        let own = self.own_upstreams(client);
        let upstreams = own.as_deref().unwrap_or(&self.config.upstreams);
        let mut header = Header::response_from_request(request.header());
        header.set_recursion_available(!upstreams.is_empty());
        if let Some(answers) = self.local(&query, client) {
            header.set_authoritative(true);
            let msg = builder().build(header, answers.iter(), [], [], []);
            return send(&mut response, msg).await;
        }
        if upstreams.is_empty() {
            return send(&mut response, refuse(ResponseCode::ServFail)).await;
        }
        match self.forward(&query, request.id(), upstreams).await {
            Some(reply) => {
                header.set_response_code(reply.response_code());
                let msg = builder().build(header, reply.answers(), reply.name_servers(), [], []);
                send(&mut response, msg).await
            }
            None => send(&mut response, refuse(ResponseCode::ServFail)).await,
        }
    }
}

async fn send<'a, R: ResponseHandler>(
    response: &mut R,
    msg: hickory_server::authority::MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
    >,
) -> ResponseInfo {
    match response.send_response(msg).await {
        Ok(info) => info,
        Err(e) => {
            tracing::debug!(error = %e, "dns: cannot send response");
            let mut header = Header::new();
            header.set_response_code(ResponseCode::ServFail);
            header.into()
        }
    }
}

/// A running DNS server; stop it with [`DnsServer::stop`].
pub struct DnsServer {
    server: ServerFuture<Handler>,
    listen: SocketAddr,
    listen6: Option<SocketAddr>,
}

impl std::fmt::Debug for DnsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsServer")
            .field("listen", &self.listen)
            .field("listen6", &self.listen6)
            .finish_non_exhaustive()
    }
}

impl DnsServer {
    /// Binds UDP and TCP on `config.listen` (and `config.listen6`) and serves `records`
    /// (needs a tokio runtime). Nothing is left listening when one of them cannot bind.
    pub async fn start(config: DnsConfig, records: SharedRecords) -> Result<Self, DnsError> {
        let first = bind_pair(config.listen).await?;
        let second = match config.listen6 {
            Some(addr) => Some(bind_pair(addr).await?),
            None => None,
        };
        let listen = first.2;
        let listen6 = second.as_ref().map(|(_, _, addr)| *addr);
        let mut server = ServerFuture::new(Handler { config, records });
        for (udp, tcp, _) in std::iter::once(first).chain(second) {
            server.register_socket(udp);
            server.register_listener(tcp, Duration::from_secs(5));
        }
        Ok(Self {
            server,
            listen,
            listen6,
        })
    }

    /// The bound address (useful when port 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.listen
    }

    /// The bound IPv6 address, when the server listens on one.
    pub fn local_addr6(&self) -> Option<SocketAddr> {
        self.listen6
    }

    /// Stops serving and closes the sockets.
    pub async fn stop(mut self) {
        if let Err(e) = self.server.shutdown_gracefully().await {
            tracing::debug!(error = %e, "dns: shutdown");
        }
    }
}

/// UDP and TCP sockets on `listen`, and the address they got (with port 0, TCP takes the port
/// UDP got).
async fn bind_pair(
    listen: SocketAddr,
) -> Result<(tokio::net::UdpSocket, tokio::net::TcpListener, SocketAddr), DnsError> {
    let bind = |source| DnsError::Bind {
        addr: listen,
        source,
    };
    let udp = tokio::net::UdpSocket::bind(listen).await.map_err(bind)?;
    let listen = udp.local_addr().map_err(bind)?;
    let tcp = tokio::net::TcpListener::bind(listen).await.map_err(bind)?;
    Ok((udp, tcp, listen))
}

/// A name → owner `Name`, for callers building queries.
pub fn fqdn(name: &str) -> Option<Name> {
    Name::from_ascii(name).ok().map(|mut n| {
        n.set_fqdn(true);
        n
    })
}

#[cfg(test)]
mod tests;
