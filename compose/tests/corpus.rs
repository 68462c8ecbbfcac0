//! End-to-end fixture corpus of the compose front end: every directory under `tests/corpus/`
//! is one project run through the whole pipeline (`load_project`), so discovery, env files,
//! interpolation, include, extends, merging, normalization and validation are checked together.
//!
//! A case holds compose files as a user would have them, an optional `case.json` with the
//! options (`cwd` relative to the case directory, `files`, `env` for the OS environment,
//! `env_files`, `profiles`, `project_name`, `project_directory`, `no_interpolate`), and either
//! `expected.yaml` (the `config` output) or `expected.err` (every non-empty line must appear in
//! the error; `BLESS=1` rewrites it with the whole message when it exists). The case directory is replaced by `${CASE_DIR}` before comparing, so goldens do
//! not depend on where the repository lives. `BLESS=1` rewrites `expected.yaml` files; read the
//! diff before committing.

mod common;

use common::options;
use std::path::{Path, PathBuf};

use berth_compose::load_project;
use berth_compose::output::{Format, render};
use serde_json::Value as J;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// Runs one case; returns a description of the mismatch, if any.
fn run_case(dir: &Path) -> Result<(), String> {
    let case: J = match std::fs::read_to_string(dir.join("case.json")) {
        Ok(t) => serde_json::from_str(&t).map_err(|e| format!("case.json: {e}"))?,
        Err(_) => J::Object(Default::default()),
    };
    let placeholder = |s: &str| s.replace(&dir.display().to_string(), "${CASE_DIR}");
    let result = load_project(&options(dir, &case));
    if let Ok(want) = std::fs::read_to_string(dir.join("expected.err")) {
        let err = match result {
            Ok(l) => {
                return Err(format!(
                    "expected an error, loaded\n{}",
                    render(&l.project, Format::Yaml)
                ));
            }
            Err(e) => placeholder(&e.to_string()),
        };
        if std::env::var_os("BLESS").is_some() {
            std::fs::write(dir.join("expected.err"), format!("{err}\n"))
                .map_err(|e| e.to_string())?;
            return Ok(());
        }
        for line in want.lines().filter(|l| !l.trim().is_empty()) {
            if !err.contains(line) {
                return Err(format!("error\n{err}\ndoes not contain\n{line}"));
            }
        }
        return Ok(());
    }
    let loaded = result.map_err(|e| format!("load failed: {}", placeholder(&e.to_string())))?;
    let actual = placeholder(&render(&loaded.project, Format::Yaml));
    let golden = dir.join("expected.yaml");
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&golden, &actual).map_err(|e| e.to_string())?;
        return Ok(());
    }
    let expected = std::fs::read_to_string(&golden)
        .map_err(|e| format!("expected.yaml: {e} (run with BLESS=1 to create it)"))?;
    if actual != expected {
        return Err(format!(
            "output differs from expected.yaml\n--- actual ---\n{actual}"
        ));
    }
    Ok(())
}

#[test]
fn corpus() {
    common::run_all(&cases_dir(), 90, run_case);
}
