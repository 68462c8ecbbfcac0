//! In-process router tests of the archive endpoints (`docker cp`, `export`, `diff`) over the
//! fake backend.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

use super::router::{Reply, create, new_app, pull, send_request};

/// A tar of `(name, contents)` files (a trailing `/` makes a directory) and `(name, "->target")`
/// symlinks.
pub(super) fn tar_of(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_700_000_000);
        h.set_uid(1000);
        h.set_gid(1000);
        if name.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o750);
            h.set_size(0);
            b.append_data(&mut h, name, std::io::empty()).unwrap();
        } else if let Some(target) = data.strip_prefix("->") {
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_mode(0o777);
            h.set_size(0);
            b.append_link(&mut h, name, target).unwrap();
        } else {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o640);
            h.set_size(data.len() as u64);
            // Written raw: the builder refuses names with `..`, which these tests need.
            let raw = &mut h.as_old_mut().name;
            raw.fill(0);
            raw[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            b.append(&h, data.as_bytes()).unwrap();
        }
    }
    b.into_inner().unwrap()
}

pub(super) async fn put(app: &Router, id: &str, query: &str, tar: Vec<u8>) -> Reply {
    let req = Request::builder()
        .method("PUT")
        .uri(format!("/v1.41/containers/{id}/archive?{query}"))
        .header("content-type", "application/x-tar")
        .body(Body::from(tar))
        .unwrap();
    send_request(app, req).await
}

#[tokio::test]
async fn put_archive_extracts_into_an_existing_directory_with_dockers_errors() {
    let (app, _) = new_app();
    pull(&app, "busybox").await;
    let id = create(&app, "cp1", json!({"Image": "busybox"})).await;
    let tar = tar_of(&[("app/", ""), ("app/conf", "x=1"), ("link", "->/etc")]);
    let r = put(&app, "cp1", "path=/tmp", tar).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    // The directory made by the first copy is a valid destination of the next one.
    let r = put(&app, &id[..12], "path=/tmp/app", tar_of(&[("more", "y")])).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    // A symlink destination is followed inside the container.
    let r = put(&app, "cp1", "path=/tmp/link", tar_of(&[("via-link", "z")])).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let r = put(&app, "cp1", "path=/tmp/app/conf", tar_of(&[("f", "")])).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("not a directory")
    );
    let r = put(&app, "cp1", "path=/nowhere", tar_of(&[("f", "")])).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        r.json()["message"],
        "Could not find the file /nowhere in container cp1"
    );
    let r = put(&app, "missing", "path=/tmp", tar_of(&[("f", "")])).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["message"], "No such container: missing");
    let r = put(&app, "cp1", "", tar_of(&[("f", "")])).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = put(&app, "cp1", "path=/tmp", tar_of(&[("../../etc/evil", "x")])).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["message"].as_str().unwrap().contains("breakout"));
    let r = put(
        &app,
        "cp1",
        "path=/tmp",
        b"not a tar archive at all, just text".repeat(20),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let r = put(
        &app,
        "cp1",
        "path=/tmp&noOverwriteDirNonDir=1",
        tar_of(&[("app", "a file over a directory")]),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("cannot overwrite directory")
    );
}

fn stat_of(r: &Reply) -> serde_json::Value {
    let raw = r.headers["x-docker-container-path-stat"].to_str().unwrap();
    serde_json::from_slice(&berth_image::auth::base64_decode(raw).unwrap()).unwrap()
}

async fn send(app: &Router, method: &str, uri: &str) -> Reply {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    send_request(app, req).await
}

#[tokio::test]
async fn get_and_head_archive_give_dockers_layout_and_path_stat() {
    let (app, _) = new_app();
    pull(&app, "busybox").await;
    create(&app, "cp2", json!({"Image": "busybox"})).await;
    let tar = tar_of(&[("app/", ""), ("app/conf", "x=1"), ("app/link", "->conf")]);
    assert_eq!(
        put(&app, "cp2", "path=/tmp", tar).await.status,
        StatusCode::OK
    );
    let r = send(&app, "HEAD", "/v1.41/containers/cp2/archive?path=/tmp/app").await;
    assert_eq!(r.status, StatusCode::OK);
    let stat = stat_of(&r);
    assert_eq!(stat["name"], "app");
    assert_eq!(stat["mode"].as_u64().unwrap(), (1 << 31) | 0o750);
    let r = send(
        &app,
        "HEAD",
        "/v1.41/containers/cp2/archive?path=/tmp/app/link",
    )
    .await;
    assert_eq!(stat_of(&r)["linkTarget"], "/tmp/app/conf");
    let r = send(&app, "GET", "/v1.41/containers/cp2/archive?path=/tmp/app").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "application/x-tar");
    let mut names = Vec::new();
    let mut archive = tar::Archive::new(&r.body[..]);
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        let mut data = String::new();
        std::io::Read::read_to_string(&mut e, &mut data).unwrap();
        names.push(format!("{name}={data}"));
    }
    assert_eq!(names, ["app/=", "app/conf=x=1", "app/link="]);
    let r = send(
        &app,
        "HEAD",
        "/v1.41/containers/cp2/archive?path=/tmp/nothing",
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = send(
        &app,
        "GET",
        "/v1.41/containers/cp2/archive?path=/tmp/nothing",
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        r.json()["message"],
        "Could not find the file /tmp/nothing in container cp2"
    );
    let r = send(&app, "GET", "/v1.41/containers/nope/archive?path=/").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
