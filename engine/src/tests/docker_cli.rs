//! The real docker CLI (Debian package `docker.io`, installed by `.ci/run`) against the
//! fake-backed server: `docker version`, `docker ps` and friends must understand berth's answers.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::oneshot;

use crate::api::models::{ContainerConfig, ContainerCreateBody, VolumeCreateRequest};
use crate::backend::LogSource;
use crate::client::Client;
use crate::daemon::{bind_socket, serve};
use crate::fake::FakeBackend;

/// Every distinct `docker` executable on PATH; fails loudly when there is none.
fn docker_binaries() -> Vec<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut found: Vec<PathBuf> = Vec::new();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join("docker");
        let Ok(real) = candidate.canonicalize() else {
            continue;
        };
        if real.is_file() && !found.contains(&real) {
            found.push(real);
        }
    }
    assert!(
        !found.is_empty(),
        "docker CLI not found on PATH: install the Debian package docker.io (.ci/run does)"
    );
    found
}

/// Runs the CLI against `socket` with an isolated config. A hung command fails the test with
/// the command line instead of hanging CI (a guard, not a performance assertion).
async fn docker_output(
    bin: &PathBuf,
    config_dir: &std::path::Path,
    socket: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    let child = tokio::process::Command::new(bin)
        .arg("-H")
        .arg(format!("unix://{}", socket.display()))
        .args(args)
        .env("DOCKER_CONFIG", config_dir)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_API_VERSION")
        .env_remove("DOCKER_TLS_VERIFY")
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(std::time::Duration::from_secs(120), child).await {
        Ok(out) => out.unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display())),
        Err(_) => panic!("{} {args:?} hung for 120 s", bin.display()),
    }
}

async fn docker(
    bin: &PathBuf,
    config_dir: &std::path::Path,
    socket: &std::path::Path,
    args: &[&str],
) -> String {
    let out = docker_output(bin, config_dir, socket, args).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{} {args:?} failed ({}): {stdout}{}",
        bin.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test]
async fn docker_cli_version_ps_network_and_volume_ls_work_against_berth() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker-cli.sock");
    let config_dir = dir.path().join("docker-config");
    std::fs::create_dir(&config_dir).unwrap();
    let fake = FakeBackend::new("/data");
    let listener = bind_socket(&socket).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, Arc::new(fake.clone()), async move {
        // A dropped sender also means stop.
        let _ = stopped.await;
    }));
    let client = Client::new(&format!("unix://{}", socket.display())).unwrap();
    client.pull_image("busybox", None).await.unwrap();
    let body = ContainerCreateBody {
        config: ContainerConfig {
            image: "busybox".to_owned(),
            cmd: Some(vec!["top".to_owned()]),
            ..Default::default()
        },
        ..Default::default()
    };
    client
        .create_container(Some("cli-created"), &body)
        .await
        .unwrap();
    let running = client
        .create_container(Some("cli-running"), &body)
        .await
        .unwrap();
    client.start_container(&running.id).await.unwrap();
    client
        .create_volume(&VolumeCreateRequest {
            name: "cli-vol".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap();

    fake.append_log(&running.id, LogSource::Stdout, b"to stdout\n")
        .unwrap();
    fake.append_log(&running.id, LogSource::Stderr, b"to stderr\n")
        .unwrap();

    for (n, bin) in docker_binaries().into_iter().enumerate() {
        let version = docker(&bin, &config_dir, &socket, &["version"]).await;
        assert!(version.contains("Server: berth"), "{version}");
        assert!(version.contains("1.45 (minimum version 1.24)"), "{version}");
        let fmt = "{{.Server.APIVersion}} {{.Server.MinAPIVersion}} {{.Server.Os}}";
        assert_eq!(
            docker(&bin, &config_dir, &socket, &["version", "--format", fmt])
                .await
                .trim(),
            "1.45 1.24 linux"
        );

        let ps = docker(&bin, &config_dir, &socket, &["ps"]).await;
        let lines: Vec<&str> = ps.lines().collect();
        assert!(lines[0].starts_with("CONTAINER ID"), "{ps}");
        assert_eq!(lines.len(), 2, "only the running container: {ps}");
        assert!(
            lines[1].starts_with(&running.id[..12]) && lines[1].ends_with("cli-running"),
            "{ps}"
        );
        assert!(
            lines[1].contains("busybox:latest")
                && lines[1].contains("\"top\"")
                && lines[1].contains("Up "),
            "{ps}"
        );

        let fmt = "{{.Names}}|{{.Image}}|{{.State}}";
        let all = docker(&bin, &config_dir, &socket, &["ps", "-a", "--format", fmt]).await;
        let mut rows: Vec<&str> = all.lines().collect();
        rows.sort();
        assert_eq!(
            rows,
            [
                "cli-created|busybox:latest|created",
                "cli-running|busybox:latest|running"
            ]
        );

        let nets = docker(
            &bin,
            &config_dir,
            &socket,
            &["network", "ls", "--format", "{{.Name}} {{.Driver}}"],
        )
        .await;
        let mut nets: Vec<&str> = nets.lines().collect();
        nets.sort();
        assert_eq!(nets, ["bridge bridge", "host host", "none null"]);
        let vols = docker(
            &bin,
            &config_dir,
            &socket,
            &["volume", "ls", "--format", "{{.Name}}"],
        )
        .await;
        assert_eq!(vols.trim(), "cli-vol");
        let images = docker(
            &bin,
            &config_dir,
            &socket,
            &["images", "--format", "{{.Repository}}:{{.Tag}}"],
        )
        .await;
        assert_eq!(images.trim(), "busybox:latest");
        cli_lifecycle(&bin, &config_dir, &socket).await;
        cli_exec(&bin, &config_dir, &socket, &fake).await;
        cli_run_attached(&bin, &config_dir, &socket, &fake, &format!("cli-fg-{n}")).await;
        cli_logs_and_events(&bin, &config_dir, &socket, &format!("cli-kill-{n}")).await;
    }
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// Objects created by the CLI itself: its create bodies must parse and come back in inspect.
async fn cli_lifecycle(bin: &PathBuf, config_dir: &std::path::Path, socket: &std::path::Path) {
    let run = async |args: &[&str]| docker(bin, config_dir, socket, args).await;
    run(&["network", "create", "--label", "k=v", "cli-net"]).await;
    run(&["volume", "create", "cli-vol2"]).await;
    let create = [
        "create",
        "--name",
        "cli-made",
        "-l",
        "team=a",
        "-e",
        "A=1",
        "-p",
        "8080:80",
        "--network",
        "cli-net",
        "-v",
        "cli-vol2:/data",
        "--memory",
        "64m",
        "--restart",
        "unless-stopped",
        "busybox",
        "sleep",
        "5",
    ];
    let id = run(&create).await.trim().to_owned();
    assert_eq!(id.len(), 64, "{id}");
    run(&["start", "cli-made"]).await;
    let fmt = "{{.State.Status}} {{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}} {{index .Config.Labels \"team\"}}";
    let inspect = run(&["inspect", "--format", fmt, "cli-made"]).await;
    assert_eq!(inspect.trim(), "running 67108864 unless-stopped a");
    let ports = run(&["port", "cli-made"]).await;
    assert!(ports.contains("80/tcp -> 0.0.0.0:8080"), "{ports}");
    run(&["stop", "-t", "1", "cli-made"]).await;
    run(&["rm", "cli-made"]).await;
    run(&["network", "rm", "cli-net"]).await;
    run(&["volume", "rm", "cli-vol2"]).await;

    let id = run(&[
        "run", "-d", "--name", "cli-run", "-l", "via=run", "busybox", "sleep", "5",
    ])
    .await;
    assert_eq!(id.trim().len(), 64, "{id}");
    run(&["network", "create", "cli-net2"]).await;
    run(&[
        "network", "connect", "--alias", "svc", "cli-net2", "cli-run",
    ])
    .await;
    let fmt = "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}";
    assert_eq!(
        run(&["inspect", "--format", fmt, "cli-run"]).await.trim(),
        "bridge cli-net2"
    );
    run(&["network", "disconnect", "cli-net2", "cli-run"]).await;
    run(&["rm", "-f", "cli-run"]).await;
    run(&["network", "rm", "cli-net2"]).await;

    let pulled = run(&["pull", "alpine:3.19"]).await;
    assert!(
        pulled.contains("Downloaded newer image for alpine:3.19"),
        "{pulled}"
    );
    run(&["tag", "alpine:3.19", "registry.test/alpine:mine"]).await;
    let fmt = "{{.Repository}}:{{.Tag}}";
    let mut tags: Vec<String> = run(&["images", "--format", fmt])
        .await
        .lines()
        .map(str::to_owned)
        .collect();
    tags.sort();
    assert_eq!(
        tags,
        ["alpine:3.19", "busybox:latest", "registry.test/alpine:mine"]
    );
    run(&["rmi", "registry.test/alpine:mine", "alpine:3.19"]).await;
    assert_eq!(
        run(&["images", "--format", fmt]).await.trim(),
        "busybox:latest"
    );
    let left = run(&[
        "ps",
        "-a",
        "--filter",
        "name=cli-made",
        "--format",
        "{{.Names}}",
    ])
    .await;
    assert_eq!(left.trim(), "");
}

/// `docker logs` splits the framed stream back into stdout and stderr; `docker events` replays
/// history; `docker kill`/`wait` report Docker's exit codes.
async fn cli_logs_and_events(
    bin: &PathBuf,
    config_dir: &std::path::Path,
    socket: &std::path::Path,
    name: &str,
) {
    let out = docker_output(bin, config_dir, socket, &["logs", "cli-running"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"to stdout\n");
    assert_eq!(out.stderr, b"to stderr\n");

    let run = async |args: &[&str]| docker(bin, config_dir, socket, args).await;
    run(&["create", "--name", name, "busybox", "sleep", "9"]).await;
    run(&["start", name]).await;
    run(&["pause", name]).await;
    run(&["unpause", name]).await;
    run(&["kill", name]).await;
    assert_eq!(run(&["wait", name]).await.trim(), "137");
    run(&["rm", name]).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let args = [
        "events",
        "--since",
        "0",
        "--until",
        &now,
        "--filter",
        &format!("container={name}"),
        "--format",
        "{{.Action}}",
    ];
    let events = run(&args).await;
    let actions: Vec<&str> = events.lines().collect();
    assert_eq!(
        actions,
        [
            "create", "start", "pause", "unpause", "kill", "die", "destroy"
        ]
    );
}

/// `docker run` without `-d`: attach (connection upgrade), start, stream output, exit code.
async fn cli_run_attached(
    bin: &std::path::Path,
    config_dir: &std::path::Path,
    socket: &std::path::Path,
    fake: &FakeBackend,
    name: &str,
) {
    let run = tokio::spawn({
        let (bin, config_dir, socket, name) = (
            bin.to_path_buf(),
            config_dir.to_owned(),
            socket.to_owned(),
            name.to_owned(),
        );
        async move {
            docker_output(
                &bin,
                &config_dir,
                &socket,
                &["run", "--name", &name, "busybox", "echo"],
            )
            .await
        }
    });
    let client = Client::new(&format!("unix://{}", socket.display())).unwrap();
    let id = loop {
        assert!(
            !run.is_finished(),
            "docker run ended early: {:?}",
            run.await
        );
        match client.inspect_container(name).await {
            Ok(c) if c.state.running => break c.id,
            _ => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    };
    fake.append_log(&id, LogSource::Stdout, b"hello from fg\n")
        .unwrap();
    fake.append_log(&id, LogSource::Stderr, b"warn from fg\n")
        .unwrap();
    fake.exit_container(&id, 3).unwrap();
    let out = run.await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"hello from fg\n");
    assert_eq!(out.stderr, b"warn from fg\n");
    client.remove_container(name, true, false).await.unwrap();
}

/// `docker exec`: exec create, upgraded start, output, and the exit code from exec inspect.
async fn cli_exec(
    bin: &PathBuf,
    config_dir: &std::path::Path,
    socket: &std::path::Path,
    fake: &FakeBackend,
) {
    fake.set_exec_result(b"hi from exec\n", 0);
    let out = docker_output(
        bin,
        config_dir,
        socket,
        &["exec", "cli-running", "echo", "hi"],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"hi from exec\n");
    fake.set_exec_result(b"", 5);
    let out = docker_output(bin, config_dir, socket, &["exec", "cli-running", "false"]).await;
    assert_eq!(out.status.code(), Some(5));
    let out = docker_output(bin, config_dir, socket, &["exec", "cli-created", "true"]).await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not running"),
        "{out:?}"
    );
}
