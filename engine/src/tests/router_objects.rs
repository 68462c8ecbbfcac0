//! In-process router tests for images, networks, volumes and events.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::router::{call, create, new_app, pull, urlencode};

#[tokio::test]
async fn images_pull_list_inspect_tag_remove() {
    let (app, _) = new_app();
    let r = call(
        &app,
        "POST",
        "/images/create?fromImage=library/busybox&tag=1.36",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let lines: Vec<Value> = String::from_utf8(r.body)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.last().unwrap()["status"],
        "Status: Downloaded newer image for library/busybox:1.36"
    );

    let list = call(&app, "GET", "/v1.41/images/json", None).await.json();
    assert_eq!(list[0]["RepoTags"], json!(["library/busybox:1.36"]));
    let id = list[0]["Id"].as_str().unwrap().to_owned();

    let r = call(&app, "GET", "/images/library/busybox:1.36/json", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["Id"], id.as_str());
    assert_eq!(r.json()["RootFS"]["Type"], "layers");
    let r = call(&app, "GET", "/images/nothere/json", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["message"], "No such image: nothere");

    let r = call(
        &app,
        "POST",
        "/images/library/busybox:1.36/tag?repo=registry.test/bb&tag=v1",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let tags = call(&app, "GET", &format!("/images/{id}/json"), None)
        .await
        .json()["RepoTags"]
        .clone();
    assert_eq!(tags, json!(["library/busybox:1.36", "registry.test/bb:v1"]));
    let r = call(&app, "DELETE", &format!("/images/{id}"), None).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "two tags need force");
    let r = call(&app, "DELETE", "/images/registry.test/bb:v1", None).await;
    assert_eq!(r.json(), json!([{"Untagged": "registry.test/bb:v1"}]));

    let cid = create(&app, "img-user", json!({"Image": "library/busybox:1.36"})).await;
    let r = call(&app, "DELETE", "/images/library/busybox:1.36", None).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    call(&app, "DELETE", &format!("/containers/{cid}"), None).await;
    let r = call(&app, "DELETE", "/images/library/busybox:1.36", None).await;
    assert_eq!(
        r.json(),
        json!([{"Untagged": "library/busybox:1.36"}, {"Deleted": id}])
    );

    let r = call(&app, "POST", "/images/create?fromImage=Bad", None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["message"], "invalid reference format");
    let r = call(&app, "POST", "/images/create", None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn networks_create_list_inspect_connect_remove() {
    let (app, _) = new_app();
    let names = |v: Value| {
        let mut n: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["Name"].as_str().unwrap().to_owned())
            .collect();
        n.sort();
        n
    };
    assert_eq!(
        names(call(&app, "GET", "/networks", None).await.json()),
        ["bridge", "host", "none"]
    );
    let body = json!({"Name": "p_default", "Driver": "bridge", "Labels": {"com.docker.compose.network": "default"},
                      "IPAM": {"Driver": "default", "Config": [{"Subnet": "10.231.0.0/24"}]}, "CheckDuplicate": true});
    let r = call(&app, "POST", "/v1.41/networks/create", Some(body.clone())).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let id = r.json()["Id"].as_str().unwrap().to_owned();
    let r = call(&app, "POST", "/networks/create", Some(body)).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(
        r.json()["message"],
        "network with name p_default already exists"
    );

    let f = urlencode(&json!({"label": ["com.docker.compose.network=default"]}).to_string());
    assert_eq!(
        names(
            call(&app, "GET", &format!("/networks?filters={f}"), None)
                .await
                .json()
        ),
        ["p_default"]
    );
    let net = call(&app, "GET", "/networks/p_default", None).await.json();
    assert_eq!(net["Id"], id.as_str());
    assert_eq!(net["IPAM"]["Config"][0]["Subnet"], "10.231.0.0/24");
    assert_eq!(net["Scope"], "local");

    pull(&app, "busybox").await;
    let cid = create(&app, "netc", json!({"Image": "busybox"})).await;
    let conn = json!({"Container": "netc", "EndpointConfig": {"Aliases": ["web"]}});
    assert_eq!(
        call(
            &app,
            "POST",
            &format!("/networks/{id}/connect"),
            Some(conn.clone())
        )
        .await
        .status,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, "POST", &format!("/networks/{id}/connect"), Some(conn))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    call(&app, "POST", "/containers/netc/start", None).await;
    let inspect = call(&app, "GET", "/containers/netc/json", None)
        .await
        .json();
    assert_eq!(
        inspect["NetworkSettings"]["Networks"]["p_default"]["Aliases"],
        json!(["web"])
    );
    let net = call(&app, "GET", &format!("/networks/{}", &id[..10]), None)
        .await
        .json();
    assert_eq!(net["Containers"][&cid]["Name"], "netc");
    let r = call(&app, "DELETE", "/networks/p_default", None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let disc = json!({"Container": "netc"});
    assert_eq!(
        call(&app, "POST", "/networks/p_default/disconnect", Some(disc))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, "DELETE", "/networks/p_default", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&app, "GET", "/networks/p_default", None).await.status,
        StatusCode::NOT_FOUND
    );
    let r = call(&app, "DELETE", "/networks/bridge", None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.json()["message"],
        "bridge is a pre-defined network and cannot be removed"
    );
}

#[tokio::test]
async fn volumes_create_list_inspect_remove() {
    let (app, _) = new_app();
    let r = call(
        &app,
        "POST",
        "/volumes/create",
        Some(json!({"Name": "data1", "Labels": {"k": "v"}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.json()["Mountpoint"], "/data/volumes/data1/_data");
    assert_eq!(r.json()["Driver"], "local");
    let again = call(
        &app,
        "POST",
        "/volumes/create",
        Some(json!({"Name": "data1"})),
    )
    .await;
    assert_eq!(
        again.status,
        StatusCode::CREATED,
        "creating an existing volume returns it"
    );
    let anon = call(&app, "POST", "/v1.41/volumes/create", None)
        .await
        .json();
    assert_eq!(anon["Name"].as_str().unwrap().len(), 64);

    let f = urlencode(&json!({"label": ["k=v"]}).to_string());
    let list = call(&app, "GET", &format!("/volumes?filters={f}"), None)
        .await
        .json();
    assert_eq!(list["Volumes"].as_array().unwrap().len(), 1);
    assert_eq!(list["Volumes"][0]["Name"], "data1");
    assert_eq!(
        call(&app, "GET", "/volumes", None).await.json()["Volumes"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    pull(&app, "busybox").await;
    let cid = create(
        &app,
        "volc",
        json!({"Image": "busybox", "HostConfig": {"Binds": ["data1:/data", "auto:/x:ro"]}}),
    )
    .await;
    assert_eq!(
        call(&app, "GET", "/volumes/auto", None).await.status,
        StatusCode::OK,
        "binds create named volumes"
    );
    let mounts = call(&app, "GET", "/containers/volc/json", None)
        .await
        .json()["Mounts"]
        .clone();
    assert_eq!(mounts[1]["RW"], false);
    assert_eq!(mounts[0]["Source"], "/data/volumes/data1/_data");
    let r = call(&app, "DELETE", "/volumes/data1", None).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(
        r.json()["message"],
        format!("remove data1: volume is in use - [{cid}]")
    );
    call(&app, "DELETE", "/containers/volc", None).await;
    assert_eq!(
        call(&app, "DELETE", "/volumes/data1", None).await.status,
        StatusCode::NO_CONTENT
    );
    let r = call(&app, "GET", "/volumes/data1", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["message"], "get data1: no such volume");
    let r = call(
        &app,
        "POST",
        "/volumes/create",
        Some(json!({"Name": "bad/name"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn events_replay_history_with_filters_until_now() {
    let (app, _) = new_app();
    pull(&app, "busybox").await;
    let id = create(
        &app,
        "ev1",
        json!({"Image": "busybox", "Labels": {"team": "a"}}),
    )
    .await;
    call(&app, "POST", "/containers/ev1/start", None).await;
    call(
        &app,
        "POST",
        "/volumes/create",
        Some(json!({"Name": "evvol"})),
    )
    .await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let f = urlencode(&json!({"type": ["container"], "label": ["team=a"]}).to_string());
    let r = call(
        &app,
        "GET",
        &format!("/v1.41/events?since=0&until={now}&filters={f}"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let events: Vec<Value> = String::from_utf8(r.body)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["Action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["create", "start"]);
    assert_eq!(events[0]["Actor"]["ID"], id.as_str());
    assert_eq!(events[0]["Actor"]["Attributes"]["name"], "ev1");
    assert_eq!(events[0]["status"], "create");
    let r = call(
        &app,
        "GET",
        &format!(
            "/events?since=0&until={now}&filters={}",
            urlencode(r#"{"type":["volume"]}"#)
        ),
        None,
    )
    .await;
    let text = String::from_utf8(r.body).unwrap();
    assert_eq!(text.lines().count(), 1);
    assert!(text.contains("\"evvol\""));
    let r = call(&app, "GET", "/events?since=yesterday", None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn events_stream_live_messages() {
    let (app, fake) = new_app();
    let stream = tokio::spawn({
        let app = app.clone();
        let f = urlencode(&json!({"type": ["network"]}).to_string());
        async move {
            use http_body_util::BodyExt;
            use tower::ServiceExt;
            let req = axum::http::Request::get(format!("/events?filters={f}"))
                .body(axum::body::Body::empty())
                .unwrap();
            let resp = app.oneshot(req).await.unwrap();
            let mut body = resp.into_body();
            let frame = body.frame().await.unwrap().unwrap();
            frame.into_data().unwrap()
        }
    });
    // Keep creating networks until the subscriber has seen one (it may subscribe late).
    let mut n = 0;
    let first = loop {
        if stream.is_finished() {
            break stream.await.unwrap();
        }
        n += 1;
        let body = json!({"Name": format!("live{n}")});
        call(&app, "POST", "/networks/create", Some(body)).await;
        tokio::task::yield_now().await;
    };
    let event: Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(event["Type"], "network");
    assert_eq!(event["Action"], "create");
    drop(fake);
}
