//! End to end through the public API, as the engine's builder will call it: parse and plan
//! a multi-stage Dockerfile, expand each needed stage on its base config, and check the
//! final image config and history against what `docker build` (BuildKit) writes.

use std::collections::BTreeMap;

use berth_build::config::HISTORY_COMMENT;
use berth_build::dockerfile::Instruction;
use berth_build::expand::{BuildInputs, Platform};
use berth_build::stages::Base;
use oci_spec::image::Config;

const DOCKERFILE: &str = r#"# syntax=docker/dockerfile:1
ARG NODE=20
FROM --platform=$BUILDPLATFORM node:${NODE}-alpine AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci

FROM deps AS build
COPY . .
RUN npm run build

FROM node:${NODE}-alpine AS unused
RUN echo never built

FROM node:${NODE}-alpine
ARG VERSION=dev
LABEL org.opencontainers.image.version=$VERSION
ENV NODE_ENV=production PORT=8080
WORKDIR /srv
COPY --from=build --chown=node:node /app/dist ./dist
USER node
EXPOSE $PORT
HEALTHCHECK --interval=30s --timeout=3s CMD wget -qO- http://localhost:$PORT/health || exit 1
ENTRYPOINT ["node"]
CMD ["dist/server.js"]
"#;

fn inputs() -> BuildInputs {
    BuildInputs {
        build_args: BTreeMap::from([
            ("VERSION".to_string(), "1.2.3".to_string()),
            ("NODE".to_string(), "22".to_string()),
        ]),
        build_platform: Platform::parse("linux/amd64").expect("platform"),
        target_platform: Platform::parse("linux/arm64").expect("platform"),
    }
}

#[test]
fn node_app_builds_the_needed_stages_into_docker_shaped_config() {
    let inputs = inputs();
    let prepared = berth_build::prepare(DOCKERFILE, &inputs, None).expect("prepare");
    assert_eq!(
        prepared.plan.order,
        [0, 1, 3],
        "the unused stage is skipped"
    );
    assert_eq!(prepared.plan.bases[1], Base::Stage(0));
    assert_eq!(
        prepared.bases[0],
        (
            "node:22-alpine".to_string(),
            Some("linux/amd64".to_string())
        )
    );
    assert_eq!(prepared.plan.images(), ["node:22-alpine"]);

    let mut base = Config::default();
    base.set_env(Some(vec!["PATH=/usr/local/bin:/usr/bin:/bin".to_string()]));
    base.set_cmd(Some(vec!["node".to_string()]));
    let deps = prepared
        .stage_steps(0, &inputs, base.clone(), &[])
        .expect("deps");
    let Instruction::Run(run) = &deps.steps[2].instruction.value else {
        panic!("third step of deps is the RUN")
    };
    assert_eq!(run.mounts[0].target.as_deref(), Some("/root/.npm"));
    assert_eq!(deps.steps[2].workdir.as_deref(), Some("/app"));

    let build = prepared
        .stage_steps(1, &inputs, deps.image.config.clone(), &[])
        .expect("build");
    assert_eq!(build.image.config.working_dir().as_deref(), Some("/app"));

    let fin = prepared.stage_steps(3, &inputs, base, &[]).expect("final");
    let json = fin.image.docker_config_json();
    assert_eq!(
        json["Env"],
        serde_json::json!([
            "PATH=/usr/local/bin:/usr/bin:/bin",
            "NODE_ENV=production",
            "PORT=8080"
        ])
    );
    assert_eq!(json["Labels"]["org.opencontainers.image.version"], "1.2.3");
    assert_eq!(json["WorkingDir"], "/srv");
    assert_eq!(json["User"], "node");
    assert_eq!(json["ExposedPorts"], serde_json::json!({"8080/tcp": {}}));
    assert_eq!(json["Entrypoint"], serde_json::json!(["node"]));
    assert_eq!(json["Cmd"], serde_json::json!(["dist/server.js"]));
    assert_eq!(
        json["Healthcheck"],
        serde_json::json!({
            "Test": ["CMD-SHELL", "wget -qO- http://localhost:$PORT/health || exit 1"],
            "Interval": 30_000_000_000u64,
            "Timeout": 3_000_000_000u64
        })
    );
    let history: Vec<String> = fin
        .image
        .history
        .iter()
        .map(|h| h.created_by().clone().unwrap_or_default())
        .collect();
    assert_eq!(
        history,
        [
            "ARG VERSION=1.2.3",
            "LABEL org.opencontainers.image.version=1.2.3",
            "ENV NODE_ENV=production PORT=8080",
            "WORKDIR /srv",
            "COPY --chown=node:node /app/dist ./dist # buildkit",
            "USER node",
            "EXPOSE [8080/tcp]",
            r#"HEALTHCHECK &{["CMD-SHELL" "wget -qO- http://localhost:$PORT/health || exit 1"] "30s" "3s" "0s" "0s" '\x00'}"#,
            r#"ENTRYPOINT ["node"]"#,
            r#"CMD ["dist/server.js"]"#,
        ]
    );
    assert!(
        fin.image
            .history
            .iter()
            .all(|h| h.comment().as_deref() == Some(HISTORY_COMMENT))
    );
}

#[test]
fn target_selects_an_intermediate_stage() {
    let inputs = inputs();
    let prepared = berth_build::prepare(DOCKERFILE, &inputs, Some("build")).expect("prepare");
    assert_eq!(prepared.plan.target, 1);
    assert_eq!(prepared.plan.order, [0, 1]);
}
