//! Pull tests against an in-process fake OCI registry on loopback: bearer-token auth, an image
//! index resolved to the running platform, blob redirects and digest verification.

mod common;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use berth_image::digest::{Algorithm, Digest};
use berth_image::images::{ImageError, ImageStore};
use berth_image::layers::LayerError;
use berth_image::registry::{RegistryClient, RegistryError};
use berth_image::store::StoreError;
use common::{E, RawTar};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::json;

const TOKEN: &str = "s3cret";

struct Fake {
    port: u16,
    routes: HashMap<String, (String, Vec<u8>)>,
    token_requests: AtomicUsize,
}

type Shared = Arc<std::sync::Mutex<Option<Arc<Fake>>>>;

fn handle(fake: &Fake, req: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let resp = |status: u16, body: Vec<u8>| {
        Response::builder()
            .status(status)
            .body(Full::new(Bytes::from(body)))
            .unwrap()
    };
    if path == "/token" {
        fake.token_requests.fetch_add(1, Ordering::SeqCst);
        return resp(200, json!({ "token": TOKEN }).to_string().into_bytes());
    }
    if let Some(hex) = path.strip_prefix("/storage/") {
        return match fake.routes.get(&format!("blob:{hex}")) {
            Some((_, b)) => resp(200, b.clone()),
            None => resp(404, vec![]),
        };
    }
    let authed = req
        .headers()
        .get("authorization")
        .is_some_and(|v| v == &format!("Bearer {TOKEN}")[..]);
    if !authed {
        let challenge = format!(
            r#"Bearer realm="http://127.0.0.1:{}/token",service="fake",scope="repository:x:pull""#,
            fake.port
        );
        return Response::builder()
            .status(401)
            .header("www-authenticate", challenge)
            .body(Full::new(Bytes::new()))
            .unwrap();
    }
    if let Some(rest) = path.strip_prefix("/v2/")
        && let Some((_, digest)) = rest.split_once("/blobs/")
    {
        let hex = digest.trim_start_matches("sha256:");
        return Response::builder()
            .status(307)
            .header("location", format!("/storage/{hex}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
    }
    match fake.routes.get(&path) {
        Some((ct, body)) => Response::builder()
            .status(200)
            .header("content-type", ct.as_str())
            .body(Full::new(Bytes::from(body.clone())))
            .unwrap(),
        None => resp(404, vec![]),
    }
}

/// Starts the fake registry; returns its port and a handle to install routes.
async fn start() -> (u16, Shared) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let shared: Shared = Arc::new(std::sync::Mutex::new(None));
    let s2 = shared.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let fake = s2.lock().unwrap().clone().expect("routes installed");
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let fake = fake.clone();
                    async move { Ok::<_, Infallible>(handle(&fake, &req)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (port, shared)
}

fn sha(b: &[u8]) -> Digest {
    Digest::of_bytes(Algorithm::Sha256, b)
}

/// Installs `team/app` (index → manifest → config + gzip layer), `team/bad` (corrupt layer) and
/// `team/lie` (a sound layer whose config names another diff-id).
fn routes(port: u16) -> (Fake, Digest) {
    let layer_tar = RawTar::new()
        .add(E::file(b"hello.txt", b"hello from the registry"))
        .finish();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, &layer_tar).unwrap();
    let layer = enc.finish().unwrap();
    let config = serde_json::to_vec(&json!({
        "architecture": berth_image::import::go_arch(), "os": "linux",
        "config": {"Cmd": ["/hello"]},
        "rootfs": {"type": "layers", "diff_ids": [sha(&layer_tar).to_string()]},
    }))
    .unwrap();
    let lying_config = serde_json::to_vec(&json!({
        "architecture": berth_image::import::go_arch(), "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [sha(b"another tar").to_string()]},
    }))
    .unwrap();
    let manifest_with = |config: &[u8], layer_digest: &Digest| {
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": sha(config).to_string(), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": layer_digest.to_string(), "size": layer.len()}],
        }))
        .unwrap()
    };
    let manifest = |layer_digest: &Digest| manifest_with(&config, layer_digest);
    let good = manifest(&sha(&layer));
    let bad_digest = sha(b"the real layer");
    let bad = manifest(&bad_digest);
    let lie = manifest_with(&lying_config, &sha(&layer));
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(b"other").to_string(),
             "size": 5, "platform": {"os": "linux", "architecture": "s390x"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(&good).to_string(),
             "size": good.len(), "platform": {"os": "linux", "architecture": berth_image::import::go_arch()}},
        ],
    }))
    .unwrap();
    let mut r = HashMap::new();
    let oci = |t: &str| format!("application/vnd.oci.image.{t}.v1+json");
    r.insert(
        "/v2/team/app/manifests/latest".into(),
        (oci("index"), index),
    );
    r.insert(
        format!("/v2/team/app/manifests/{}", sha(&good)),
        (oci("manifest"), good.clone()),
    );
    r.insert("/v2/team/bad/manifests/v1".into(), (oci("manifest"), bad));
    r.insert("/v2/team/lie/manifests/v1".into(), (oci("manifest"), lie));
    r.insert(
        format!("blob:{}", sha(&lying_config).hex()),
        (String::new(), lying_config),
    );
    r.insert(
        format!("blob:{}", sha(&config).hex()),
        (String::new(), config),
    );
    r.insert(
        format!("blob:{}", sha(&layer).hex()),
        (String::new(), layer.clone()),
    );
    let mut corrupt = layer;
    corrupt[20] ^= 0xff;
    r.insert(
        format!("blob:{}", bad_digest.hex()),
        (String::new(), corrupt),
    );
    let fake = Fake {
        port,
        routes: r,
        token_requests: AtomicUsize::new(0),
    };
    (fake, sha(&good))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_by_tag_follows_auth_index_and_redirects() {
    let (port, shared) = start().await;
    let (fake, manifest_digest) = routes(port);
    let fake = Arc::new(fake);
    *shared.lock().unwrap() = Some(fake.clone());
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let client = RegistryClient::default();
    let name = format!("127.0.0.1:{port}/team/app");
    let s = client.pull(&store, &name).await.unwrap();
    assert_eq!(s.manifest, manifest_digest);
    assert_eq!(s.references, vec![format!("{name}:latest")]);
    assert_eq!(fake.token_requests.load(Ordering::SeqCst), 1);
    let cfg = store.image_config(&name).unwrap();
    assert_eq!(
        cfg.config().as_ref().unwrap().cmd().as_deref().unwrap(),
        ["/hello"]
    );

    // The layer was unpacked while it downloaded, under its diff-id, with no staging left.
    let diff_id = store.image_config(&name).unwrap().rootfs().diff_ids()[0]
        .parse::<Digest>()
        .unwrap();
    assert!(store.layers().contains(&diff_id));
    assert_eq!(
        std::fs::read(store.layers().diff_dir(&diff_id).join("hello.txt")).unwrap(),
        b"hello from the registry"
    );
    assert_eq!(staging_leftovers(dir.path()), Vec::<String>::new());

    let by_digest = format!("{name}@{manifest_digest}");
    let again = client.pull(&store, &by_digest).await.unwrap();
    assert_eq!(again.id, s.id);
    assert_eq!(store.resolve(&by_digest).unwrap().id, s.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_blob_is_refused_and_nothing_recorded() {
    let (dir, store, name, e, port) = failed_pull("team/bad:v1").await;
    assert!(
        matches!(
            e,
            ImageError::Registry(ref r)
                if matches!(**r, RegistryError::Store(StoreError::DigestMismatch { .. }))
        ),
        "{e}"
    );
    assert!(matches!(store.resolve(&name), Err(ImageError::NotFound(_))));
    assert_eq!(staging_leftovers(dir.path()), Vec::<String>::new());
    assert!(store.layers().list().unwrap().is_empty());
    let e = RegistryClient::default()
        .pull(&store, &format!("127.0.0.1:{port}/team/missing:v1"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ImageError::Registry(ref r) if matches!(**r, RegistryError::Status { status: 404, .. })
        ),
        "{e}"
    );
}

/// Pulls `repo_tag` from a fresh fake registry into a fresh store, expecting the pull to fail:
/// the store's directory, the store, the full name, the error and the registry's port.
async fn failed_pull(repo_tag: &str) -> (tempfile::TempDir, ImageStore, String, ImageError, u16) {
    let (port, shared) = start().await;
    let (fake, _) = routes(port);
    *shared.lock().unwrap() = Some(Arc::new(fake));
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let name = format!("127.0.0.1:{port}/{repo_tag}");
    let e = RegistryClient::default()
        .pull(&store, &name)
        .await
        .unwrap_err();
    (dir, store, name, e, port)
}

/// Names under the layer cache that are not complete layers (staging directories).
fn staging_leftovers(root: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(root.join("layers"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layer_not_matching_its_diff_id_is_refused_while_streaming() {
    let (dir, store, name, e, _) = failed_pull("team/lie:v1").await;
    assert!(
        matches!(
            e,
            ImageError::Registry(ref r)
                if matches!(**r, RegistryError::Layer(ref l)
                    if matches!(**l, LayerError::DiffIdMismatch { .. }))
        ),
        "{e}"
    );
    assert!(e.to_string().contains("diff-id mismatch"), "{e}");
    assert!(matches!(store.resolve(&name), Err(ImageError::NotFound(_))));
    assert!(store.layers().list().unwrap().is_empty());
    assert_eq!(staging_leftovers(dir.path()), Vec::<String>::new());
}

#[test]
fn pull_future_can_be_spawned() {
    fn assert_send<T: Send>(_: &T) {}
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let client = RegistryClient::default();
    let fut = client.pull(&store, "127.0.0.1:1/x");
    assert_send(&fut);
}
