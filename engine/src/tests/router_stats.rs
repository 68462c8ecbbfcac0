//! In-process router tests of `stats` and the terminal resize endpoints over the fake engine.

use axum::http::StatusCode;
use serde_json::json;

use super::router::{call, create, new_app, pull};

#[tokio::test]
async fn stats_one_document_with_previous_sample_and_docker_keys() {
    let (app, _) = new_app();
    pull(&app, "busybox").await;
    create(&app, "st1", json!({"Image": "busybox"})).await;
    call(&app, "POST", "/containers/st1/start", None).await;
    let r = call(&app, "GET", "/v1.41/containers/st1/stats?stream=0", None).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let v = r.json();
    assert_eq!(v["name"], "/st1");
    assert!(v["cpu_stats"]["cpu_usage"]["total_usage"].as_u64().unwrap() > 0);
    assert!(
        v["precpu_stats"]["system_cpu_usage"].as_u64().is_some(),
        "{v}"
    );
    assert_ne!(v["preread"], "0001-01-01T00:00:00Z");
    assert!(v["memory_stats"]["usage"].as_u64().unwrap() > 0);
    assert_eq!(v["pids_stats"]["current"], 1);
    let one = call(
        &app,
        "GET",
        "/containers/st1/stats?stream=false&one-shot=true",
        None,
    )
    .await
    .json();
    assert!(
        one["precpu_stats"].get("system_cpu_usage").is_none(),
        "{one}"
    );
}

#[tokio::test]
async fn stats_of_a_stopped_container_is_an_empty_sample_and_unknown_is_404() {
    let (app, _) = new_app();
    pull(&app, "busybox").await;
    create(&app, "st2", json!({"Image": "busybox"})).await;
    let v = call(&app, "GET", "/containers/st2/stats?stream=1", None)
        .await
        .json();
    assert_eq!(v["read"], "0001-01-01T00:00:00Z");
    let r = call(&app, "GET", "/containers/nope/stats?stream=0", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.json()["message"].as_str().unwrap().contains("nope"));
}

#[tokio::test]
async fn resize_needs_a_size_and_a_known_target() {
    let (app, _) = new_app();
    pull(&app, "busybox").await;
    create(&app, "rs1", json!({"Image": "busybox", "Tty": true})).await;
    call(&app, "POST", "/containers/rs1/start", None).await;
    let r = call(&app, "POST", "/containers/rs1/resize?h=40&w=120", None).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call(&app, "POST", "/containers/rs1/resize?h=40", None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("h=ROWS&w=COLUMNS")
    );
    let r = call(&app, "POST", "/containers/nope/resize?h=1&w=1", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = call(&app, "POST", "/exec/nope/resize?h=1&w=1", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
