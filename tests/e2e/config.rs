//! `berth config` and `berth graph` end to end: real files on disk, the real binary.

use crate::util::{Project, repo_root};

fn multi_file_project() -> Project {
    let p = Project::new();
    p.file(".env", "TAG=1.25\nWEB_PORT=8080\n")
        .file(
            "compose.yaml",
            r#"name: shop
include:
  - infra/compose.yaml
services:
  web:
    extends:
      file: common.yaml
      service: base
    image: nginx:${TAG}
    ports:
      - "${WEB_PORT}:80"
    depends_on:
      - cache
  debug:
    image: busybox
    profiles: [debug]
"#,
        )
        .file(
            "compose.override.yaml",
            "services:\n  web:\n    environment:\n      LEVEL: override\n",
        )
        .file(
            "common.yaml",
            "services:\n  base:\n    restart: always\n    environment:\n      LEVEL: base\n      KEEP: yes-please\n",
        )
        .file(
            "infra/compose.yaml",
            "services:\n  cache:\n    image: redis:7\n    volumes:\n      - cache_data:/data\nvolumes:\n  cache_data: {}\n",
        );
    p
}

#[test]
fn config_prints_the_normalized_multi_file_project() {
    let p = multi_file_project();
    let out = p.berth().arg_list(&["config"]).ok();
    assert!(out.starts_with("name: shop\n"), "{out}");
    assert!(out.contains("image: nginx:1.25"), "{out}");
    assert!(out.contains("published: \"8080\""), "{out}");
    assert!(out.contains("LEVEL: override"), "{out}");
    assert!(out.contains("KEEP: yes-please"), "{out}");
    assert!(out.contains("restart: always"), "{out}");
    assert!(out.contains("cache_data"), "{out}");
    assert!(
        !out.contains("debug:"),
        "profiled service must be off by default:\n{out}"
    );
}

#[test]
fn config_json_is_keyed_by_name() {
    let p = multi_file_project();
    let out = p
        .berth()
        .arg_list(&["config", "--format", "json", "--profile", "debug"])
        .ok();
    let v: serde_json::Value = serde_json::from_str(&out).expect("config --format json is JSON");
    for svc in ["web", "cache", "debug"] {
        assert!(
            v["services"][svc].is_object(),
            "service {svc} missing:\n{out}"
        );
    }
    assert!(v["networks"]["default"].is_object(), "{out}");
    assert!(v["volumes"]["cache_data"].is_object(), "{out}");
    assert_eq!(v["name"], "shop");
}

#[test]
fn config_listing_flags() {
    let p = multi_file_project();
    let services = p.berth().arg_list(&["config", "--services"]).ok();
    let mut names: Vec<&str> = services.lines().collect();
    names.sort();
    assert_eq!(names, ["cache", "web"]);
    assert_eq!(
        p.berth().arg_list(&["config", "--volumes"]).ok(),
        "cache_data\n"
    );
    assert_eq!(
        p.berth().arg_list(&["config", "--profiles"]).ok(),
        "debug\n"
    );
    let images = p.berth().arg_list(&["config", "--images"]).ok();
    assert!(
        images.contains("nginx:1.25") && images.contains("redis:7"),
        "{images}"
    );
    let hashes = p.berth().arg_list(&["config", "--hash", "*"]).ok();
    assert_eq!(hashes.lines().count(), 2, "{hashes}");
    for line in hashes.lines() {
        let (_, hash) = line.split_once(' ').expect("`service hash` lines");
        assert_eq!(hash.len(), 64, "{line}");
    }
    assert_eq!(p.berth().arg_list(&["config", "-q"]).ok(), "");
}

#[test]
fn config_hash_changes_only_for_the_changed_service() {
    let p = multi_file_project();
    let before = p.berth().arg_list(&["config", "--hash", "*"]).ok();
    p.file(".env", "TAG=1.26\nWEB_PORT=8080\n");
    let after = p.berth().arg_list(&["config", "--hash", "*"]).ok();
    let get = |text: &str, svc: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{svc} ")))
            .map(str::to_owned)
            .expect("service hash line")
    };
    assert_eq!(get(&before, "cache"), get(&after, "cache"));
    assert_ne!(get(&before, "web"), get(&after, "web"));
}

#[test]
fn config_output_file_and_stdin() {
    let p = Project::new();
    let text = "services:\n  a:\n    image: busybox\n";
    let out_file = p.path().join("out.yaml");
    p.berth()
        .arg_list(&["-p", "fromstdin", "-f", "-", "config", "-o"])
        .args([&out_file])
        .stdin(text)
        .ok();
    let written = std::fs::read_to_string(&out_file).expect("output file written");
    assert!(written.starts_with("name: fromstdin\n"), "{written}");
    assert!(written.contains("image: busybox"), "{written}");
}

#[test]
fn invalid_file_names_file_line_and_column() {
    let p = Project::new();
    p.file(
        "compose.yaml",
        "services:\n  web:\n    image: nginx\n    prots:\n      - 80\n",
    );
    let err = p.berth().arg_list(&["config"]).fails();
    assert!(err.contains("compose.yaml:4:5"), "{err}");
    assert!(err.contains("prots"), "{err}");
    assert!(
        err.contains("ports"),
        "expected a did-you-mean hint:\n{err}"
    );
}

#[test]
fn missing_required_variable_is_an_error_with_position() {
    let p = Project::new();
    p.file(
        "compose.yaml",
        "services:\n  db:\n    image: mysql\n    environment:\n      PASS: ${DB_PASS:?set DB_PASS}\n",
    );
    let err = p.berth().arg_list(&["config"]).fails();
    assert!(err.contains("compose.yaml:5:"), "{err}");
    assert!(
        err.contains("DB_PASS") && err.contains("set DB_PASS"),
        "{err}"
    );
    let ok = p
        .berth()
        .arg_list(&["config"])
        .env("DB_PASS", "s3cret")
        .ok();
    assert!(ok.contains("PASS: s3cret"), "{ok}");
}

#[test]
fn dependency_cycle_is_reported_with_its_path() {
    let p = Project::new();
    p.file(
        "compose.yaml",
        "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [c]\n  c:\n    image: x\n    depends_on: [a]\n",
    );
    let err = p.berth().arg_list(&["config"]).fails();
    assert!(err.contains("cycle"), "{err}");
    assert!(
        err.contains("a -> b -> c -> a")
            || err.contains("b -> c -> a -> b")
            || err.contains("c -> a -> b -> c"),
        "{err}"
    );
}

#[test]
fn no_compose_file_is_a_clear_error() {
    let p = Project::new();
    let err = p.berth().arg_list(&["config"]).fails();
    assert!(err.contains("compose.yaml"), "{err}");
}

#[test]
fn wordpress_example_loads() {
    let file = repo_root().join("examples/wordpress/compose.yaml");
    let p = Project::new();
    let out = p.berth().arg_list(&["config", "-f"]).args([&file]).ok();
    assert!(out.contains("wordpress:") && out.contains("db:"), "{out}");
    assert!(out.contains("condition: service_healthy"), "{out}");
    assert!(out.contains("name: wordpress_db_data"), "{out}");
}

#[test]
fn graph_dot_and_mermaid() {
    let p = multi_file_project();
    let dot = p.berth().arg_list(&["graph"]).ok();
    assert!(dot.starts_with("digraph"), "{dot}");
    assert!(dot.contains("\"web\" -> \"cache\""), "{dot}");
    let mermaid = p.berth().arg_list(&["graph", "--format", "mermaid"]).ok();
    assert!(
        mermaid.starts_with("graph") || mermaid.starts_with("flowchart"),
        "{mermaid}"
    );
    assert!(
        mermaid.contains("web") && mermaid.contains("cache"),
        "{mermaid}"
    );
}
