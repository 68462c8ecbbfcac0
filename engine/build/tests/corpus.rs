//! Golden corpus: every `tests/dockerfiles/valid/*.Dockerfile` must parse to the JSON in the
//! matching `.json`; every `invalid/*.Dockerfile` must fail with the text in `.err`.
//! `BLESS=1 cargo test -p berth-build --test corpus` rewrites the expectations.

use std::fs;
use std::path::{Path, PathBuf};

fn cases(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/dockerfiles")
        .join(dir);
    let mut files: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("reading {}: {e}", root.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "Dockerfile"))
        .collect();
    files.sort();
    files
}

fn check(case: &Path, ext: &str, actual: &str, failures: &mut Vec<String>) {
    let expected_path = case.with_extension(ext);
    if std::env::var_os("BLESS").is_some() {
        fs::write(&expected_path, actual).expect("write golden");
        return;
    }
    match fs::read_to_string(&expected_path) {
        Ok(expected) if expected == actual => {}
        Ok(expected) => failures.push(format!(
            "{}:\n--- expected\n{expected}\n--- actual\n{actual}",
            case.display()
        )),
        Err(e) => failures.push(format!("{}: {e}", expected_path.display())),
    }
}

#[test]
fn valid_dockerfiles_parse_to_golden_json() {
    let mut failures = Vec::new();
    let files = cases("valid");
    assert!(files.len() >= 40, "corpus too small: {}", files.len());
    for case in files {
        let text = fs::read_to_string(&case).expect("read case");
        match berth_build::parse(&text) {
            Ok(df) => {
                let json = serde_json::to_string_pretty(&df).expect("serialize") + "\n";
                check(&case, "json", &json, &mut failures);
            }
            Err(e) => failures.push(format!("{}: unexpected error: {e}", case.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn invalid_dockerfiles_fail_with_golden_error() {
    let mut failures = Vec::new();
    let files = cases("invalid");
    assert!(files.len() >= 20, "corpus too small: {}", files.len());
    for case in files {
        let text = fs::read_to_string(&case).expect("read case");
        match berth_build::parse(&text) {
            Ok(_) => failures.push(format!("{}: parsed but should fail", case.display())),
            Err(e) => check(&case, "err", &format!("{e}\n"), &mut failures),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
