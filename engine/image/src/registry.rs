//! An OCI distribution v2 client over HTTP/1.1 with `hyper`: the transport shared by pulls
//! ([`crate::pull`]) and pushes ([`crate::push`]).
//!
//! It answers `WWW-Authenticate` challenges (bearer tokens fetched with the caller's
//! credentials, or basic auth), follows redirects (dropping credentials on another host) and
//! caps every body it reads. Registries are reached over plain HTTP: loopback ones, those the
//! caller lists as insecure (dockerd's `insecure-registries`) and `registry-mirrors`; TLS is not
//! built in yet, so any other registry is refused with [`RegistryError::TlsUnsupported`].

use std::collections::BTreeSet;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use crate::auth::Credentials;
use crate::reference::DEFAULT_DOMAIN;
use crate::store::StoreError;

pub(crate) const MAX_MANIFEST: u64 = 4 << 20;
pub(crate) const MAX_BLOB: u64 = 32 << 30;
const MAX_REDIRECTS: usize = 5;

/// Errors of registry access.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry needs TLS, which this client does not speak.
    #[error(
        "registry {0} needs HTTPS, which berth does not speak yet; add it to \
         insecure-registries in daemon.json if it serves plain HTTP"
    )]
    TlsUnsupported(String),
    /// TCP connection failed.
    #[error("connect to {host}: {source}")]
    Connect {
        /// host:port.
        host: String,
        /// Cause.
        source: std::io::Error,
    },
    /// HTTP protocol error.
    #[error("http {url}: {source}")]
    Http {
        /// URL.
        url: String,
        /// Cause.
        source: hyper::Error,
    },
    /// Unexpected status.
    #[error("{url}: HTTP {status}{}", if detail.is_empty() { String::new() } else { format!(": {detail}") })]
    Status {
        /// URL.
        url: String,
        /// Status code.
        status: u16,
        /// The registry's error text, if it sent one.
        detail: String,
    },
    /// Authentication failed or a challenge could not be answered.
    #[error("registry auth: {0}")]
    Auth(String),
    /// Malformed URL, manifest or index.
    #[error("invalid registry response: {0}")]
    Invalid(String),
    /// No manifest for the wanted platform in an index.
    #[error("no manifest for {0} in the image index")]
    NoPlatform(String),
    /// A response larger than allowed.
    #[error("{url}: response larger than {limit} bytes")]
    TooLarge {
        /// URL.
        url: String,
        /// Cap.
        limit: u64,
    },
    /// Content did not verify.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RegistryError {
    /// Worth another try: connection trouble or a 5xx/429 answer.
    pub(crate) fn retryable(&self) -> bool {
        match self {
            RegistryError::Connect { .. } | RegistryError::Http { .. } => true,
            RegistryError::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

pub(crate) type Result<T> = std::result::Result<T, RegistryError>;

/// Where the engine may reach registries: dockerd's `insecure-registries` and
/// `registry-mirrors` (both from daemon.json).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryOptions {
    /// `host[:port]` of registries reached over plain HTTP.
    pub insecure: Vec<String>,
    /// Base URLs (`http://host:port`) tried in order for `docker.io` images before Docker Hub.
    pub mirrors: Vec<String>,
}

/// A parsed `http://host[:port]/path` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) path: String,
}

impl Url {
    pub(crate) fn parse(s: &str) -> Result<Url> {
        let rest = s
            .strip_prefix("http://")
            .ok_or_else(|| RegistryError::TlsUnsupported(s.to_owned()))?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (
                h.to_owned(),
                p.parse()
                    .map_err(|_| RegistryError::Invalid(format!("bad port in {s}")))?,
            ),
            _ => (authority.to_owned(), 80),
        };
        if host.is_empty() {
            return Err(RegistryError::Invalid(format!("no host in {s}")));
        }
        let path = if path.is_empty() { "/" } else { path };
        Ok(Url {
            host,
            port,
            path: path.to_owned(),
        })
    }

    pub(crate) fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    pub(crate) fn join(&self, location: &str) -> Result<Url> {
        if location.starts_with('/') {
            Ok(Url {
                path: location.to_owned(),
                ..self.clone()
            })
        } else {
            Url::parse(location)
        }
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}:{}{}", self.host, self.port, self.path)
    }
}

/// Parses `Bearer realm="…",service="…",scope="…"` into the token URL to call.
fn token_url(challenge: &str) -> Result<String> {
    let params = challenge
        .strip_prefix("Bearer ")
        .ok_or_else(|| RegistryError::Auth(format!("unsupported challenge {challenge:?}")))?;
    let mut realm = None;
    let mut query = Vec::new();
    let mut rest = params.trim();
    while !rest.is_empty() {
        let (k, after) = rest
            .split_once('=')
            .ok_or_else(|| RegistryError::Auth(format!("bad challenge {challenge:?}")))?;
        let after = after
            .strip_prefix('"')
            .ok_or_else(|| RegistryError::Auth(format!("bad challenge {challenge:?}")))?;
        let end = after
            .find('"')
            .ok_or_else(|| RegistryError::Auth(format!("bad challenge {challenge:?}")))?;
        let v = &after[..end];
        match k.trim() {
            "realm" => realm = Some(v.to_owned()),
            key => query.push(format!("{key}={}", encode(v))),
        }
        rest = after[end + 1..].trim_start_matches(',').trim();
    }
    let realm = realm.ok_or_else(|| RegistryError::Auth("challenge without realm".into()))?;
    Ok(if query.is_empty() {
        realm
    } else {
        format!("{realm}?{}", query.join("&"))
    })
}

fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The auth state of one session with one registry: the caller's credentials and the
/// `Authorization` value that answered the last challenge.
#[derive(Debug, Clone, Default)]
pub(crate) struct Session {
    pub(crate) credentials: Option<Credentials>,
    pub(crate) authorization: Option<String>,
}

/// One request: method, URL, extra headers and body.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Bytes,
}

impl Call {
    pub(crate) fn get(url: Url) -> Call {
        Call {
            method: Method::GET,
            url,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Call {
        self.headers.push((name, value.into()));
        self
    }
}

/// Talks to registries over plain HTTP.
#[derive(Debug, Clone, Default)]
pub struct RegistryClient {
    insecure: BTreeSet<String>,
    mirrors: Vec<String>,
}

impl RegistryClient {
    /// A client that reaches loopback registries and those in `insecure` (`host:port`).
    pub fn new(insecure: impl IntoIterator<Item = String>) -> RegistryClient {
        RegistryClient {
            insecure: insecure.into_iter().collect(),
            mirrors: Vec::new(),
        }
    }

    /// A client with daemon.json's insecure registries and mirrors.
    pub fn with_options(opts: &RegistryOptions) -> RegistryClient {
        RegistryClient {
            insecure: opts.insecure.iter().cloned().collect(),
            mirrors: opts
                .mirrors
                .iter()
                .map(|m| m.trim_end_matches('/').to_owned())
                .collect(),
        }
    }

    /// Base URLs to try for `domain`, in order: the mirrors for Docker Hub, then the registry.
    pub(crate) fn bases(&self, domain: &str) -> Result<Vec<Url>> {
        let mut out = Vec::new();
        if domain == DEFAULT_DOMAIN {
            for m in &self.mirrors {
                out.push(Url::parse(&format!("{m}/"))?);
            }
        }
        match self.base(domain) {
            Ok(b) => out.push(b),
            Err(e) if out.is_empty() => return Err(e),
            Err(_) => {}
        }
        Ok(out)
    }

    pub(crate) fn base(&self, domain: &str) -> Result<Url> {
        let host = domain.rsplit_once(':').map_or(domain, |(h, _)| h);
        let loopback = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
            || host == "[::1]";
        if domain == DEFAULT_DOMAIN || !(loopback || self.insecure.contains(domain)) {
            return Err(RegistryError::TlsUnsupported(domain.to_owned()));
        }
        Url::parse(&format!("http://{domain}/"))
    }

    async fn send(&self, call: &Call, authorization: Option<&str>) -> Result<Response<Incoming>> {
        let url = &call.url;
        let stream = tokio::net::TcpStream::connect((url.host.trim_matches(['[', ']']), url.port))
            .await
            .map_err(|source| RegistryError::Connect {
                host: url.authority(),
                source,
            })?;
        let http = |source| RegistryError::Http {
            url: url.to_string(),
            source,
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(http)?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "registry connection closed");
            }
        });
        let mut req = Request::builder()
            .method(call.method.clone())
            .uri(&url.path)
            .header("host", url.authority())
            .header("user-agent", concat!("berth/", env!("CARGO_PKG_VERSION")));
        for (k, v) in &call.headers {
            req = req.header(*k, v);
        }
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        let req = req
            .body(Full::new(call.body.clone()))
            .map_err(|e| RegistryError::Invalid(e.to_string()))?;
        sender.send_request(req).await.map_err(http)
    }

    /// Sends `call`, answering one auth challenge and following redirects; returns the first
    /// answer that is neither (any status: callers check it).
    pub(crate) async fn exchange(
        &self,
        mut call: Call,
        session: &mut Session,
    ) -> Result<Response<Incoming>> {
        let origin = call.url.authority();
        let mut challenged = false;
        for _ in 0..=MAX_REDIRECTS {
            let same_host = call.url.authority() == origin;
            let auth = session.authorization.as_deref().filter(|_| same_host);
            let resp = self.send(&call, auth).await?;
            match resp.status() {
                StatusCode::UNAUTHORIZED if !challenged && same_host => {
                    challenged = true;
                    let challenge = resp
                        .headers()
                        .get("www-authenticate")
                        .and_then(|v| v.to_str().ok())
                        .ok_or_else(|| RegistryError::Auth("401 without a challenge".into()))?
                        .to_owned();
                    session.authorization = Some(self.answer(&challenge, session).await?);
                }
                StatusCode::UNAUTHORIZED => {
                    let detail = error_text(resp, &call.url).await;
                    return Err(RegistryError::Auth(format!(
                        "{} refused the credentials{}: {detail}",
                        call.url.authority(),
                        if session.credentials.is_some() {
                            ""
                        } else {
                            " (none given: berth login first)"
                        }
                    )));
                }
                s if s.is_redirection() && s != StatusCode::NOT_MODIFIED => {
                    let loc = resp
                        .headers()
                        .get("location")
                        .and_then(|v| v.to_str().ok())
                        .ok_or_else(|| {
                            RegistryError::Invalid("redirect without location".into())
                        })?;
                    call.url = call.url.join(loc)?;
                    if s != StatusCode::TEMPORARY_REDIRECT && s != StatusCode::PERMANENT_REDIRECT {
                        call.method = Method::GET;
                        call.body = Bytes::new();
                    }
                }
                _ => return Ok(resp),
            }
        }
        Err(RegistryError::Invalid(format!(
            "too many redirects from {}",
            call.url
        )))
    }

    /// Like [`Self::exchange`], but any status other than 2xx becomes an error.
    pub(crate) async fn fetch(
        &self,
        call: Call,
        session: &mut Session,
    ) -> Result<Response<Incoming>> {
        let url = call.url.clone();
        let resp = self.exchange(call, session).await?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let detail = error_text(resp, &url).await;
        Err(RegistryError::Status {
            url: url.to_string(),
            status,
            detail,
        })
    }

    /// The `Authorization` value answering `challenge`.
    async fn answer(&self, challenge: &str, session: &Session) -> Result<String> {
        if challenge.starts_with("Basic") {
            return session
                .credentials
                .as_ref()
                .map(Credentials::basic_header)
                .ok_or_else(|| {
                    RegistryError::Auth(
                        "the registry needs a user name and password: berth login first".into(),
                    )
                });
        }
        let url = Url::parse(&token_url(challenge)?)?;
        let mut call = Call::get(url.clone());
        if let Some(c) = &session.credentials {
            call = call.header("authorization", c.basic_header());
        }
        let resp = self.send(&call, None).await?;
        if resp.status() != StatusCode::OK {
            return Err(RegistryError::Auth(format!(
                "token endpoint {url}: HTTP {}",
                resp.status()
            )));
        }
        let body = read_limited(resp, &url, 1 << 20).await?;
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| RegistryError::Auth(e.to_string()))?;
        v.get("token")
            .or_else(|| v.get("access_token"))
            .and_then(|t| t.as_str())
            .map(|t| format!("Bearer {t}"))
            .ok_or_else(|| RegistryError::Auth("token response without token".into()))
    }
}

/// A short error text from a failed answer's body.
async fn error_text(resp: Response<Incoming>, url: &Url) -> String {
    let body = read_limited(resp, url, 64 << 10).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    let text = text.trim();
    text.chars().take(300).collect()
}

pub(crate) async fn read_limited(
    resp: Response<Incoming>,
    url: &Url,
    limit: u64,
) -> Result<Vec<u8>> {
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|source| RegistryError::Http {
            url: url.to_string(),
            source,
        })?;
        if let Ok(data) = frame.into_data() {
            if out.len() as u64 + data.len() as u64 > limit {
                return Err(RegistryError::TooLarge {
                    url: url.to_string(),
                    limit,
                });
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls_and_challenges() {
        let u = Url::parse("http://127.0.0.1:5000/v2/x?y=1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 5000, "/v2/x?y=1")
        );
        assert_eq!(Url::parse("http://reg").unwrap().path, "/");
        assert!(matches!(
            Url::parse("https://x/"),
            Err(RegistryError::TlsUnsupported(_))
        ));
        assert_eq!(u.join("/a").unwrap().to_string(), "http://127.0.0.1:5000/a");
        let t = token_url(
            r#"Bearer realm="http://h:1/token",service="reg",scope="repository:a/b:pull""#,
        )
        .unwrap();
        assert_eq!(t, "http://h:1/token?service=reg&scope=repository:a/b:pull");
        assert!(token_url("Basic realm=\"x\"").is_err());
    }

    #[test]
    fn only_plain_http_registries_are_reachable() {
        let c = RegistryClient::new(["reg.internal:5000".to_owned()]);
        assert!(c.base("127.0.0.1:5000").is_ok());
        assert!(c.base("localhost:5000").is_ok());
        assert!(c.base("reg.internal:5000").is_ok());
        assert!(matches!(
            c.base("docker.io"),
            Err(RegistryError::TlsUnsupported(_))
        ));
        assert!(matches!(
            c.base("ghcr.io"),
            Err(RegistryError::TlsUnsupported(_))
        ));
    }

    #[test]
    fn docker_hub_goes_to_the_mirrors_first() {
        let c = RegistryClient::with_options(&RegistryOptions {
            insecure: Vec::new(),
            mirrors: vec![
                "http://127.0.0.1:6000/".into(),
                "http://10.0.0.1:5000".into(),
            ],
        });
        let bases: Vec<String> = c
            .bases("docker.io")
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(bases, ["http://127.0.0.1:6000/", "http://10.0.0.1:5000/"]);
        assert_eq!(c.bases("127.0.0.1:5000").unwrap().len(), 1);
        assert!(RegistryClient::default().bases("docker.io").is_err());
    }
}
