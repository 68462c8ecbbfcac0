//! Fixture tests of the loading pipeline (`load_raw`).
//!
//! Every directory under `tests/load/` is one case: compose files and env files as a user would
//! have them, a `case.json` with the options (`cwd` relative to the case directory, `files`,
//! `env` for the OS environment, `env_files`, `profiles`, `project_name`, `project_directory`,
//! `stdin`, `no_interpolate`), and either `expected.json` (any of `name`, `working_dir` and
//! `config_files` relative to the case directory, `doc`, `warnings`, `profiles`, `environment`
//! as a subset) or `expected.err` (lines that must all appear in the error message).

mod common;

use common::options;
use std::path::{Path, PathBuf};

use berth_compose::{LoadOptions, load_raw};
use serde_json::Value as J;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/load")
}

fn rel(dir: &Path, p: &Path) -> String {
    p.strip_prefix(dir)
        .map(|r| r.display().to_string())
        .unwrap_or_else(|_| p.display().to_string())
}

/// Runs one case; returns a description of the mismatch, if any.
fn run_case(dir: &Path) -> Result<(), String> {
    let case: J = match std::fs::read_to_string(dir.join("case.json")) {
        Ok(t) => serde_json::from_str(&t).map_err(|e| format!("case.json: {e}"))?,
        Err(_) => J::Object(Default::default()),
    };
    let opts = options(dir, &case);
    let result = load_raw(&opts);
    if let Ok(want) = std::fs::read_to_string(dir.join("expected.err")) {
        let err = match result {
            Ok(p) => return Err(format!("expected an error, loaded {:#}", p.doc.to_json())),
            Err(e) => e.to_string(),
        };
        for line in want.lines().filter(|l| !l.trim().is_empty()) {
            if !err.contains(line) {
                return Err(format!("error\n{err}\ndoes not contain\n{line}"));
            }
        }
        return Ok(());
    }
    let want: J = serde_json::from_str(
        &std::fs::read_to_string(dir.join("expected.json"))
            .map_err(|e| format!("expected.json: {e}"))?,
    )
    .map_err(|e| format!("expected.json: {e}"))?;
    let p = result.map_err(|e| format!("load failed: {e}"))?;
    let got = serde_json::json!({
        "name": p.name,
        "working_dir": rel(dir, &p.working_dir),
        "config_files": p.config_files.iter().map(|f| rel(dir, f)).collect::<Vec<_>>(),
        "doc": p.doc.to_json(),
        "warnings": p.warnings,
        "profiles": p.profiles,
    });
    for (k, v) in want.as_object().unwrap() {
        if k == "environment" {
            for (name, value) in v.as_object().unwrap() {
                let actual = p.environment.get(name).map(String::as_str);
                if actual != value.as_str() {
                    return Err(format!("environment {name}: got {actual:?}, want {value}"));
                }
            }
            continue;
        }
        if got[k] != *v {
            return Err(format!("{k}:\n got  {:#}\n want {v:#}", got[k]));
        }
    }
    Ok(())
}

#[test]
fn fixtures() {
    common::run_all(&cases_dir(), 20, run_case);
}

#[test]
fn no_file_found_names_dir_and_accepted_names() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = LoadOptions {
        cwd: tmp.path().to_path_buf(),
        ..Default::default()
    };
    let e = load_raw(&opts).unwrap_err().to_string();
    assert!(e.contains(&tmp.path().display().to_string()), "{e}");
    assert!(
        e.contains("compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml"),
        "{e}"
    );
}

#[test]
fn missing_file_is_an_io_error_with_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = LoadOptions {
        cwd: tmp.path().to_path_buf(),
        files: vec!["nope.yaml".into()],
        ..Default::default()
    };
    let e = load_raw(&opts).unwrap_err().to_string();
    assert!(e.starts_with("nope.yaml: "), "{e}");
}

#[test]
fn thousand_services_load() {
    let tmp = tempfile::tempdir().unwrap();
    let mut text = String::from("services:\n");
    let mut over = String::from("services:\n");
    for i in 0..1000 {
        text.push_str(&format!(
            "  svc{i}:\n    image: \"busybox:${{TAG:-latest}}\"\n    ports: [\"{}:80\"]\n    environment: [A=1, B={i}]\n    volumes: [\"./d{i}:/data\"]\n",
            10000 + i
        ));
        over.push_str(&format!("  svc{i}:\n    environment: {{B: x}}\n"));
    }
    std::fs::write(tmp.path().join("compose.yaml"), text).unwrap();
    std::fs::write(tmp.path().join("compose.override.yaml"), over).unwrap();
    let opts = LoadOptions {
        cwd: tmp.path().to_path_buf(),
        project_name: Some("big".into()),
        ..Default::default()
    };
    let p = load_raw(&opts).unwrap();
    let services = p.doc.get("services").unwrap().as_map().unwrap();
    assert_eq!(services.len(), 1000);
    let last = &services[999].value;
    assert_eq!(
        last.get("environment").unwrap().get("B").unwrap().as_str(),
        Some("x")
    );
    assert_eq!(last.get("image").unwrap().as_str(), Some("busybox:latest"));
}
