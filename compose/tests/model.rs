//! Fixture tests of the compose model: every `model/valid/<case>/compose.yaml` must normalize
//! to its golden `expected.yaml` (or `expected.json`), every `model/invalid/<case>.yaml` must
//! fail with the errors in `<case>.err`. Run with `BLESS=1` to rewrite the golden files, then
//! read the diff.

use std::path::{Path, PathBuf};

use berth_compose::model::{NormalizeContext, Project};
use berth_compose::output::{Format, render};
use indexmap::IndexMap;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/model")
}

fn environment() -> IndexMap<String, String> {
    [("HOME", "/home/user"), ("USER_VAR", "from-env")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load(text: &str, file: &Path, dir: &Path) -> berth_compose::Result<Project> {
    let doc = berth_compose::yaml::parse(text, file)?.remove(0);
    let env = environment();
    // a fixture may list the profiles to activate, one a line, in `profiles`
    let profiles: Vec<String> = std::fs::read_to_string(dir.join("profiles"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    let ctx = NormalizeContext {
        name: "myapp",
        working_dir: dir,
        environment: &env,
        profiles: &profiles,
    };
    Project::from_node(&doc, &ctx)
}

fn compare(golden: &Path, actual: &str) {
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(golden, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(golden)
        .unwrap_or_else(|e| panic!("{}: {e} (run with BLESS=1 to create it)", golden.display()));
    assert_eq!(
        actual,
        expected,
        "output differs from {}\n--- actual ---\n{actual}",
        golden.display()
    );
}

fn check_valid(case: &str) {
    let dir = fixtures().join("valid").join(case);
    let text = std::fs::read_to_string(dir.join("compose.yaml")).unwrap();
    let project = load(&text, Path::new("compose.yaml"), &dir).unwrap_or_else(|e| panic!("{e}"));
    let (format, golden) = if case.contains("json") {
        (Format::Json, "expected.json")
    } else {
        (Format::Yaml, "expected.yaml")
    };
    let out = render(&project, format).replace(dir.to_str().unwrap(), "$DIR");
    compare(&dir.join(golden), &out);
}

fn check_invalid(case: &str) {
    let dir = fixtures().join("invalid");
    let name = format!("{case}.yaml");
    let text = std::fs::read_to_string(dir.join(&name)).unwrap();
    let err = match load(&text, Path::new(&name), Path::new("/project")) {
        Ok(_) => panic!("{name} should not load"),
        Err(e) => format!("{e}\n"),
    };
    compare(&dir.join(format!("{case}.err")), &err);
}

macro_rules! cases {
    ($check:ident: $($test:ident => $case:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                $check($case);
            }
        )*
    };
}

cases!(check_valid:
    valid_basic => "basic",
    valid_full_service => "full-service",
    valid_build_envfile => "build-envfile",
    valid_networks => "networks",
    valid_quoting => "quoting",
    valid_json_format => "json-format",
    valid_wordpress => "wordpress",
    valid_profiles => "profiles",
    valid_newer_attributes => "newer-attributes",
);

cases!(check_invalid:
    invalid_unknown_key => "unknown-key",
    invalid_wrong_type => "wrong-type",
    invalid_bad_port => "bad-port",
    invalid_bad_volume => "bad-volume",
    invalid_bad_duration => "bad-duration",
    invalid_bad_size => "bad-size",
    invalid_cycle => "cycle",
    invalid_undefined_service => "undefined-service",
    invalid_undefined_network => "undefined-network",
    invalid_undefined_volume => "undefined-volume",
    invalid_container_name_replicas => "container-name-replicas",
    invalid_network_mode_and_networks => "network-mode-and-networks",
    invalid_self_dependency => "self-dependency",
    invalid_bad_restart => "bad-restart",
    invalid_invalid_condition => "invalid-condition",
    invalid_undefined_secret => "undefined-secret",
    invalid_bad_extra_host => "bad-extra-host",
    invalid_bad_ulimit => "bad-ulimit",
    invalid_many_errors => "many-errors",
    invalid_top_level_typo => "top-level-typo",
    invalid_bad_network_mode => "bad-network-mode",
    invalid_bad_ipv4 => "bad-ipv4",
    invalid_profile_disabled_dependency => "profile-disabled-dependency",
    invalid_service_name => "invalid-service-name",
    ipv6_only_network => "ipv6-only-network",
    ipv4_address_on_ipv6_only => "ipv4-address-on-ipv6-only",
    unsupported_keys => "unsupported-keys",
    resource_conflicts => "resource-conflicts",
);

/// Every fixture on disk is listed above (a new file without a test would silently pass).
#[test]
fn every_fixture_has_a_test() {
    let src = std::fs::read_to_string(file!()).unwrap_or_else(|_| {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/model.rs"))
            .unwrap()
    });
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(fixtures().join("valid")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if !src.contains(&format!("\"{name}\"")) {
            missing.push(name);
        }
    }
    for entry in std::fs::read_dir(fixtures().join("invalid")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if let Some(case) = name.strip_suffix(".yaml")
            && !src.contains(&format!("\"{case}\""))
        {
            missing.push(name);
        }
    }
    assert!(missing.is_empty(), "fixtures without a test: {missing:?}");
}
