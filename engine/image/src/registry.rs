//! A minimal OCI distribution v2 client (pull) over HTTP/1.1 with `hyper`.
//!
//! It fetches a manifest by tag or digest (following an image index to the manifest of the
//! running platform), then the config and layer blobs, streaming each into the content store
//! with digest and size verification, and records the image. Anonymous bearer-token auth
//! (`WWW-Authenticate: Bearer realm=…`) and blob redirects are followed. TLS is not built in:
//! only plain-HTTP registries are reachable (loopback ones, and those the caller lists as
//! insecure, like dockerd's `insecure-registries`).

use std::collections::BTreeSet;
use std::io::Write;

use http_body_util::{BodyExt, Empty};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use oci_spec::image::{ImageIndex as OciIndex, ImageManifest};

use crate::digest::{Algorithm, Digest};
use crate::images::{ImageError, ImageStore, ImageSummary, oci_digest};
use crate::reference::{DEFAULT_DOMAIN, Reference};
use crate::store::StoreError;

const MAX_MANIFEST: u64 = 4 << 20;
const MAX_BLOB: u64 = 32 << 30;
const MAX_REDIRECTS: usize = 5;
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// Errors of registry access.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry needs TLS, which this client does not speak.
    #[error(
        "registry {0} needs HTTPS; only plain-HTTP (loopback or insecure) registries are supported"
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
    #[error("{url}: HTTP {status}")]
    Status {
        /// URL.
        url: String,
        /// Status code.
        status: u16,
    },
    /// Authentication challenge that could not be answered.
    #[error("registry auth: {0}")]
    Auth(String),
    /// Malformed URL, manifest or index.
    #[error("invalid registry response: {0}")]
    Invalid(String),
    /// No manifest for this platform in an index.
    #[error("no manifest for linux/{0} in the image index")]
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

type Result<T> = std::result::Result<T, RegistryError>;

/// A parsed `http://host[:port]/path` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Url {
    host: String,
    port: u16,
    path: String,
}

impl Url {
    fn parse(s: &str) -> Result<Url> {
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

    fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    fn join(&self, location: &str) -> Result<Url> {
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

/// Pulls images from plain-HTTP registries.
#[derive(Debug, Clone, Default)]
pub struct RegistryClient {
    insecure: BTreeSet<String>,
}

impl RegistryClient {
    /// A client that reaches loopback registries and those in `insecure` (`host:port`).
    pub fn new(insecure: impl IntoIterator<Item = String>) -> RegistryClient {
        RegistryClient {
            insecure: insecure.into_iter().collect(),
        }
    }

    fn base(&self, domain: &str) -> Result<Url> {
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

    async fn send(
        &self,
        url: &Url,
        accept: Option<&str>,
        token: Option<&str>,
    ) -> Result<Response<Incoming>> {
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
        let mut req = Request::get(&url.path).header("host", url.authority());
        if let Some(a) = accept {
            req = req.header("accept", a);
        }
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = req
            .body(Empty::<Bytes>::new())
            .map_err(|e| RegistryError::Invalid(e.to_string()))?;
        sender.send_request(req).await.map_err(http)
    }

    /// GET with bearer-token auth and redirects; returns a 200 response.
    async fn get(
        &self,
        start: Url,
        accept: Option<&str>,
        token: &mut Option<String>,
    ) -> Result<Response<Incoming>> {
        let origin = start.authority();
        let mut url = start;
        let mut authed = false;
        for _ in 0..=MAX_REDIRECTS {
            let same_host = url.authority() == origin;
            let resp = self
                .send(&url, accept, token.as_deref().filter(|_| same_host))
                .await?;
            match resp.status() {
                StatusCode::OK => return Ok(resp),
                StatusCode::UNAUTHORIZED if !authed => {
                    authed = true;
                    let challenge = resp
                        .headers()
                        .get("www-authenticate")
                        .and_then(|v| v.to_str().ok())
                        .ok_or_else(|| RegistryError::Auth("401 without a challenge".into()))?
                        .to_owned();
                    *token = Some(self.fetch_token(&challenge).await?);
                }
                s if s.is_redirection() => {
                    let loc = resp
                        .headers()
                        .get("location")
                        .and_then(|v| v.to_str().ok())
                        .ok_or_else(|| {
                            RegistryError::Invalid("redirect without location".into())
                        })?;
                    url = url.join(loc)?;
                }
                s => {
                    return Err(RegistryError::Status {
                        url: url.to_string(),
                        status: s.as_u16(),
                    });
                }
            }
        }
        Err(RegistryError::Invalid(format!(
            "too many redirects from {url}"
        )))
    }

    async fn fetch_token(&self, challenge: &str) -> Result<String> {
        let url = Url::parse(&token_url(challenge)?)?;
        let resp = self.send(&url, None, None).await?;
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
            .map(str::to_owned)
            .ok_or_else(|| RegistryError::Auth("token response without token".into()))
    }

    async fn manifest(
        &self,
        base: &Url,
        repo: &str,
        target: &str,
        token: &mut Option<String>,
    ) -> Result<Vec<u8>> {
        let url = base.join(&format!("/v2/{repo}/manifests/{target}"))?;
        let resp = self.get(url.clone(), Some(ACCEPT), token).await?;
        read_limited(resp, &url, MAX_MANIFEST).await
    }

    /// Pulls `reference` into `store` and names the image after it.
    pub async fn pull(
        &self,
        store: &ImageStore,
        reference: &str,
    ) -> std::result::Result<ImageSummary, ImageError> {
        let r = Reference::parse_normalized(reference)?;
        let base = self.base(r.domain())?;
        let mut token = None;
        let target = r
            .digest()
            .map_or_else(|| r.tag().unwrap_or("latest").to_owned(), Digest::to_string);
        let mut bytes = self.manifest(&base, r.path(), &target, &mut token).await?;
        let mut digest = Digest::of_bytes(Algorithm::Sha256, &bytes);
        if let Some(expected) = r.digest()
            && Digest::of_bytes(expected.algorithm(), &bytes) != *expected
        {
            return Err(
                RegistryError::Invalid(format!("manifest does not match {expected}")).into(),
            );
        }
        let doc: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| RegistryError::Invalid(e.to_string()))?;
        if doc.get("manifests").is_some() {
            let index = OciIndex::from_reader(&bytes[..])
                .map_err(|e| RegistryError::Invalid(e.to_string()))?;
            let arch = crate::import::go_arch();
            let pick = index
                .manifests()
                .iter()
                .find(|m| {
                    m.platform().as_ref().is_some_and(|p| {
                        p.os().to_string() == "linux" && p.architecture().to_string() == arch
                    })
                })
                .ok_or_else(|| RegistryError::NoPlatform(arch.to_owned()))?;
            let want = oci_digest(pick.digest())?;
            bytes = self
                .manifest(&base, r.path(), &want.to_string(), &mut token)
                .await?;
            digest = Digest::of_bytes(want.algorithm(), &bytes);
            if digest != want {
                return Err(
                    RegistryError::Invalid(format!("manifest does not match {want}")).into(),
                );
            }
        }
        let manifest = ImageManifest::from_reader(&bytes[..])
            .map_err(|e| RegistryError::Invalid(e.to_string()))?;
        let _ingest = store.ingest_guard();
        let mut blobs = vec![(
            oci_digest(manifest.config().digest())?,
            manifest.config().size(),
        )];
        for l in manifest.layers() {
            blobs.push((oci_digest(l.digest())?, l.size()));
        }
        for (d, size) in &blobs {
            if !store.content().contains(d) {
                self.blob(store, &base, r.path(), d, *size, &mut token)
                    .await?;
            }
        }
        let (stored, _) = store
            .content()
            .write_blob(&bytes[..], Some(&digest), MAX_MANIFEST)
            .map_err(RegistryError::from)?;
        store.commit_image(&stored, &[r])
    }

    async fn blob(
        &self,
        store: &ImageStore,
        base: &Url,
        repo: &str,
        digest: &Digest,
        size: u64,
        token: &mut Option<String>,
    ) -> Result<()> {
        let url = base.join(&format!("/v2/{repo}/blobs/{digest}"))?;
        let resp = self.get(url.clone(), None, token).await?;
        let limit = size.min(MAX_BLOB);
        let mut w = store.content().writer(digest.algorithm(), limit)?;
        let mut body = resp.into_body();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|source| RegistryError::Http {
                url: url.to_string(),
                source,
            })?;
            if let Ok(data) = frame.into_data()
                && w.write_all(&data).is_err()
            {
                return Err(if w.exceeded() {
                    RegistryError::TooLarge {
                        url: url.to_string(),
                        limit,
                    }
                } else {
                    RegistryError::Invalid(format!("writing blob {digest} failed"))
                });
            }
        }
        w.commit(Some(digest))?;
        Ok(())
    }
}

async fn read_limited(resp: Response<Incoming>, url: &Url, limit: u64) -> Result<Vec<u8>> {
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
}
