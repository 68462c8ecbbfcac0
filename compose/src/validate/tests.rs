//! Tests of the project-level rules, through `Project::from_node`.

use std::path::Path;

use indexmap::IndexMap;

use crate::model::{NormalizeContext, Project};

fn err_named(text: &str, name: &str) -> String {
    let doc = crate::yaml::parse(text, Path::new("c.yaml"))
        .unwrap()
        .remove(0);
    let env = IndexMap::new();
    let ctx = NormalizeContext {
        name,
        working_dir: Path::new("/w"),
        environment: &env,
        profiles: &[],
    };
    Project::from_node(&doc, &ctx)
        .expect_err("should fail")
        .to_string()
}

fn err(text: &str) -> String {
    err_named(text, "p")
}

#[test]
fn undefined_service_with_hint() {
    let e = err("services:\n  web:\n    image: x\n    depends_on: [dbb]\n  db:\n    image: x\n");
    assert_eq!(
        e,
        "c.yaml:4:18: service `web` refers to undefined service `dbb` (in `depends_on`)\n  hint: did you mean `db`?"
    );
}

#[test]
fn undefined_network_volume_secret_config() {
    let e = err(
        "services:\n  s:\n    image: x\n    networks: [front]\n    volumes: ['data:/d']\n    secrets: [pw]\n    configs: [cf]\nnetworks:\n  fronte: {}\n",
    );
    assert!(
        e.contains("c.yaml:4:16: service `s` refers to undefined network `front`"),
        "{e}"
    );
    assert!(e.contains("did you mean `fronte`?"), "{e}");
    assert!(e.contains("undefined volume `data`"), "{e}");
    assert!(
        e.contains("declare it under the top-level `volumes:` key"),
        "{e}"
    );
    assert!(e.contains("undefined secret `pw`"), "{e}");
    assert!(e.contains("undefined config `cf`"), "{e}");
}

#[test]
fn dependency_on_disabled_profile_gets_a_hint() {
    let e = err(
        "services:\n  app:\n    image: x\n    depends_on: [dbg]\n  dbg:\n    image: x\n    profiles: [debug]\n",
    );
    assert!(
        e.contains("needs service `dbg` (through `depends_on`), which is not enabled"),
        "{e}"
    );
    assert!(e.contains("enable one of its profiles (debug)"), "{e}");
}

#[test]
fn optional_dependency_on_missing_service_is_dropped() {
    let doc = crate::yaml::parse(
        "services:\n  app:\n    image: x\n    depends_on:\n      dbg: {condition: service_started, required: false}\n  dbg:\n    image: x\n    profiles: [debug]\n",
        Path::new("c.yaml"),
    )
    .unwrap()
    .remove(0);
    let env = IndexMap::new();
    let ctx = NormalizeContext {
        name: "p",
        working_dir: Path::new("/w"),
        environment: &env,
        profiles: &[],
    };
    let p = Project::from_node(&doc, &ctx).unwrap();
    assert!(p.services["app"].depends_on.is_empty());
}

#[test]
fn cycle_shows_the_path() {
    let e = err(
        "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [c]\n  c:\n    image: x\n    depends_on: [a]\n",
    );
    assert_eq!(
        e,
        "c.yaml:4:17: dependency cycle between services: a -> b -> c -> a"
    );
}

#[test]
fn cycle_through_links_is_found() {
    let e = err(
        "services:\n  a:\n    image: x\n    links: [b]\n  b:\n    image: x\n    depends_on: [a]\n",
    );
    assert!(
        e.contains("dependency cycle between services: a -> b -> a"),
        "{e}"
    );
}

#[test]
fn self_dependency() {
    let e = err("services:\n  a:\n    image: x\n    depends_on: [a]\n");
    assert!(
        e.contains("service `a` depends on itself (through `depends_on`)"),
        "{e}"
    );
    let e = err("services:\n  a:\n    image: x\n    network_mode: service:a\n");
    assert!(
        e.contains("service `a` depends on itself (through `network_mode`)"),
        "{e}"
    );
}

#[test]
fn container_name_with_replicas() {
    let e =
        err("services:\n  a:\n    image: x\n    container_name: one\n    deploy: {replicas: 2}\n");
    assert!(
        e.starts_with("c.yaml:4:21: service `a` sets container_name but asks for 2 replicas"),
        "{e}"
    );
    let e = err("services:\n  a:\n    image: x\n    container_name: one\n    scale: 3\n");
    assert!(e.contains("asks for 3 replicas"), "{e}");
}

#[test]
fn duplicate_container_names() {
    let e = err(
        "services:\n  a:\n    image: x\n    container_name: one\n  b:\n    image: x\n    container_name: one\n",
    );
    assert!(
        e.contains("services `a` and `b` both use container_name `one`"),
        "{e}"
    );
}

#[test]
fn network_mode_with_networks() {
    let e = err("services:\n  a:\n    image: x\n    network_mode: host\n    networks: [default]\n");
    assert!(e.contains("sets both `network_mode` and `networks`"), "{e}");
}

#[test]
fn service_without_image_or_build() {
    let e = err("services:\n  a:\n    command: echo\n");
    assert!(
        e.contains("service `a` has neither an image nor a build context"),
        "{e}"
    );
}

#[test]
fn invalid_project_name() {
    let e = err_named("services:\n  a:\n    image: x\n", "My App");
    assert!(e.contains("invalid project name `My App`"), "{e}");
}

#[test]
fn network_entry_keys_without_an_engine_equivalent_are_refused() {
    let e = err(
        "services:\n  a:\n    image: x\n    networks:\n      front:\n        gw_priority: 10\n        interface_name: lan0\nnetworks:\n  front: {}\n",
    );
    assert_eq!(
        e,
        "c.yaml:6:22: `services.a.networks.front`: `interface_name`, `gw_priority` not supported by berth's engine\n  hint: remove them; the first network by `priority` (then by name) carries the default route; interfaces are named eth0, eth1, … in joining order"
    );
}

#[test]
fn expose_entries_must_be_ports() {
    let e = err(
        "services:\n  a:\n    image: x\n    expose: ['80', 8000-8002, 53/udp, web, 9-3, 1/icmp]\n",
    );
    assert_eq!(
        e,
        "c.yaml:4:39: `services.a.expose[3]`: invalid exposed port `web`: must be 1-65535\n  hint: write a port or range with an optional protocol: `80`, `53/udp`, `8000-8010`\n\
         c.yaml:4:44: `services.a.expose[4]`: invalid exposed port range `9-3`: end before start\n  hint: write a port or range with an optional protocol: `80`, `53/udp`, `8000-8010`\n\
         c.yaml:4:49: `services.a.expose[5]`: invalid protocol `icmp`: expected `tcp`, `udp` or `sctp`\n  hint: write a port or range with an optional protocol: `80`, `53/udp`, `8000-8010`"
    );
}
