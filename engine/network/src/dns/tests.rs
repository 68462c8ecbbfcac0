//! Unit tests of the DNS records and server on loopback, with a fake upstream run by the test.

use super::*;
use std::sync::atomic::AtomicUsize;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

#[test]
fn resolv_conf_parsing() {
    let text = "# comment\nnameserver 10.0.0.2\nsearch example\nnameserver fe80::1%eth0\nnameserver bogus\n";
    assert_eq!(
        parse_resolv_conf(text),
        vec![
            "10.0.0.2:53".parse::<SocketAddr>().unwrap(),
            "[fe80::1]:53".parse().unwrap()
        ]
    );
}

#[test]
fn container_resolv_conf_points_at_the_embedded_server() {
    let host = "nameserver 10.0.0.2\nsearch corp.example\noptions ndots:2 timeout:1\n# x\n";
    assert_eq!(
        container_resolv_conf(host, "172.17.0.1".parse().unwrap()),
        "nameserver 172.17.0.1\nsearch corp.example\noptions ndots:2 timeout:1\n"
    );
}

#[test]
fn lookup_forms_and_rotation() {
    let mut r = Records::default();
    r.upsert(
        "e1",
        ip("10.203.0.2"),
        vec!["web".into(), "proj-web-1".into()],
    );
    r.upsert(
        "e2",
        ip("10.203.0.3"),
        vec!["web".into(), "proj-web-2".into()],
    );
    r.upsert("e3", ip("10.203.0.4"), vec!["Web".into(), "alias1".into()]);
    let first = r.lookup("web", "net");
    assert_eq!(first.len(), 3);
    let second = r.lookup("WEB.net.", "net");
    assert_eq!(second.len(), 3);
    assert_ne!(first[0], second[0]);
    assert_eq!(r.lookup("alias1.net", "net"), vec![ip("10.203.0.4")]);
    assert!(r.lookup("alias1.other", "net").is_empty());
    r.remove("e3");
    assert!(r.lookup("alias1", "net").is_empty());
}

/// A fake upstream on loopback answering every A query with 10.203.250.250.
async fn fake_upstream() -> (SocketAddr, Arc<AtomicUsize>) {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            seen.fetch_add(1, Ordering::SeqCst);
            let req = Message::from_vec(&buf[..n]).unwrap();
            let mut reply = req.clone();
            reply.set_message_type(MessageType::Response);
            let name = req.queries()[0].name().clone();
            reply.add_answer(Record::from_rdata(
                name,
                60,
                RData::A(A(ip("10.203.250.250"))),
            ));
            sock.send_to(&reply.to_vec().unwrap(), from).await.unwrap();
        }
    });
    (addr, count)
}

pub(crate) async fn query(server: SocketAddr, name: &str) -> Message {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut msg = Message::new();
    msg.set_id(7).set_recursion_desired(true);
    msg.add_query(Query::query(fqdn(name).unwrap(), RecordType::A));
    sock.send_to(&msg.to_vec().unwrap(), server).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let (n, _) = sock.recv_from(&mut buf).await.unwrap();
    Message::from_vec(&buf[..n]).unwrap()
}

fn a_records(msg: &Message) -> Vec<Ipv4Addr> {
    msg.answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

async fn server(subnet: &str, upstreams: Vec<SocketAddr>) -> (DnsServer, SharedRecords) {
    let records: SharedRecords = Arc::default();
    {
        let mut r = records.write().unwrap();
        for (i, last) in [2, 3, 4].iter().enumerate() {
            r.upsert(
                &format!("e{i}"),
                Ipv4Addr::new(10, 203, 0, *last),
                vec!["web".into()],
            );
        }
    }
    let config = DnsConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        listen6: None,
        subnet: Some(subnet.parse().unwrap()),
        subnet6: None,
        network: "front".into(),
        upstreams,
    };
    (
        DnsServer::start(config, records.clone()).await.unwrap(),
        records,
    )
}

#[tokio::test]
async fn answers_service_names_rotating_and_forwards_others() {
    let (upstream, count) = fake_upstream().await;
    let (srv, records) = server("127.0.0.0/8", vec![upstream]).await;
    let a = a_records(&query(srv.local_addr(), "web").await);
    let b = a_records(&query(srv.local_addr(), "web.front").await);
    assert_eq!(a.len(), 3);
    assert_eq!(b.len(), 3);
    assert_ne!(a[0], b[0], "answers must rotate");
    assert_eq!(count.load(Ordering::SeqCst), 0);
    let other = query(srv.local_addr(), "elsewhere.test").await;
    assert_eq!(a_records(&other), vec![ip("10.203.250.250")]);
    assert_eq!(count.load(Ordering::SeqCst), 1);
    records.write().unwrap().remove("e0");
    assert_eq!(a_records(&query(srv.local_addr(), "web").await).len(), 2);
    srv.stop().await;
}

#[tokio::test]
async fn a_client_with_its_own_dns_servers_is_forwarded_to_them_and_still_gets_local_names() {
    let (network_upstream, network_count) = fake_upstream().await;
    let (own_upstream, own_count) = fake_upstream().await;
    let (srv, records) = server("127.0.0.0/8", vec![network_upstream]).await;
    // The test's queries come from 127.0.0.1.
    let client = IpAddr::V4(Ipv4Addr::LOCALHOST);
    records
        .write()
        .unwrap()
        .set_upstreams(client, vec![own_upstream]);
    assert_eq!(a_records(&query(srv.local_addr(), "web").await).len(), 3);
    let other = query(srv.local_addr(), "elsewhere.test").await;
    assert_eq!(a_records(&other), vec![ip("10.203.250.250")]);
    assert_eq!(
        (
            own_count.load(Ordering::SeqCst),
            network_count.load(Ordering::SeqCst)
        ),
        (1, 0)
    );
    records.write().unwrap().set_upstreams(client, Vec::new());
    query(srv.local_addr(), "elsewhere.test").await;
    assert_eq!(
        (
            own_count.load(Ordering::SeqCst),
            network_count.load(Ordering::SeqCst)
        ),
        (1, 1)
    );
    srv.stop().await;
}

#[tokio::test]
async fn internal_network_never_forwards() {
    let (upstream, count) = fake_upstream().await;
    let (srv, _) = server("127.0.0.0/8", vec![]).await;
    let reply = query(srv.local_addr(), "elsewhere.test").await;
    assert_eq!(reply.response_code(), ResponseCode::ServFail);
    assert!(reply.answers().is_empty());
    assert_eq!(
        count.load(Ordering::SeqCst),
        0,
        "upstream {upstream} must not be asked"
    );
    srv.stop().await;
}

#[tokio::test]
async fn clients_outside_the_subnet_are_refused() {
    let (srv, _) = server("10.203.0.0/24", vec![]).await;
    let reply = query(srv.local_addr(), "web").await;
    assert_eq!(reply.response_code(), ResponseCode::Refused);
    assert!(reply.answers().is_empty());
    srv.stop().await;
}

#[tokio::test]
async fn answers_over_tcp() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (srv, _) = server("127.0.0.0/8", vec![]).await;
    let mut stream = tokio::net::TcpStream::connect(srv.local_addr())
        .await
        .unwrap();
    let mut msg = Message::new();
    msg.set_id(9);
    msg.add_query(Query::query(fqdn("web").unwrap(), RecordType::A));
    let bytes = msg.to_vec().unwrap();
    stream
        .write_all(&(bytes.len() as u16).to_be_bytes())
        .await
        .unwrap();
    stream.write_all(&bytes).await.unwrap();
    let len = stream.read_u16().await.unwrap();
    let mut buf = vec![0u8; usize::from(len)];
    stream.read_exact(&mut buf).await.unwrap();
    let reply = Message::from_vec(&buf).unwrap();
    assert_eq!(reply.id(), 9);
    assert_eq!(a_records(&reply).len(), 3);
    srv.stop().await;
}

#[tokio::test]
async fn aaaa_answers_for_ipv6_endpoints_and_empty_noerror_otherwise() {
    let (srv, records) = server("127.0.0.0/8", vec![]).await;
    records.write().unwrap().upsert_dual(
        "e6",
        (Some(ip("10.203.0.9")), Some("fd00:b37::9".parse().unwrap())),
        vec!["dual".into()],
    );
    let addr = srv.local_addr();
    let ask = |name: &'static str, kind| async move {
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut msg = Message::new();
        msg.set_id(11);
        msg.add_query(Query::query(fqdn(name).unwrap(), kind));
        sock.send_to(&msg.to_vec().unwrap(), addr).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let (n, _) = sock.recv_from(&mut buf).await.unwrap();
        Message::from_vec(&buf[..n]).unwrap()
    };
    let dual = ask("dual", RecordType::AAAA).await;
    let v6: Vec<Ipv6Addr> = dual
        .answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::AAAA(a) => Some(a.0),
            _ => None,
        })
        .collect();
    assert_eq!(v6, vec!["fd00:b37::9".parse::<Ipv6Addr>().unwrap()]);
    assert_eq!(
        a_records(&ask("dual", RecordType::A).await),
        vec![ip("10.203.0.9")]
    );
    let v4_only = ask("web", RecordType::AAAA).await;
    assert_eq!(v4_only.response_code(), ResponseCode::NoError);
    assert!(v4_only.answers().is_empty());
    srv.stop().await;
}

#[tokio::test]
async fn ipv6_network_answers_on_its_ipv6_address_too() {
    let records: SharedRecords = Arc::default();
    records.write().unwrap().upsert_dual(
        "e6",
        (Some(ip("10.203.0.9")), Some("::1".parse().unwrap())),
        vec!["dual".into()],
    );
    assert_eq!(
        records.read().unwrap().key_of("::1".parse().unwrap()),
        Some(IpAddr::V4(ip("10.203.0.9")))
    );
    let config = DnsConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        listen6: Some("[::1]:0".parse().unwrap()),
        subnet: Some("10.203.0.0/24".parse().unwrap()),
        subnet6: Some("::1/128".parse().unwrap()),
        network: "front".into(),
        upstreams: vec![],
    };
    let srv = DnsServer::start(config, records).await.unwrap();
    let addr6 = srv.local_addr6().expect("IPv6 listen address");
    assert!(addr6.ip().is_loopback() && addr6.port() != 0, "{addr6}");
    let sock = tokio::net::UdpSocket::bind("[::1]:0").await.unwrap();
    for (kind, want) in [(RecordType::AAAA, "::1"), (RecordType::A, "10.203.0.9")] {
        let mut msg = Message::new();
        msg.set_id(12);
        msg.add_query(Query::query(fqdn("dual").unwrap(), kind));
        sock.send_to(&msg.to_vec().unwrap(), addr6).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let (n, _) = sock.recv_from(&mut buf).await.unwrap();
        let reply = Message::from_vec(&buf[..n]).unwrap();
        let got: Vec<String> = reply
            .answers()
            .iter()
            .map(|r| match r.data() {
                RData::A(a) => a.0.to_string(),
                RData::AAAA(a) => a.0.to_string(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(got, vec![want.to_string()], "{kind:?}");
    }
    // The IPv4 side still refuses clients outside the IPv4 subnet (127.0.0.1 here).
    let refused = query(srv.local_addr(), "dual").await;
    assert_eq!(refused.response_code(), ResponseCode::Refused);
    srv.stop().await;
}

#[tokio::test]
async fn ipv6_only_network_answers_aaaa_on_its_ipv6_address_and_empty_a() {
    let records: SharedRecords = Arc::default();
    records.write().unwrap().upsert_dual(
        "e6",
        (None, Some("::1".parse().unwrap())),
        vec!["only6".into()],
    );
    assert_eq!(
        records.read().unwrap().key_of("::1".parse().unwrap()),
        Some("::1".parse().unwrap()),
        "a client without IPv4 is known by its IPv6 address"
    );
    let config = DnsConfig {
        listen: "[::1]:0".parse().unwrap(),
        listen6: None,
        subnet: None,
        subnet6: Some("::1/128".parse().unwrap()),
        network: "v6only".into(),
        upstreams: vec![],
    };
    let srv = DnsServer::start(config, records).await.unwrap();
    let addr = srv.local_addr();
    assert!(addr.is_ipv6() && srv.local_addr6().is_none(), "{addr}");
    let sock = tokio::net::UdpSocket::bind("[::1]:0").await.unwrap();
    for (kind, want) in [(RecordType::AAAA, vec!["::1"]), (RecordType::A, vec![])] {
        let mut msg = Message::new();
        msg.set_id(13);
        msg.add_query(Query::query(fqdn("only6.v6only").unwrap(), kind));
        sock.send_to(&msg.to_vec().unwrap(), addr).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let (n, _) = sock.recv_from(&mut buf).await.unwrap();
        let reply = Message::from_vec(&buf[..n]).unwrap();
        assert_eq!(reply.response_code(), ResponseCode::NoError, "{kind:?}");
        let got: Vec<String> = reply
            .answers()
            .iter()
            .map(|r| match r.data() {
                RData::AAAA(a) => a.0.to_string(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(got, want, "{kind:?}");
    }
    srv.stop().await;
}
