//! Fuzz target: any bytes given to the compose loader as a compose file on standard input must
//! give a project or an error, never a panic, a hang or unbounded memory.
#![no_main]

use berth_compose::load::LoadOptions;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let opts = LoadOptions {
        files: vec!["-".into()],
        stdin: Some(text.to_owned()),
        project_name: Some("fuzz".into()),
        cwd: std::env::temp_dir(),
        ..LoadOptions::default()
    };
    let _ = berth_compose::load_project(&opts);
});
