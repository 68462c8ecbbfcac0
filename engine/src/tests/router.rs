//! In-process router tests (`tower::ServiceExt::oneshot`): system endpoints, version prefixes,
//! error bodies and the container family.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::api::server::app;
use crate::backend::LogSource;
use crate::fake::FakeBackend;

pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Vec<u8>,
}

impl Reply {
    pub(super) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

pub(super) fn new_app() -> (Router, FakeBackend) {
    let fake = FakeBackend::new("/data");
    (app(Arc::new(fake.clone())), fake)
}

pub(super) async fn call(app: &Router, method: &str, uri: &str, body: Option<Value>) -> Reply {
    let mut req = Request::builder().method(method).uri(uri);
    let body = match body {
        Some(v) => {
            req = req.header("content-type", "application/json");
            Body::from(serde_json::to_vec(&v).unwrap())
        }
        None => Body::empty(),
    };
    send_request(app, req.body(body).unwrap()).await
}

/// Sends a built request through the router and collects the whole reply.
pub(super) async fn send_request(app: &Router, req: Request<Body>) -> Reply {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

pub(super) async fn pull(app: &Router, image: &str) {
    let r = call(
        app,
        "POST",
        &format!("/v1.41/images/create?fromImage={image}&tag=latest"),
        None,
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
}

pub(super) async fn create(app: &Router, name: &str, body: Value) -> String {
    let r = call(
        app,
        "POST",
        &format!("/containers/create?name={name}"),
        Some(body),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()["Id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn ping_get_and_head_answer_ok_with_api_version_header() {
    let (app, _) = new_app();
    for method in ["GET", "HEAD"] {
        for uri in ["/_ping", "/v1.41/_ping"] {
            let r = call(&app, method, uri, None).await;
            assert_eq!(r.status, StatusCode::OK, "{method} {uri}");
            assert_eq!(r.headers["api-version"], "1.45");
            assert_eq!(r.headers["ostype"], "linux");
            let expected: &[u8] = if method == "GET" { b"OK" } else { b"" };
            assert_eq!(r.body, expected);
        }
    }
}

#[tokio::test]
async fn version_reports_api_and_min_api_versions() {
    let (app, _) = new_app();
    for uri in ["/version", "/v1.24/version", "/v1.45/version"] {
        let r = call(&app, "GET", uri, None).await;
        assert_eq!(r.status, StatusCode::OK);
        let v = r.json();
        assert_eq!(v["ApiVersion"], "1.45");
        assert_eq!(v["MinAPIVersion"], "1.24");
        assert_eq!(v["Os"], "linux");
        assert_eq!(v["Components"][0]["Name"], "Engine");
    }
}

#[tokio::test]
async fn versions_outside_the_supported_range_are_rejected_with_docker_messages() {
    let (app, _) = new_app();
    let r = call(&app, "GET", "/v1.23/version", None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json()["message"],
        "client version 1.23 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version"
    );
    let r = call(&app, "GET", "/v1.99/containers/json", None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json()["message"],
        "client version 1.99 is too new. Maximum supported API version is 1.45"
    );
}

#[tokio::test]
async fn unknown_endpoints_and_methods_are_404_page_not_found() {
    let (app, _) = new_app();
    for (method, uri) in [
        ("GET", "/nope"),
        ("GET", "/v1.41/containers/abc/nope"),
        ("PUT", "/containers/json"),
        ("GET", "/swarm"),
    ] {
        let r = call(&app, method, uri, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {uri}");
        assert_eq!(
            r.json(),
            json!({"message": "page not found"}),
            "{method} {uri}"
        );
    }
}

#[tokio::test]
async fn info_counts_containers_and_images() {
    let (app, _) = new_app();
    pull(&app, "busybox").await;
    let id = create(&app, "info-c1", json!({"Image": "busybox"})).await;
    call(&app, "POST", &format!("/containers/{id}/start"), None).await;
    let info = call(&app, "GET", "/v1.41/info", None).await.json();
    assert_eq!(info["Containers"], 1);
    assert_eq!(info["ContainersRunning"], 1);
    assert_eq!(info["Images"], 1);
    assert_eq!(info["OSType"], "linux");
    assert_eq!(info["DockerRootDir"], "/data");
}

#[tokio::test]
async fn container_lifecycle_create_list_inspect_start_stop_remove() {
    let (app, _) = new_app();
    pull(&app, "busybox").await;
    let body = json!({
        "Image": "busybox", "Cmd": ["sleep", "60"], "Labels": {"com.docker.compose.project": "p1"},
        "ExposedPorts": {"80/tcp": {}}, "Env": null, "Unknown": {"ignored": true},
        "HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}, "Binds": null,
                       "RestartPolicy": {"Name": "unless-stopped"}, "Memory": 1048576},
    });
    let id = create(&app, "web-1", body).await;
    assert_eq!(id.len(), 64);

    let list = call(&app, "GET", "/containers/json", None).await.json();
    assert_eq!(
        list,
        json!([]),
        "stopped containers are hidden without all=1"
    );
    let list = call(&app, "GET", "/v1.41/containers/json?all=1", None)
        .await
        .json();
    assert_eq!(list[0]["Id"], id.as_str());
    assert_eq!(list[0]["Names"], json!(["/web-1"]));
    assert_eq!(list[0]["Image"], "busybox:latest");
    assert_eq!(list[0]["Command"], "sleep 60");
    assert_eq!(list[0]["State"], "created");
    assert_eq!(list[0]["Status"], "Created");
    assert_eq!(list[0]["Labels"]["com.docker.compose.project"], "p1");
    assert!(list[0]["ImageID"].as_str().unwrap().starts_with("sha256:"));

    assert_eq!(
        call(&app, "POST", "/containers/web-1/start", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&app, "POST", "/containers/web-1/start", None)
            .await
            .status,
        StatusCode::NOT_MODIFIED
    );
    let list = call(&app, "GET", "/containers/json", None).await.json();
    assert_eq!(list[0]["State"], "running");
    assert!(list[0]["Status"].as_str().unwrap().starts_with("Up "));
    assert_eq!(
        list[0]["Ports"],
        json!([{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}])
    );
    assert_eq!(
        list[0]["NetworkSettings"]["Networks"]["bridge"]["NetworkID"]
            .as_str()
            .unwrap()
            .len(),
        64
    );

    let short = &id[..12];
    let inspect = call(&app, "GET", &format!("/containers/{short}/json"), None)
        .await
        .json();
    assert_eq!(inspect["Id"], id.as_str());
    assert_eq!(inspect["Name"], "/web-1");
    assert_eq!(inspect["State"]["Status"], "running");
    assert_eq!(inspect["State"]["Running"], true);
    assert_eq!(inspect["Path"], "sleep");
    assert_eq!(inspect["Args"], json!(["60"]));
    assert_eq!(
        inspect["HostConfig"]["RestartPolicy"]["Name"],
        "unless-stopped"
    );
    assert_eq!(inspect["HostConfig"]["Memory"], 1048576);
    assert_eq!(inspect["Config"]["ExposedPorts"], json!({"80/tcp": {}}));

    let r = call(&app, "DELETE", "/containers/web-1", None).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("You cannot remove a running container")
    );

    assert_eq!(
        call(&app, "POST", "/containers/web-1/stop?t=1", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&app, "POST", "/containers/web-1/stop", None)
            .await
            .status,
        StatusCode::NOT_MODIFIED
    );
    let inspect = call(&app, "GET", "/containers/web-1/json", None)
        .await
        .json();
    assert_eq!(inspect["State"]["Status"], "exited");
    assert_eq!(inspect["State"]["ExitCode"], 143);
    assert_eq!(
        call(&app, "DELETE", "/containers/web-1", None).await.status,
        StatusCode::NO_CONTENT
    );
    let r = call(&app, "GET", "/containers/web-1/json", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json(), json!({"message": "No such container: web-1"}));
}

#[tokio::test]
async fn container_create_errors_map_to_docker_statuses() {
    let (app, _) = new_app();
    let r = call(
        &app,
        "POST",
        "/containers/create?name=c1",
        Some(json!({"Image": "missing"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["message"], "No such image: missing");
    pull(&app, "busybox").await;
    create(&app, "dup", json!({"Image": "busybox"})).await;
    let r = call(
        &app,
        "POST",
        "/containers/create?name=dup",
        Some(json!({"Image": "busybox"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("is already in use by container")
    );
    let r = call(
        &app,
        "POST",
        "/containers/create?name=bad%20name",
        Some(json!({"Image": "busybox"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = call(
        &app,
        "POST",
        "/containers/create",
        Some(json!({"Image": "busybox", "HostConfig": 7})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON body")
    );
    let r = call(
        &app,
        "POST",
        "/containers/create?name=n1",
        Some(json!({"Image": "busybox", "HostConfig": {"NetworkMode": "nonet"}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["message"], "network nonet not found");
}

#[tokio::test]
async fn list_filters_by_label_name_and_status() {
    let (app, _) = new_app();
    pull(&app, "busybox").await;
    let a = create(
        &app,
        "fa",
        json!({"Image": "busybox", "Labels": {"proj": "x", "svc": "web"}}),
    )
    .await;
    let b = create(
        &app,
        "fb",
        json!({"Image": "busybox", "Labels": {"proj": "y"}}),
    )
    .await;
    call(&app, "POST", &format!("/containers/{b}/start"), None).await;
    let q = |f: Value| {
        format!(
            "/containers/json?all=true&filters={}",
            urlencode(&f.to_string())
        )
    };
    let ids = |v: Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|c| c["Id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(call(&app, "GET", &q(json!({"label": ["proj=x"]})), None)
            .await
            .json()),
        vec![a.clone()]
    );
    assert_eq!(
        ids(call(&app, "GET", &q(json!({"label": {"svc": true}})), None)
            .await
            .json()),
        vec![a.clone()]
    );
    assert_eq!(
        ids(call(&app, "GET", &q(json!({"status": ["running"]})), None)
            .await
            .json()),
        vec![b.clone()]
    );
    assert_eq!(
        ids(call(&app, "GET", &q(json!({"name": ["fa"]})), None)
            .await
            .json()),
        vec![a]
    );
    let r = call(&app, "GET", "/containers/json?filters=notjson", None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn kill_wait_pause_top_and_restart() {
    let (app, _) = new_app();
    pull(&app, "busybox").await;
    let id = create(&app, "kw", json!({"Image": "busybox"})).await;
    let r = call(&app, "POST", &format!("/containers/{id}/kill"), None).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(
        call(&app, "GET", "/containers/kw/top", None).await.status,
        StatusCode::CONFLICT
    );
    call(&app, "POST", "/containers/kw/start", None).await;
    let top = call(&app, "GET", "/containers/kw/top", None).await.json();
    assert_eq!(top["Titles"], json!(["PID", "CMD"]));
    assert_eq!(
        call(&app, "POST", "/containers/kw/pause", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&app, "GET", "/containers/kw/json", None).await.json()["State"]["Paused"],
        true
    );
    assert_eq!(
        call(&app, "POST", "/containers/kw/unpause", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&app, "POST", "/containers/kw/kill?signal=SIGINT", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let wait = call(&app, "POST", "/containers/kw/wait", None).await;
    assert_eq!(wait.json(), json!({"StatusCode": 130}));
    assert_eq!(
        call(&app, "POST", "/containers/kw/restart", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&app, "GET", "/containers/kw/json", None).await.json()["State"]["Running"],
        true
    );
    let r = call(&app, "POST", "/containers/kw/kill?signal=NOPE", None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = call(&app, "POST", "/containers/kw/wait?condition=sometime", None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn wait_returns_when_the_container_exits() {
    let (app, fake) = new_app();
    pull(&app, "busybox").await;
    let id = create(&app, "waiter", json!({"Image": "busybox"})).await;
    call(&app, "POST", &format!("/containers/{id}/start"), None).await;
    let waiter = tokio::spawn({
        let app = app.clone();
        let id = id.clone();
        async move {
            call(
                &app,
                "POST",
                &format!("/containers/{id}/wait?condition=not-running"),
                None,
            )
            .await
        }
    });
    tokio::task::yield_now().await;
    fake.exit_container(&id, 3).unwrap();
    let r = waiter.await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["StatusCode"], 3);
}

#[tokio::test]
async fn logs_are_multiplexed_with_docker_headers_unless_tty() {
    let (app, fake) = new_app();
    pull(&app, "busybox").await;
    let id = create(&app, "logger", json!({"Image": "busybox"})).await;
    fake.append_log(&id, LogSource::Stdout, b"out\n").unwrap();
    fake.append_log(&id, LogSource::Stderr, b"err\n").unwrap();
    let r = call(
        &app,
        "GET",
        "/v1.45/containers/logger/logs?stdout=1&stderr=1",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.headers["content-type"],
        "application/vnd.docker.multiplexed-stream"
    );
    assert_eq!(
        r.body,
        b"\x01\x00\x00\x00\x00\x00\x00\x04out\n\x02\x00\x00\x00\x00\x00\x00\x04err\n"
    );
    let r = call(&app, "GET", "/containers/logger/logs?stderr=1", None).await;
    assert_eq!(r.body, b"\x02\x00\x00\x00\x00\x00\x00\x04err\n");
    let r = call(
        &app,
        "GET",
        "/containers/logger/logs?stdout=1&stderr=1&tail=1",
        None,
    )
    .await;
    assert_eq!(r.body, b"\x02\x00\x00\x00\x00\x00\x00\x04err\n");
    let r = call(&app, "GET", "/containers/logger/logs", None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let tty = create(&app, "ttylogger", json!({"Image": "busybox", "Tty": true})).await;
    fake.append_log(&tty, LogSource::Stdout, b"raw\n").unwrap();
    let r = call(
        &app,
        "GET",
        "/v1.45/containers/ttylogger/logs?stdout=1",
        None,
    )
    .await;
    assert_eq!(
        r.headers["content-type"],
        "application/vnd.docker.raw-stream"
    );
    assert_eq!(r.body, b"raw\n");
}

pub(super) fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("x", s)])
        .unwrap()
        .trim_start_matches("x=")
        .to_owned()
}

#[tokio::test]
async fn rename_checks_names_and_conflicts() {
    let (app, _) = new_app();
    pull(&app, "busybox").await;
    let id = create(&app, "old-name", json!({"Image": "busybox"})).await;
    create(&app, "taken", json!({"Image": "busybox"})).await;
    let r = call(&app, "POST", "/containers/old-name/rename?name=taken", None).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = call(
        &app,
        "POST",
        "/containers/old-name/rename?name=old-name",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = call(
        &app,
        "POST",
        "/containers/old-name/rename?name=new-name",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        call(&app, "GET", "/containers/new-name/json", None)
            .await
            .json()["Id"],
        id.as_str()
    );
    assert_eq!(
        call(&app, "GET", "/containers/old-name/json", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn endpoints_keyed_default_attach_to_the_bridge_as_recent_docker_clis_send() {
    let (app, _) = new_app();
    pull(&app, "busybox").await;
    let body = json!({"Image": "busybox", "HostConfig": {"NetworkMode": "default"},
                      "NetworkingConfig": {"EndpointsConfig": {"default": {"Aliases": null}}}});
    create(&app, "defnet", body).await;
    let nets = call(&app, "GET", "/containers/defnet/json", None)
        .await
        .json()["NetworkSettings"]["Networks"]
        .clone();
    assert_eq!(
        nets.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["bridge"]
    );
}

/// Regression: `docker run -d` hung because the CLI waits for the headers of its `wait` request
/// before it starts the container.
#[tokio::test]
async fn wait_sends_headers_before_the_container_exits() {
    let (app, fake) = new_app();
    pull(&app, "busybox").await;
    let id = create(&app, "early-headers", json!({"Image": "busybox"})).await;
    let req = Request::post(format!("/containers/{id}/wait?condition=next-exit"))
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    call(&app, "POST", &format!("/containers/{id}/start"), None).await;
    fake.exit_container(&id, 7).unwrap();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"StatusCode": 7})
    );
    let r = call(&app, "POST", "/containers/nobody/wait", None).await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "unknown containers fail before the headers"
    );
}

#[tokio::test]
async fn attach_requires_a_connection_upgrade_and_an_existing_container() {
    let (app, _) = new_app();
    pull(&app, "busybox").await;
    create(&app, "attach-me", json!({"Image": "busybox"})).await;
    let r = call(
        &app,
        "POST",
        "/containers/attach-me/attach?stream=1&stdout=1",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let req = Request::post("/containers/nobody/attach?stream=1&stdout=1")
        .header("connection", "Upgrade")
        .header("upgrade", "tcp")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.clone().oneshot(req).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn exec_create_start_detached_and_inspect() {
    let (app, fake) = new_app();
    pull(&app, "busybox").await;
    create(&app, "exec-me", json!({"Image": "busybox"})).await;
    let cmd = json!({"Cmd": ["ls", "-l"], "AttachStdout": true});
    let r = call(&app, "POST", "/containers/exec-me/exec", Some(cmd.clone())).await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "exec needs a running container"
    );
    call(&app, "POST", "/containers/exec-me/start", None).await;
    let r = call(
        &app,
        "POST",
        "/containers/exec-me/exec",
        Some(json!({"Cmd": []})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = call(&app, "POST", "/containers/exec-me/exec", Some(cmd)).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let exec_id = r.json()["Id"].as_str().unwrap().to_owned();
    let before = call(&app, "GET", &format!("/exec/{exec_id}/json"), None)
        .await
        .json();
    assert_eq!(before["ExitCode"], Value::Null);
    assert_eq!(before["ProcessConfig"]["entrypoint"], "ls");
    fake.set_exec_result(b"", 2);
    let r = call(
        &app,
        "POST",
        &format!("/exec/{exec_id}/start"),
        Some(json!({"Detach": false})),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "attached start needs an upgrade"
    );
    let r = call(
        &app,
        "POST",
        &format!("/exec/{exec_id}/start"),
        Some(json!({"Detach": true})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let after = call(&app, "GET", &format!("/exec/{exec_id}/json"), None)
        .await
        .json();
    assert_eq!(
        (after["ExitCode"].clone(), after["Running"].clone()),
        (json!(2), json!(false))
    );
    let r = call(
        &app,
        "POST",
        &format!("/exec/{exec_id}/start"),
        Some(json!({"Detach": true})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(
        call(&app, "GET", "/exec/nope/json", None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn resize_is_accepted_for_known_containers_and_execs() {
    let (app, _) = new_app();
    pull(&app, "busybox").await;
    create(&app, "resize-me", json!({"Image": "busybox"})).await;
    call(&app, "POST", "/containers/resize-me/start", None).await;
    let r = call(&app, "POST", "/containers/resize-me/resize?h=24&w=80", None).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call(&app, "POST", "/containers/nobody/resize?h=24&w=80", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let exec = call(
        &app,
        "POST",
        "/containers/resize-me/exec",
        Some(json!({"Cmd": ["sh"], "Tty": true})),
    )
    .await;
    let exec_id = exec.json()["Id"].as_str().unwrap().to_owned();
    let r = call(
        &app,
        "POST",
        &format!("/exec/{exec_id}/resize?h=24&w=80"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        call(&app, "POST", "/exec/nope/resize", None).await.status,
        StatusCode::NOT_FOUND
    );
}
