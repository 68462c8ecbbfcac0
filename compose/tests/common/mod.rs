//! Shared by the fixture drivers (`load.rs`, `corpus.rs`): a case's `case.json` turned into
//! loader options, and the loop that runs every case directory and reports all failures at once.

use std::path::{Path, PathBuf};

use berth_compose::LoadOptions;
use indexmap::IndexMap;
use serde_json::Value as J;

/// Loader options for the case in `dir`, from its `case.json` (`files`, `stdin`,
/// `project_directory`, `project_name`, `env_files`, `profiles`, `no_interpolate`, `env`, `cwd`).
/// The OS environment is never read: a case's environment is only its `env`.
pub fn options(dir: &Path, case: &J) -> LoadOptions {
    let strs = |k: &str| -> Vec<String> {
        case[k]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    };
    let os_env: IndexMap<String, String> = case["env"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect()
        })
        .unwrap_or_default();
    LoadOptions {
        files: strs("files").into_iter().map(PathBuf::from).collect(),
        stdin: case["stdin"].as_str().map(str::to_owned),
        project_directory: case["project_directory"].as_str().map(PathBuf::from),
        project_name: case["project_name"].as_str().map(str::to_owned),
        env_files: strs("env_files").into_iter().map(PathBuf::from).collect(),
        profiles: strs("profiles"),
        no_interpolate: case["no_interpolate"].as_bool().unwrap_or(false),
        os_env,
        cwd: dir.join(case["cwd"].as_str().unwrap_or(".")),
    }
}

/// Runs `run_case` on every directory under `cases` (sorted), fails with every mismatch, and
/// fails if there are fewer than `min` cases (so a lost fixture directory is noticed).
pub fn run_all(cases: &Path, min: usize, run_case: impl Fn(&Path) -> Result<(), String>) {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(cases)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= min,
        "fixture cases are missing: {} < {min}",
        dirs.len()
    );
    let failures: Vec<String> = dirs
        .iter()
        .filter_map(|d| {
            run_case(d)
                .err()
                .map(|e| format!("--- {}\n{e}", d.file_name().unwrap().to_string_lossy()))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n")
    );
}
