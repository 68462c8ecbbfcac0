//! Benchmark: load + validate + normalize a generated 1,000-service compose file.
//!
//! Run with `cargo bench -p berth-compose --bench load`. It prints the median and the fastest of
//! repeated runs; it asserts nothing about time (performance is reported, never tested).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use berth_compose::load::LoadOptions;

/// A realistic service mix: images, ports, volumes, environment, depends_on, healthchecks.
fn generate(services: usize) -> String {
    let mut s = String::from(
        "name: bench\nx-common: &common\n  restart: unless-stopped\n  labels:\n    tier: bench\nservices:\n",
    );
    for i in 0..services {
        let _ = write!(
            s,
            "  svc{i}:\n    <<: *common\n    image: registry.local/app{m}:${{TAG:-1.0}}\n    ports:\n      - \"{p}:80\"\n    environment:\n      INDEX: \"{i}\"\n      MODE: ${{MODE:-prod}}\n    volumes:\n      - data{m}:/var/lib/data\n      - ./conf/{i}:/etc/app:ro\n    healthcheck:\n      test: [\"CMD\", \"true\"]\n      interval: 10s\n",
            m = i % 10,
            p = 20000 + i,
        );
        if i > 0 {
            let _ = write!(s, "    depends_on:\n      - svc{}\n", i - 1);
        }
    }
    s.push_str("volumes:\n");
    for m in 0..10 {
        let _ = writeln!(s, "  data{m}: {{}}");
    }
    s
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("compose.yaml");
    std::fs::write(&file, generate(1000)).expect("write compose file");
    let opts = LoadOptions {
        files: vec![file],
        cwd: dir.path().to_path_buf(),
        ..LoadOptions::default()
    };
    // warm up, and make sure the file is valid
    let loaded = berth_compose::load_project(&opts).expect("generated file loads");
    assert_eq!(loaded.project.services.len(), 1000);
    let mut times: Vec<Duration> = (0..30)
        .map(|_| {
            let t = Instant::now();
            let p = berth_compose::load_project(&opts).expect("load");
            std::hint::black_box(p);
            t.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "compose load+validate+normalize, 1000 services: median {:.2} ms, fastest {:.2} ms (30 runs)",
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3
    );
}
