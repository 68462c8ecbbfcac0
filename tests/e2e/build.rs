//! Image builds end to end: `berth image build` and `berth build` against a real engine with
//! the busybox base: a multi-stage build whose config matches Docker's for the same
//! Dockerfile, `.dockerignore`, determinism and the step cache.

use std::path::Path;

use crate::harness::Engine;
use crate::util::{Project, show};

const MULTI_STAGE: &str = r#"FROM e2e-busybox:latest AS build
ARG GREETING=hello
WORKDIR /src
COPY greet.txt .
RUN echo "$GREETING from build" > /src/out.txt && cat greet.txt >> /src/out.txt

FROM e2e-busybox:latest
ARG PORT=8080
ENV APP_HOME=/app PORT=$PORT
WORKDIR $APP_HOME
COPY --from=build /src/out.txt ./out.txt
COPY . /ctx/
USER 1000:1000
EXPOSE $PORT
LABEL org.example.stage=final
HEALTHCHECK --interval=5s --timeout=2s --retries=3 CMD cat /app/out.txt
ENTRYPOINT ["cat"]
CMD ["/app/out.txt"]
"#;

/// The `config` Docker (BuildKit) writes for [`MULTI_STAGE`] with `--build-arg GREETING=hi`.
const MULTI_STAGE_CONFIG: &str = r#"{
  "ArgsEscaped": true,
  "Cmd": ["/app/out.txt"],
  "Entrypoint": ["cat"],
  "Env": ["APP_HOME=/app", "PORT=8080"],
  "ExposedPorts": {"8080/tcp": {}},
  "Healthcheck": {
    "Interval": 5000000000,
    "Retries": 3,
    "Test": ["CMD-SHELL", "cat /app/out.txt"],
    "Timeout": 2000000000
  },
  "Labels": {"org.example.stage": "final"},
  "User": "1000:1000",
  "WorkingDir": "/app"
}"#;

/// The stored config document of an image, read from the engine's content store.
fn image_config(e: &Engine, image: &str) -> serde_json::Value {
    let id = e.ok(&["inspect", "-f", "{{.Id}}", image]);
    let hex = id.trim_start_matches("sha256:");
    let blob = e.data_root().join("images/content/blobs/sha256").join(hex);
    serde_json::from_slice(&std::fs::read(&blob).expect("read config blob")).expect("config json")
}

fn build(e: &Engine, dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["image", "build"];
    all.extend_from_slice(args);
    e.berth(dir).arg_list(&all).ok()
}

#[test]
fn build_multi_stage_matches_docker_config() {
    let e = Engine::start("build_multi");
    let p = Project::new();
    p.file("Dockerfile", MULTI_STAGE)
        .file("greet.txt", "greetings\n")
        .file("secret.txt", "do not send\n")
        .file("sub/keep.txt", "kept\n")
        .file(".dockerignore", "secret.txt\n");
    let out = build(
        &e,
        p.path(),
        &[
            "-t",
            "e2e-built:1",
            "-t",
            "e2e-built:alias",
            "--build-arg",
            "GREETING=hi",
            ".",
        ],
    );
    assert!(
        out.contains("Step 1/17 : FROM e2e-busybox:latest AS build"),
        "{out}"
    );
    assert!(out.contains("Successfully tagged e2e-built:1"), "{out}");
    assert_eq!(
        e.ok(&["run", "--rm", "--network", "none", "e2e-built:1"]),
        "hi from build\ngreetings"
    );
    let listed = e.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "ls",
        "e2e-built:alias",
        "-a",
        "/ctx",
    ]);
    let names: Vec<&str> = listed.split_whitespace().collect();
    assert!(
        names.contains(&"greet.txt") && names.contains(&"sub"),
        "{listed}"
    );
    assert!(
        !names.contains(&"secret.txt"),
        ".dockerignore not applied: {listed}"
    );
    let cfg = image_config(&e, "e2e-built:1");
    let expected: serde_json::Value = serde_json::from_str(MULTI_STAGE_CONFIG).unwrap();
    assert_eq!(cfg["config"], expected, "{:#}", cfg["config"]);
    assert_eq!(cfg["os"], "linux");
    // Base layer + WORKDIR + COPY --from + COPY .
    assert_eq!(cfg["rootfs"]["diff_ids"].as_array().map(Vec::len), Some(4));
}

const CACHED: &str = "\
FROM e2e-busybox:latest
RUN echo base > /base.txt
COPY src.txt /src.txt
RUN cat /base.txt /src.txt > /both.txt
CMD [\"cat\", \"/both.txt\"]
";

#[test]
fn build_cache_and_determinism() {
    let e = Engine::start("build_cache");
    let p = Project::new();
    p.file("Dockerfile", CACHED).file("src.txt", "one\n");
    let first = build(&e, p.path(), &["-t", "e2e-cached", "."]);
    assert_eq!(first.matches("Running in").count(), 2, "{first}");
    let id1 = e.ok(&["inspect", "-f", "{{.Id}}", "e2e-cached"]);

    let second = build(&e, p.path(), &["-t", "e2e-cached", "."]);
    assert!(
        !second.contains("Running in"),
        "a cached rebuild ran a step:\n{second}"
    );
    assert_eq!(second.matches("Using cache").count(), 3, "{second}");
    assert_eq!(e.ok(&["inspect", "-f", "{{.Id}}", "e2e-cached"]), id1);

    // Without the cache every RUN runs again, and the image is the same.
    let fresh = build(&e, p.path(), &["--no-cache", "-q", "-t", "e2e-cached", "."]);
    assert_eq!(fresh.trim(), id1, "a --no-cache build gave another image");

    p.file("src.txt", "two\n");
    let third = build(&e, p.path(), &["-t", "e2e-cached", "."]);
    assert_eq!(third.matches("Using cache").count(), 1, "{third}");
    assert_eq!(third.matches("Running in").count(), 1, "{third}");
    assert_eq!(
        e.ok(&["run", "--rm", "--network", "none", "e2e-cached"]),
        "base\ntwo"
    );

    let pruned = e
        .berth(p.path())
        .arg_list(&["builder", "prune", "--force"])
        .ok();
    assert!(pruned.starts_with("Total reclaimed space:"), "{pruned}");
    let after = build(&e, p.path(), &["-t", "e2e-cached", "."]);
    assert_eq!(after.matches("Running in").count(), 2, "{after}");
}

#[test]
fn build_failures_name_the_step() {
    let e = Engine::start("build_fail");
    let p = Project::new();
    p.file("Dockerfile", "FROM e2e-busybox:latest\nRUN exit 3\n");
    let out = e
        .berth(p.path())
        .arg_list(&["image", "build", "."])
        .output();
    assert!(!out.status.success(), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Dockerfile:2: The command '/bin/sh -c exit 3' returned a non-zero code: 3"),
        "{}",
        show(&out)
    );
    p.file("Dockerfile", "FROM e2e-busybox:latest\nRUNX true\n");
    let out = e
        .berth(p.path())
        .arg_list(&["image", "build", "."])
        .output();
    assert!(!out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Dockerfile:2"),
        "{}",
        show(&out)
    );
}

#[test]
fn build_compose_services() {
    let e = Engine::start("build_compose");
    let p = Project::new();
    p.file(
        "compose.yaml",
        "name: e2eb\nservices:\n  web:\n    build:\n      context: ./web\n      args:\n        MSG: from-compose\n      tags: [\"e2e-web:extra\"]\n  named:\n    image: e2e-named:2\n    build:\n      context: .\n      dockerfile_inline: |\n        FROM e2e-busybox:latest\n        CMD [\"echo\", \"inline\"]\n  plain:\n    image: e2e-busybox:latest\n",
    )
    .file("web/Dockerfile", "FROM e2e-busybox:latest\nARG MSG\nRUN echo $MSG > /msg\nCMD [\"cat\", \"/msg\"]\n");
    let out = e.berth(p.path()).arg("build").ok();
    assert!(
        out.contains("Building web") && out.contains("Building named"),
        "{out}"
    );
    let images = e.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(images.contains("e2eb-web:latest"), "{images}\n{out}");
    assert_eq!(
        e.ok(&["run", "--rm", "--network", "none", "e2eb-web"]),
        "from-compose"
    );
    assert_eq!(
        e.ok(&["run", "--rm", "--network", "none", "e2e-web:extra"]),
        "from-compose"
    );
    assert_eq!(
        e.ok(&["run", "--rm", "--network", "none", "e2e-named:2"]),
        "inline"
    );
    let err = e.berth(p.path()).arg_list(&["build", "nope"]).fails();
    assert!(err.contains("no such service: nope"), "{err}");
}

/// Regression: a container of an image whose `USER` names an account the image's own
/// `/etc/passwd` defines starts as that account (the user is looked up in the mounted rootfs;
/// it was once looked up before the mount and always failed).
#[test]
fn build_user_by_name_resolves_in_the_image() {
    let e = Engine::start("build_user_name");
    let p = Project::new();
    p.file(
        "Dockerfile",
        "FROM e2e-busybox:latest\n\
         RUN echo 'app:x:1234:2345::/:/bin/sh' >> /etc/passwd && echo 'app:x:2345:' >> /etc/group\n\
         USER app\n",
    );
    build(&e, p.path(), &["-t", "e2e-user:1", "."]);
    let id = e.ok(&["run", "--rm", "--network", "none", "e2e-user:1", "id"]);
    assert!(id.starts_with("uid=1234(app) gid=2345(app)"), "id: {id}");
}
