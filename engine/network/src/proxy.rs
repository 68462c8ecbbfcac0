//! Userland forwarder for published ports on the IPv6 loopback address `::1`.
//!
//! Why it exists: every other published address is kernel DNAT (see [`crate::firewall`]).
//! IPv4 reaches containers from `127.0.0.1` thanks to `route_localnet`, but IPv6 has no such
//! switch: after DNAT the container's answer is translated back to destination `::1` while it
//! arrives on the bridge, and the kernel drops loopback destinations on other interfaces. So,
//! as dockerd's `docker-proxy` does, the daemon listens on `[::1]:<port>` itself and copies
//! bytes to the container (over IPv6 when it has an address there, else IPv4). The nft rules
//! leave `::1` alone so the two never meet.
//!
//! The same forwarder serves IPv4 host addresses (`0.0.0.0`, `127.0.0.1`…) of containers on
//! an IPv6-only network: no DNAT rule can turn an IPv4 packet into an IPv6 one, so, as
//! Docker's userland proxy does there, the daemon listens on the IPv4 address and connects
//! to the container's IPv6 address.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

use crate::firewall::Proto;

/// How long a UDP flow without traffic keeps its upstream socket.
const UDP_IDLE: Duration = Duration::from_secs(60);

/// Errors of the loopback forwarder.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// Binding the loopback address failed (port taken by another program).
    #[error("cannot listen on {addr} ({proto}): {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Protocol name.
        proto: &'static str,
        /// Underlying error.
        source: std::io::Error,
    },
}

/// One running forwarder; it stops when dropped.
#[derive(Debug)]
pub struct LoopbackProxy {
    task: JoinHandle<()>,
}

impl Drop for LoopbackProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LoopbackProxy {
    /// Listens on `listen` and forwards every connection (TCP) or datagram flow (UDP) to
    /// `target` (needs a tokio runtime).
    pub async fn start(
        proto: Proto,
        listen: SocketAddr,
        target: SocketAddr,
    ) -> Result<Self, ProxyError> {
        let bind = |source| ProxyError::Bind {
            addr: listen,
            proto: proto.as_str(),
            source,
        };
        let task = match proto {
            Proto::Tcp => {
                let listener = TcpListener::bind(listen).await.map_err(bind)?;
                tokio::spawn(serve_tcp(listener, target))
            }
            Proto::Udp => {
                let socket = UdpSocket::bind(listen).await.map_err(bind)?;
                tokio::spawn(serve_udp(Arc::new(socket), target))
            }
        };
        Ok(Self { task })
    }
}

async fn serve_tcp(listener: TcpListener, target: SocketAddr) {
    loop {
        let Ok((mut client, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            match TcpStream::connect(target).await {
                Ok(mut upstream) => {
                    let _ = client.set_nodelay(true);
                    let _ = upstream.set_nodelay(true);
                    if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await
                    {
                        tracing::debug!(error = %e, %target, "loopback proxy: connection ended");
                    }
                }
                Err(e) => tracing::debug!(error = %e, %target, "loopback proxy: cannot connect"),
            }
        });
    }
}

async fn serve_udp(socket: Arc<UdpSocket>, target: SocketAddr) {
    let flows: Arc<tokio::sync::Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>> = Arc::default();
    let mut buf = vec![0u8; 65536];
    loop {
        let Ok((n, client)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let upstream = {
            let mut map = flows.lock().await;
            match map.get(&client) {
                Some(up) => up.clone(),
                None => {
                    let any: SocketAddr = if target.is_ipv4() {
                        "0.0.0.0:0"
                    } else {
                        "[::]:0"
                    }
                    .parse()
                    .expect("literal");
                    let Ok(up) = UdpSocket::bind(any).await else {
                        continue;
                    };
                    if up.connect(target).await.is_err() {
                        continue;
                    }
                    let up = Arc::new(up);
                    map.insert(client, up.clone());
                    tokio::spawn(udp_replies(
                        up.clone(),
                        socket.clone(),
                        client,
                        flows.clone(),
                    ));
                    up
                }
            }
        };
        let _ = upstream.send(&buf[..n]).await;
    }
}

/// Copies the answers of one flow back to its client until it is idle.
async fn udp_replies(
    upstream: Arc<UdpSocket>,
    socket: Arc<UdpSocket>,
    client: SocketAddr,
    flows: Arc<tokio::sync::Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>>,
) {
    let mut buf = vec![0u8; 65536];
    while let Ok(Ok(n)) = tokio::time::timeout(UDP_IDLE, upstream.recv(&mut buf)).await {
        let _ = socket.send_to(&buf[..n], client).await;
    }
    flows.lock().await.remove(&client);
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn tcp_and_udp_are_forwarded() {
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let echo_addr = echo.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = echo.accept().await.unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(&buf).await.unwrap();
        });
        let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let listen = free.local_addr().unwrap();
        drop(free);
        let proxy = LoopbackProxy::start(Proto::Tcp, listen, echo_addr)
            .await
            .unwrap();
        let mut c = TcpStream::connect(listen).await.unwrap();
        c.write_all(b"hello").await.unwrap();
        let mut got = [0u8; 5];
        c.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello");
        drop(proxy);

        let udp_echo = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let udp_addr = udp_echo.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 64];
            let (n, from) = udp_echo.recv_from(&mut buf).await.unwrap();
            udp_echo.send_to(&buf[..n], from).await.unwrap();
        });
        let free = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let listen = free.local_addr().unwrap();
        drop(free);
        let _proxy = LoopbackProxy::start(Proto::Udp, listen, udp_addr)
            .await
            .unwrap();
        let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        c.send_to(b"ping", listen).await.unwrap();
        let mut buf = [0u8; 64];
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), c.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf[..n], b"ping");
    }
}
