//! An OCI distribution v2 client over HTTP/1.1 with `hyper`: the transport shared by pulls
//! ([`crate::pull`]) and pushes ([`crate::push`]).
//!
//! It answers `WWW-Authenticate` challenges (bearer tokens fetched with the caller's
//! credentials, or basic auth), follows redirects (dropping credentials on another host) and
//! caps every body it reads. Registries are reached over HTTPS ([`crate::tls`]: system roots
//! plus the registry's `certs.d` directory); insecure ones ([`crate::endpoint`]: loopback and
//! `insecure-registries`) over plain HTTP or unverified TLS, whichever they speak.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use crate::auth::Credentials;
pub(crate) use crate::endpoint::Url;
use crate::endpoint::{Insecure, Scheme, is_insecure};
use crate::reference::DEFAULT_DOMAIN;
use crate::store::StoreError;
use crate::tls::{TlsConfigs, TlsError, server_name};

pub(crate) const MAX_MANIFEST: u64 = 4 << 20;
pub(crate) const MAX_BLOB: u64 = 32 << 30;
const MAX_REDIRECTS: usize = 5;
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Errors of registry access.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The TLS handshake with a registry failed (unknown CA, wrong name, not TLS, …).
    #[error(
        "TLS handshake with registry {registry} failed: {source}; if it uses a private CA, put \
         the CA certificate in {}/ca.crt (client certificates: client.cert and client.key \
         there), or list {registry} in insecure-registries in daemon.json",
        dir.display()
    )]
    Tls {
        /// The registry (`host[:port]`).
        registry: String,
        /// The certs.d directory berth reads for it.
        dir: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The registry's certs.d files are unusable.
    #[error(transparent)]
    TlsConfig(#[from] TlsError),
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
    /// A layer unpacked while downloading was refused (hostile or corrupt archive, wrong
    /// diff-id).
    #[error(transparent)]
    Layer(#[from] Box<crate::layers::LayerError>),
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
/// `registry-mirrors` (both from daemon.json) and the per-registry certificate directories.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryOptions {
    /// Registries reached over plain HTTP or unverified TLS: `host[:port]` or a CIDR.
    pub insecure: Vec<String>,
    /// Base URLs (`http[s]://host[:port]`) tried in order for `docker.io` images before
    /// Docker Hub.
    pub mirrors: Vec<String>,
    /// Directories holding `<host[:port]>/{*.crt,client.cert,client.key}`, in lookup order
    /// (dockerd: [`crate::tls::DEFAULT_CERTS_DIRS`]); empty means the system roots only.
    pub certs_dirs: Vec<PathBuf>,
}

/// Docker Hub's registry endpoint (references say `docker.io`).
pub const DOCKER_HUB: &str = "https://registry-1.docker.io/";

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

/// Talks to registries over HTTPS (or, for insecure ones, whatever they speak).
#[derive(Debug, Clone, Default)]
pub struct RegistryClient {
    insecure: Arc<Vec<Insecure>>,
    mirrors: Vec<String>,
    tls: Arc<TlsConfigs>,
    /// The base URL chosen for each insecure registry (probed once).
    probed: Arc<Mutex<HashMap<String, Url>>>,
}

impl RegistryClient {
    /// A client that reaches loopback registries and those in `insecure` (`host[:port]` or
    /// CIDR) insecurely, any other over HTTPS verified against the system roots.
    pub fn new(insecure: impl IntoIterator<Item = String>) -> RegistryClient {
        RegistryClient::with_options(&RegistryOptions {
            insecure: insecure.into_iter().collect(),
            ..RegistryOptions::default()
        })
    }

    /// A client with daemon.json's insecure registries and mirrors and the certs.d directories.
    pub fn with_options(opts: &RegistryOptions) -> RegistryClient {
        RegistryClient {
            insecure: Arc::new(opts.insecure.iter().map(|e| Insecure::parse(e)).collect()),
            mirrors: opts
                .mirrors
                .iter()
                .map(|m| m.trim_end_matches('/').to_owned())
                .collect(),
            tls: Arc::new(TlsConfigs::new(opts.certs_dirs.clone())),
            probed: Arc::default(),
        }
    }

    /// Base URLs to try for `domain`, in order: the mirrors for Docker Hub, then the registry.
    pub(crate) async fn bases(&self, domain: &str) -> Result<Vec<Url>> {
        let mut out = Vec::new();
        if domain == DEFAULT_DOMAIN {
            for m in &self.mirrors {
                let mut u = Url::parse(&format!("{m}/"))?;
                u.verify = !is_insecure(&self.insecure, &u.registry_name()).await;
                out.push(u);
            }
        }
        match self.base(domain).await {
            Ok(b) => out.push(b),
            Err(e) if out.is_empty() => return Err(e),
            Err(e) => tracing::warn!(registry = domain, error = %e, "registry unreachable"),
        }
        Ok(out)
    }

    /// The base URL of `domain`: HTTPS, or for an insecure registry whatever it speaks
    /// (probed once with a plain `GET /v2/`).
    pub(crate) async fn base(&self, domain: &str) -> Result<Url> {
        if domain == DEFAULT_DOMAIN {
            return Url::parse(DOCKER_HUB);
        }
        let mut https = Url::parse(&format!("https://{domain}/"))?;
        if !is_insecure(&self.insecure, domain).await {
            return Ok(https);
        }
        if let Some(u) = self
            .probed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(domain)
        {
            return Ok(u.clone());
        }
        https.verify = false;
        let mut http = https.clone();
        http.scheme = Scheme::Http;
        http.port = Url::parse(&format!("http://{domain}/"))?.port;
        let chosen = if self.speaks_plain_http(&http).await? {
            http
        } else {
            https
        };
        self.probed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(domain.to_owned(), chosen.clone());
        Ok(chosen)
    }

    /// Whether the server at `base` answers plain HTTP (rather than TLS): any HTTP answer but
    /// Go's "client sent an HTTP request to an HTTPS server" 400.
    async fn speaks_plain_http(&self, base: &Url) -> Result<bool> {
        let call = Call::get(base.join("/v2/")?);
        let probe = tokio::time::timeout(PROBE_TIMEOUT, self.send(&call, None)).await;
        Ok(match probe {
            Ok(Ok(resp)) if resp.status() == StatusCode::BAD_REQUEST => {
                !error_text(resp, base).await.contains("HTTPS server")
            }
            Ok(Ok(_)) => true,
            Ok(Err(e @ RegistryError::Connect { .. })) => return Err(e),
            Ok(Err(_)) | Err(_) => false,
        })
    }

    async fn send(&self, call: &Call, authorization: Option<&str>) -> Result<Response<Incoming>> {
        let url = &call.url;
        let stream = tokio::net::TcpStream::connect((url.host.trim_matches(['[', ']']), url.port))
            .await
            .map_err(|source| RegistryError::Connect {
                host: url.authority(),
                source,
            })?;
        stream.set_nodelay(true).ok();
        match url.scheme {
            Scheme::Http => {
                self.send_on(TokioIo::new(stream), call, authorization)
                    .await
            }
            Scheme::Https => {
                let registry = url.registry_name();
                let name = server_name(&url.host)
                    .ok_or_else(|| RegistryError::Invalid(format!("bad host name in {url}")))?;
                let config = self.tls.config(&registry, url.verify)?;
                let tls = tokio_rustls::TlsConnector::from(config)
                    .connect(name, stream)
                    .await
                    .map_err(|source| RegistryError::Tls {
                        dir: self.tls.dir_for(&registry),
                        registry,
                        source,
                    })?;
                self.send_on(TokioIo::new(tls), call, authorization).await
            }
        }
    }

    async fn send_on<IO>(
        &self,
        io: IO,
        call: &Call,
        authorization: Option<&str>,
    ) -> Result<Response<Incoming>>
    where
        IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let url = &call.url;
        let http = |source| RegistryError::Http {
            url: url.to_string(),
            source,
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
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
                    session.authorization =
                        Some(self.answer(&challenge, session, &call.url).await?);
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
    async fn answer(&self, challenge: &str, session: &Session, origin: &Url) -> Result<String> {
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
        let mut url = Url::parse(&token_url(challenge)?)?;
        if url.host == origin.host {
            url.verify = origin.verify;
        }
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
    fn parses_challenges() {
        let t = token_url(
            r#"Bearer realm="http://h:1/token",service="reg",scope="repository:a/b:pull""#,
        )
        .unwrap();
        assert_eq!(t, "http://h:1/token?service=reg&scope=repository:a/b:pull");
        assert!(token_url("Basic realm=\"x\"").is_err());
    }

    #[tokio::test]
    async fn secure_registries_are_https() {
        let c = RegistryClient::new(["reg.internal:5000".to_owned()]);
        assert_eq!(
            c.base("docker.io").await.unwrap().to_string(),
            "https://registry-1.docker.io:443/"
        );
        let g = c.base("ghcr.io").await.unwrap();
        assert_eq!((g.scheme, g.verify), (Scheme::Https, true));
        let p = c.base("reg.example:5443").await.unwrap();
        assert_eq!(
            (p.registry_name().as_str(), p.verify),
            ("reg.example:5443", true)
        );
    }

    #[tokio::test]
    async fn docker_hub_goes_to_the_mirrors_first() {
        let c = RegistryClient::with_options(&RegistryOptions {
            insecure: vec!["10.0.0.0/8".into()],
            mirrors: vec![
                "https://mirror.example/".into(),
                "http://10.0.0.1:5000".into(),
            ],
            certs_dirs: Vec::new(),
        });
        let bases = c.bases("docker.io").await.unwrap();
        let shown: Vec<String> = bases.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "https://mirror.example:443/",
                "http://10.0.0.1:5000/",
                "https://registry-1.docker.io:443/"
            ]
        );
        assert!(bases[0].verify);
        assert_eq!(c.bases("ghcr.io").await.unwrap().len(), 1);
    }
}
