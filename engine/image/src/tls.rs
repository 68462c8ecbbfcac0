//! TLS for registry connections (rustls with the `ring` provider): which roots to trust and
//! which client certificate to present for one registry, as dockerd decides it.
//!
//! Roots are the system store (`rustls-native-certs`: `/etc/ssl/certs` on Debian) plus every
//! `*.crt` file in the registry's directory under the certs directories (by default
//! `/etc/berth/certs.d/<host[:port]>/` and, as a fallback, `/etc/docker/certs.d/<host[:port]>/`).
//! A `*.cert` file there with a `*.key` of the same stem is the client certificate. Registries
//! that dockerd would reach insecurely (`insecure-registries`, loopback) get TLS without
//! certificate verification when they speak TLS at all.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

/// Where dockerd-style per-registry certificate directories live, in lookup order.
pub const DEFAULT_CERTS_DIRS: [&str; 2] = ["/etc/berth/certs.d", "/etc/docker/certs.d"];

/// Errors building a TLS configuration for a registry.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file could not be read.
    #[error("read {path}: {source}")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A certificate or key file holds no usable PEM item.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the configuration (for example a key that does not match its cert).
    #[error("TLS configuration for {registry}: {source}")]
    Config {
        /// The registry (`host[:port]`).
        registry: String,
        /// Cause.
        source: rustls::Error,
    },
}

fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    Arc::clone(PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())))
}

/// The system's trusted roots, loaded once per process (unreadable entries are skipped with a
/// warning, as an empty store is still usable with a certs.d CA).
fn system_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::warn!(error = %e, "skipping an unreadable system certificate");
        }
        let mut roots = RootCertStore::empty();
        let (added, ignored) = roots.add_parsable_certificates(found.certs);
        tracing::debug!(added, ignored, "system certificate roots");
        roots
    })
}

/// The certificates of one registry directory (`ca.crt`, `client.cert`, `client.key`, …).
#[derive(Debug, Default)]
struct RegistryCerts {
    roots: Vec<CertificateDer<'static>>,
    client: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
}

fn certs_from(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let data = std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&data)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: path.to_owned(),
            reason: "no PEM certificate in the file".into(),
        });
    }
    Ok(certs)
}

fn read_dir(dir: &Path) -> Result<RegistryCerts, TlsError> {
    let read_err = |source| TlsError::Read {
        path: dir.to_owned(),
        source,
    };
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_err)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(read_err)?;
    names.sort();
    let mut out = RegistryCerts::default();
    for path in &names {
        match path.extension().and_then(|e| e.to_str()) {
            Some("crt") => out.roots.extend(certs_from(path)?),
            Some("cert") => {
                let key = path.with_extension("key");
                if !key.exists() {
                    return Err(TlsError::Pem {
                        path: path.clone(),
                        reason: format!("client certificate without its key {}", key.display()),
                    });
                }
                let k = PrivateKeyDer::from_pem_file(&key).map_err(|e| TlsError::Pem {
                    path: key.clone(),
                    reason: e.to_string(),
                })?;
                out.client = Some((certs_from(path)?, k));
            }
            Some("key") if !path.with_extension("cert").exists() => {
                return Err(TlsError::Pem {
                    path: path.clone(),
                    reason: format!(
                        "client key without its certificate {}",
                        path.with_extension("cert").display()
                    ),
                });
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Builds the rustls configuration of a registry connection; certs.d is read for every
/// connection, as dockerd does, so a CA dropped in takes effect without a restart.
#[derive(Debug, Default)]
pub(crate) struct TlsConfigs {
    certs_dirs: Vec<PathBuf>,
}

impl TlsConfigs {
    pub(crate) fn new(certs_dirs: Vec<PathBuf>) -> TlsConfigs {
        TlsConfigs { certs_dirs }
    }

    /// The directory berth reads for `registry` (the first existing one, else the first
    /// candidate), for error hints.
    pub(crate) fn dir_for(&self, registry: &str) -> PathBuf {
        self.certs_dirs
            .iter()
            .map(|d| d.join(registry))
            .find(|d| d.is_dir())
            .or_else(|| self.certs_dirs.first().map(|d| d.join(registry)))
            .unwrap_or_else(|| Path::new(DEFAULT_CERTS_DIRS[0]).join(registry))
    }

    /// The client configuration for `registry` (`host[:port]`, as references spell it); with
    /// `verify` false the server certificate is not checked (insecure registries).
    pub(crate) fn config(
        &self,
        registry: &str,
        verify: bool,
    ) -> Result<Arc<ClientConfig>, TlsError> {
        let dir = self
            .certs_dirs
            .iter()
            .map(|d| d.join(registry))
            .find(|d| d.is_dir());
        let certs = match &dir {
            Some(d) => read_dir(d)?,
            None => RegistryCerts::default(),
        };
        let cfg_err = |source| TlsError::Config {
            registry: registry.to_owned(),
            source,
        };
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(cfg_err)?;
        let builder = if verify {
            let mut roots = system_roots().clone();
            for c in certs.roots {
                roots.add(c).map_err(cfg_err)?;
            }
            builder.with_root_certificates(roots)
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(
                    provider().signature_verification_algorithms,
                )))
        };
        let mut config = match certs.client {
            Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(cfg_err)?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// The server name rustls checks for `host` (an IP literal or a DNS name).
pub(crate) fn server_name(host: &str) -> Option<ServerName<'static>> {
    ServerName::try_from(host.trim_matches(['[', ']']).to_owned()).ok()
}

/// Accepts any server certificate (still checking handshake signatures): dockerd's behaviour
/// for registries listed in `insecure-registries`.
#[derive(Debug)]
struct NoVerify(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &str =
        "-----BEGIN CERTIFICATE-----\nMIIBXzCCAQWgAwIBAgIUBmWq\n-----END CERTIFICATE-----\n";

    #[test]
    fn certs_dirs_are_read_and_bad_files_named() {
        let root = tempfile::tempdir().unwrap();
        let tls = TlsConfigs::new(vec![root.path().join("a"), root.path().join("b")]);
        assert_eq!(tls.dir_for("reg:5000"), root.path().join("a/reg:5000"));
        std::fs::create_dir_all(root.path().join("b/reg:5000")).unwrap();
        assert_eq!(tls.dir_for("reg:5000"), root.path().join("b/reg:5000"));
        // No files: the system roots alone.
        tls.config("reg:5000", true).unwrap();
        tls.config("reg:5000", false).unwrap();

        let dir = root.path().join("b/other");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.crt"), "not pem").unwrap();
        let e = tls.config("other", true).unwrap_err().to_string();
        assert!(e.contains("ca.crt") && e.contains("no PEM"), "{e}");

        std::fs::write(dir.join("ca.crt"), CERT).unwrap();
        std::fs::write(dir.join("client.cert"), CERT).unwrap();
        let e = tls.config("other", true).unwrap_err().to_string();
        assert!(e.contains("without its key"), "{e}");
        std::fs::remove_file(dir.join("client.cert")).unwrap();
        std::fs::write(dir.join("client.key"), "x").unwrap();
        let e = tls.config("other", true).unwrap_err().to_string();
        assert!(e.contains("without its certificate"), "{e}");
    }

    #[test]
    fn server_names_accept_ips_and_hosts() {
        assert!(server_name("10.1.2.3").is_some());
        assert!(server_name("[::1]").is_some());
        assert!(server_name("reg.example").is_some());
        assert!(server_name("bad name").is_none());
    }
}
