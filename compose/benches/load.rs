//! Measures `load_raw` on a generated 1,000-service project (a base file and an override file
//! touching every service), and the YAML parse alone for comparison.
//!
//! Run with `cargo bench -p berth-compose --bench load`; prints the best of several runs.

use std::time::{Duration, Instant};

use berth_compose::{LoadOptions, interpolate, load_raw, merge, yaml};

fn generate(n: usize) -> (String, String) {
    let mut base = String::from("name: bench\nservices:\n");
    let mut over = String::from("services:\n");
    for i in 0..n {
        base.push_str(&format!(
            "  svc{i}:\n    image: \"registry.local/app${{SUFFIX:-}}:${{TAG:-latest}}\"\n    command: [\"serve\", \"--id\", \"{i}\"]\n    ports: [\"{}:80\"]\n    environment:\n      - A=1\n      - B={i}\n      - C=${{C:-c}}\n    volumes:\n      - ./data/{i}:/data\n      - cache:/cache\n    labels: {{team: core, idx: \"{i}\"}}\n    depends_on: [svc{}]\n",
            10000 + i,
            i.saturating_sub(1)
        ));
        over.push_str(&format!(
            "  svc{i}:\n    environment: {{B: override}}\n    ports: [\"{}:81\"]\n    labels: [extra=yes]\n",
            20000 + i
        ));
    }
    base.push_str("volumes:\n  cache: {}\n");
    (base, over)
}

/// The fastest run: the least disturbed by other load on the machine.
fn best(v: Vec<Duration>) -> Duration {
    v.into_iter().min().unwrap_or_default()
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (base, over) = generate(1000);
    std::fs::write(dir.path().join("compose.yaml"), &base).expect("write");
    std::fs::write(dir.path().join("compose.override.yaml"), &over).expect("write");
    let opts = LoadOptions {
        cwd: dir.path().to_path_buf(),
        ..Default::default()
    };
    let runs = 41;
    let parse: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let docs = yaml::parse(&base, std::path::Path::new("compose.yaml")).expect("parse");
            std::hint::black_box(docs);
            t.elapsed()
        })
        .collect();
    let events: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let n = saphyr_parser::Parser::new_from_str(&base).count();
            std::hint::black_box(n);
            t.elapsed()
        })
        .collect();
    println!("saphyr-parser events alone {:?}", best(events));
    let parsed_base = yaml::parse(&base, std::path::Path::new("compose.yaml"))
        .expect("parse")
        .remove(0);
    let parsed_over = yaml::parse(&over, std::path::Path::new("o.yaml"))
        .expect("parse")
        .remove(0);
    let env = indexmap::IndexMap::<String, String>::new();
    let stages: Vec<Duration> = (0..runs)
        .map(|_| {
            let (mut b, mut o) = (parsed_base.clone(), parsed_over.clone());
            let t = Instant::now();
            let lookup = |n: &str| env.get(n).cloned();
            let mut warnings = Vec::new();
            interpolate::interpolate_node(&mut b, &lookup, &mut warnings).expect("interpolate");
            interpolate::interpolate_node(&mut o, &lookup, &mut warnings).expect("interpolate");
            merge::merge_documents(&mut b, o);
            std::hint::black_box(b);
            t.elapsed()
        })
        .collect();
    println!("interpolate both trees + merge {:?}", best(stages));
    let load: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let p = load_raw(&opts).expect("load");
            std::hint::black_box(p);
            t.elapsed()
        })
        .collect();
    println!(
        "1000 services ({} + {} bytes): parse base file {:?}, load_raw (read+parse+interpolate+merge 2 files) {:?} (best of {runs})",
        base.len(),
        over.len(),
        best(parse),
        best(load)
    );
}
