//! End-to-end: the daemon serving the fake backend on a real unix socket in a tempdir, driven by
//! the typed client and (when installed) the docker CLI.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::api::models::{
    ContainerConfig, ContainerCreateBody, Filters, NetworkCreateRequest, VolumeCreateRequest,
};
use crate::backend::{ListContainersOptions, LogSource, LogsOptions, WaitCondition};
use crate::client::{Client, ClientError, LogOutput};
use crate::daemon::{bind_socket, serve};
use crate::fake::FakeBackend;

/// A daemon on a socket in its own tempdir; stops and cleans up on drop.
struct TestDaemon {
    dir: tempfile::TempDir,
    socket: PathBuf,
    fake: FakeBackend,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), crate::daemon::DaemonError>>>,
}

impl TestDaemon {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("run/berth.sock");
        let fake = FakeBackend::new(&dir.path().join("data").to_string_lossy());
        let listener = bind_socket(&socket).unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, Arc::new(fake.clone()), async move {
            // A dropped sender also means stop.
            let _ = stopped.await;
        }));
        Self {
            dir,
            socket,
            fake,
            stop: Some(stop),
            task: Some(task),
        }
    }

    fn client(&self) -> Client {
        Client::new(&format!("unix://{}", self.socket.display())).unwrap()
    }

    async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn body(image: &str, labels: &[(&str, &str)]) -> ContainerCreateBody {
    ContainerCreateBody {
        config: ContainerConfig {
            image: image.to_owned(),
            cmd: Some(vec!["sleep".to_owned(), "1".to_owned()]),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..ContainerConfig::default()
        },
        ..ContainerCreateBody::default()
    }
}

#[tokio::test]
async fn client_drives_containers_networks_and_volumes_over_the_socket() {
    let d = TestDaemon::start();
    let mode = std::fs::metadata(&d.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    let mut c = d.client();
    c.ping().await.unwrap();
    c.negotiate_version().await.unwrap();
    assert_eq!(
        c.api_version(),
        "1.41",
        "the client keeps its own version when the engine is newer"
    );
    let v = c.version().await.unwrap();
    assert_eq!(
        (v.api_version.as_str(), v.min_api_version.as_str()),
        ("1.45", "1.24")
    );
    assert_eq!(c.info().await.unwrap().os_type, "linux");

    let progress = c.pull_image("busybox", Some("latest")).await.unwrap();
    assert!(progress.last().unwrap().status.contains("busybox:latest"));
    assert_eq!(
        c.inspect_image("busybox").await.unwrap().repo_tags,
        ["busybox:latest"]
    );
    assert_eq!(
        c.list_images(false, &Filters::default())
            .await
            .unwrap()
            .len(),
        1
    );

    let created = c
        .create_container(Some("e2e-web"), &body("busybox", &[("proj", "e2e")]))
        .await
        .unwrap();
    let err = c
        .create_container(Some("e2e-web"), &body("busybox", &[]))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(409), "{err}");
    c.start_container(&created.id).await.unwrap();
    c.start_container("e2e-web").await.unwrap();
    let opts = ListContainersOptions {
        all: true,
        filters: Filters::default().with("label", "proj=e2e"),
        ..Default::default()
    };
    let list = c.list_containers(&opts).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].names, ["/e2e-web"]);
    assert_eq!(list[0].state, "running");
    let inspect = c.inspect_container("e2e-web").await.unwrap();
    assert_eq!(inspect.id, created.id);
    assert!(inspect.state.running);

    d.fake
        .append_log(&created.id, LogSource::Stdout, b"hello\n")
        .unwrap();
    d.fake
        .append_log(&created.id, LogSource::Stderr, b"oops\n")
        .unwrap();
    let logs: Vec<LogOutput> = c
        .logs(
            "e2e-web",
            &LogsOptions {
                stdout: true,
                stderr: true,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(
        logs,
        [
            LogOutput::StdOut("hello\n".into()),
            LogOutput::StdErr("oops\n".into())
        ]
    );

    c.rename_container("e2e-web", "e2e-renamed").await.unwrap();
    c.rename_container("e2e-renamed", "e2e-web").await.unwrap();
    c.kill_container("e2e-web", Some("SIGTERM")).await.unwrap();
    assert_eq!(
        c.wait_container("e2e-web", WaitCondition::NotRunning)
            .await
            .unwrap()
            .status_code,
        143
    );
    c.restart_container("e2e-web", Some(1)).await.unwrap();
    c.stop_container("e2e-web", Some(1)).await.unwrap();
    c.remove_container("e2e-web", false, false).await.unwrap();
    let err = c.inspect_container("e2e-web").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(
        matches!(&err, ClientError::Api { message, .. } if message == "No such container: e2e-web")
    );

    let net = c
        .create_network(&NetworkCreateRequest {
            name: "e2e_net".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(c.inspect_network("e2e_net").await.unwrap().id, net.id);
    let nets = c
        .list_networks(&Filters::default().with("name", "e2e_net"))
        .await
        .unwrap();
    assert_eq!(nets.len(), 1);
    c.remove_network(&net.id).await.unwrap();
    assert!(
        c.inspect_network("e2e_net")
            .await
            .unwrap_err()
            .is_not_found()
    );

    let vol = c
        .create_volume(&VolumeCreateRequest {
            name: "e2e_vol".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap();
    let data_root = d.path().join("data");
    assert_eq!(
        PathBuf::from(&vol.mountpoint),
        data_root.join("volumes/e2e_vol/_data")
    );
    assert_eq!(c.inspect_volume("e2e_vol").await.unwrap().name, "e2e_vol");
    assert_eq!(
        c.list_volumes(&Filters::default())
            .await
            .unwrap()
            .volumes
            .len(),
        1
    );
    c.remove_volume("e2e_vol", false).await.unwrap();
    assert!(
        c.inspect_volume("e2e_vol")
            .await
            .unwrap_err()
            .is_not_found()
    );

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let events: Vec<_> = c
        .events(
            &Filters::default().with("type", "volume"),
            Some(0),
            Some(now),
        )
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["create", "destroy"]);
    d.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_open_event_streams() {
    let d = TestDaemon::start();
    let c = d.client();
    let mut events = c.events(&Filters::default(), None, None).await.unwrap();
    c.create_volume(&VolumeCreateRequest {
        name: "seen".to_owned(),
        ..Default::default()
    })
    .await
    .unwrap();
    let first = events.next().await.unwrap().unwrap();
    assert_eq!(first.actor.id, "seen");
    d.shutdown().await;
    assert!(
        events.next().await.is_none(),
        "the stream ends when the daemon stops"
    );
}

#[tokio::test]
async fn client_reports_connection_failures_with_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let c = Client::new(&format!("unix://{}/absent.sock", dir.path().display())).unwrap();
    let err = c.ping().await.unwrap_err();
    assert!(matches!(err, ClientError::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains("absent.sock"));
}

#[tokio::test]
async fn followed_logs_stream_until_the_container_exits_and_timestamps_prefix_lines() {
    let d = TestDaemon::start();
    let c = d.client();
    c.pull_image("busybox", None).await.unwrap();
    let id = c
        .create_container(Some("follow-me"), &body("busybox", &[]))
        .await
        .unwrap()
        .id;
    c.start_container(&id).await.unwrap();
    d.fake
        .append_log(&id, LogSource::Stdout, b"before\n")
        .unwrap();
    let opts = LogsOptions {
        stdout: true,
        stderr: true,
        follow: true,
        ..Default::default()
    };
    let mut stream = c.logs(&id, &opts).await.unwrap();
    assert_eq!(
        stream.next().await.unwrap().unwrap(),
        LogOutput::StdOut("before\n".into())
    );
    d.fake
        .append_log(&id, LogSource::Stderr, b"during\n")
        .unwrap();
    assert_eq!(
        stream.next().await.unwrap().unwrap(),
        LogOutput::StdErr("during\n".into())
    );
    d.fake.exit_container(&id, 0).unwrap();
    assert!(
        stream.next().await.is_none(),
        "the follow stream ends when the container exits"
    );

    let opts = LogsOptions {
        stdout: true,
        timestamps: true,
        ..Default::default()
    };
    let lines: Vec<LogOutput> = c
        .logs(&id, &opts)
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    let [LogOutput::StdOut(line)] = lines.as_slice() else {
        panic!("{lines:?}")
    };
    let text = String::from_utf8(line.to_vec()).unwrap();
    let (stamp, rest) = text.split_once(' ').unwrap();
    assert!(humantime::parse_rfc3339(stamp).is_ok(), "{text}");
    assert_eq!(rest, "before\n");
    d.shutdown().await;
}

#[tokio::test]
async fn client_runs_execs_and_attaches_over_hijacked_connections() {
    let d = TestDaemon::start();
    let c = d.client();
    c.pull_image("busybox", None).await.unwrap();
    let id = c
        .create_container(Some("hijack"), &body("busybox", &[]))
        .await
        .unwrap()
        .id;
    let err = c.exec(&id, &["true"]).await.unwrap_err();
    assert_eq!(err.status(), Some(409), "{err}");
    let opts = crate::backend::AttachOptions {
        stdout: true,
        stderr: true,
        ..Default::default()
    };
    let mut attached = c.attach_container(&id, opts).await.unwrap();
    c.start_container(&id).await.unwrap();

    d.fake.set_exec_result(b"exec says hi\n", 4);
    let out = c.exec(&id, &["echo", "hi"]).await.unwrap();
    assert_eq!(out.exit_code, 4);
    assert_eq!(out.output, [LogOutput::StdOut("exec says hi\n".into())]);

    d.fake
        .append_log(&id, LogSource::Stderr, b"attached\n")
        .unwrap();
    assert_eq!(
        attached.next().await.unwrap().unwrap(),
        LogOutput::StdErr("attached\n".into())
    );
    d.fake.exit_container(&id, 0).unwrap();
    assert!(
        attached.next().await.is_none(),
        "attach ends when the container stops"
    );
    d.shutdown().await;
}
