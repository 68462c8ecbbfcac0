//! Registry transport over TLS against an in-process rustls server on loopback with a CA the
//! test makes: verification against certs.d, the error naming the directory to use, client
//! certificates, unverified TLS for insecure registries and the plain-HTTP/TLS probe.

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::endpoint::{Scheme, Url};
use crate::registry::{Call, RegistryClient, RegistryError, RegistryOptions, Session};

struct Pki {
    ca: rcgen::Certificate,
    ca_key: KeyPair,
}

impl Pki {
    fn new() -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = params.self_signed(&ca_key).unwrap();
        Pki { ca, ca_key }
    }

    /// A leaf for `names` as (cert PEM, key PEM).
    fn leaf(&self, names: &[&str]) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// Serves `GET /v2/` → 200 over TLS on a loopback port; with `client_ca` it demands a client
/// certificate signed by that CA.
async fn serve(pki: &Pki, client_ca: bool) -> u16 {
    let (cert, key) = pki.leaf(&["127.0.0.1"]);
    let chain = vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if client_ca {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pki.ca.der().clone()).unwrap();
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = builder.with_single_cert(chain, key).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let svc = hyper::service::service_fn(|_req| async {
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from("{}"))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    port
}

fn client(certs: &Path) -> RegistryClient {
    RegistryClient::with_options(&RegistryOptions {
        certs_dirs: vec![certs.join("berth"), certs.join("docker")],
        ..RegistryOptions::default()
    })
}

async fn get(c: &RegistryClient, port: u16, verify: bool) -> Result<u16, RegistryError> {
    let mut url = Url::parse(&format!("https://127.0.0.1:{port}/v2/")).unwrap();
    url.verify = verify;
    let resp = c.fetch(Call::get(url), &mut Session::default()).await?;
    Ok(resp.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_ca_is_trusted_only_from_certs_d() {
    let pki = Pki::new();
    let port = serve(&pki, false).await;
    let certs = tempfile::tempdir().unwrap();
    let e = get(&client(certs.path()), port, true).await.unwrap_err();
    let text = e.to_string();
    let dir = certs.path().join(format!("berth/127.0.0.1:{port}"));
    assert!(matches!(e, RegistryError::Tls { .. }), "{e}");
    assert!(
        text.contains(&format!("{}/ca.crt", dir.display()))
            && text.contains("insecure-registries")
            && text.contains(&format!("127.0.0.1:{port}")),
        "{text}"
    );
    // Docker's directory as the fallback.
    let docker = certs.path().join(format!("docker/127.0.0.1:{port}"));
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(docker.join("ca.crt"), pki.ca.pem()).unwrap();
    assert_eq!(get(&client(certs.path()), port, true).await.unwrap(), 200);
    // Insecure registries skip verification altogether.
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(get(&client(empty.path()), port, false).await.unwrap(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_come_from_certs_d() {
    let pki = Pki::new();
    let port = serve(&pki, true).await;
    let certs = tempfile::tempdir().unwrap();
    let dir = certs.path().join(format!("berth/127.0.0.1:{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ca.crt"), pki.ca.pem()).unwrap();
    assert!(get(&client(certs.path()), port, true).await.is_err());
    let (cert, key) = pki.leaf(&["berth-client"]);
    std::fs::write(dir.join("client.cert"), cert).unwrap();
    std::fs::write(dir.join("client.key"), key).unwrap();
    assert_eq!(get(&client(certs.path()), port, true).await.unwrap(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_registries_speaking_tls_are_probed_as_https() {
    let pki = Pki::new();
    let port = serve(&pki, false).await;
    let c = RegistryClient::default();
    let base = c.base(&format!("127.0.0.1:{port}")).await.unwrap();
    assert_eq!((base.scheme, base.verify), (Scheme::Https, false));
    let shut = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed = shut.local_addr().unwrap().port();
    drop(shut);
    let e = c.base(&format!("127.0.0.1:{closed}")).await.unwrap_err();
    assert!(matches!(e, RegistryError::Connect { .. }), "{e}");
}
