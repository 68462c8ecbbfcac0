//! Where the engine lives (`DOCKER_HOST`) and how one HTTP/1.1 exchange reaches it.

use std::path::PathBuf;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};

use super::ClientError;

/// Default engine address when `DOCKER_HOST` is unset.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// An engine address: `unix:///path` or `tcp://host:port` (`http://` is accepted as `tcp://`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A unix socket path.
    Unix(PathBuf),
    /// A `host:port` reached over TCP.
    Tcp(String),
}

impl Host {
    /// Parses a `DOCKER_HOST` value.
    pub fn parse(text: &str) -> Result<Self, ClientError> {
        let invalid = |reason: &str| ClientError::InvalidHost {
            host: text.to_owned(),
            reason: reason.to_owned(),
        };
        if let Some(path) = text.strip_prefix("unix://") {
            if !path.starts_with('/') {
                return Err(invalid("unix socket path must be absolute"));
            }
            return Ok(Host::Unix(PathBuf::from(path)));
        }
        let addr = text
            .strip_prefix("tcp://")
            .or_else(|| text.strip_prefix("http://"));
        match addr.map(|a| a.trim_end_matches('/')) {
            Some(a)
                if a.rsplit_once(':')
                    .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok()) =>
            {
                Ok(Host::Tcp(a.to_owned()))
            }
            Some(_) => Err(invalid("expected tcp://host:port")),
            None => Err(invalid("expected unix:///path or tcp://host:port")),
        }
    }

    /// The value of the `Host` header for requests to this engine.
    pub(super) fn authority(&self) -> &str {
        match self {
            Host::Unix(_) => "localhost",
            Host::Tcp(a) => a,
        }
    }
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Unix(p) => write!(f, "unix://{}", p.display()),
            Host::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// Sends `req` on a fresh connection to `host` and returns the answer (body still streaming).
pub(super) async fn send(
    host: &Host,
    req: Request<Full<Bytes>>,
) -> Result<Response<Incoming>, ClientError> {
    let connect_err = |source| ClientError::Connect {
        host: host.to_string(),
        source,
    };
    match host {
        Host::Unix(path) => {
            exchange(UnixStream::connect(path).await.map_err(connect_err)?, req).await
        }
        Host::Tcp(addr) => {
            exchange(TcpStream::connect(addr).await.map_err(connect_err)?, req).await
        }
    }
}

async fn exchange<S>(
    stream: S,
    req: Request<Full<Bytes>>,
) -> Result<Response<Incoming>, ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // Upgrades are allowed so attach and exec can take the connection over.
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "engine connection ended with an error");
        }
    });
    Ok(sender.send_request(req).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_parse_like_docker_host() {
        assert_eq!(
            Host::parse("unix:///run/berth/berth.sock").unwrap(),
            Host::Unix("/run/berth/berth.sock".into())
        );
        assert_eq!(
            Host::parse("tcp://127.0.0.1:2375").unwrap(),
            Host::Tcp("127.0.0.1:2375".into())
        );
        assert_eq!(
            Host::parse("http://localhost:2375/").unwrap(),
            Host::Tcp("localhost:2375".into())
        );
        assert!(Host::parse("unix://relative.sock").is_err());
        assert!(Host::parse("tcp://nohost").is_err());
        assert!(Host::parse("ssh://me@box").is_err());
    }
}
