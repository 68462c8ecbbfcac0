//! Measures loading a 1,000-service project: YAML parse, schema check + normalization +
//! validation, dependency levels and YAML rendering. Run with `cargo bench -p berth-compose`.
//! Prints timings; it asserts nothing about time (CI machines vary).

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use berth_compose::graph::ServiceGraph;
use berth_compose::model::{NormalizeContext, Project};
use berth_compose::output::{Format, render};
use indexmap::IndexMap;

fn project_text(n: usize) -> String {
    let mut t = String::from("services:\n");
    for i in 0..n {
        let _ = write!(
            t,
            "  svc{i}:\n    image: example/app:{i}\n    ports: [\"{}:80\", \"127.0.0.1::9000/udp\"]\n    volumes: [\"data{}:/data\", \"./conf/{i}:/etc/app:ro\"]\n    environment: [A=1, B={i}, HOME]\n    labels: {{team: t{}, tier: back}}\n    networks: [front, back]\n    healthcheck: {{test: curl -f http://localhost, interval: 30s, timeout: 5s, retries: 3}}\n    deploy: {{resources: {{limits: {{cpus: '0.5', memory: 256m}}}}}}\n",
            10000 + i,
            i % 10,
            i % 7
        );
        if i > 2 {
            let _ = writeln!(t, "    depends_on: [svc{}, svc{}]", i - 1, i / 2);
        } else if i > 0 {
            let _ = writeln!(t, "    depends_on: [svc{}]", i - 1);
        }
    }
    t.push_str("networks:\n  front: {}\n  back: {}\nvolumes:\n");
    for v in 0..10 {
        let _ = writeln!(t, "  data{v}: {{}}");
    }
    t
}

/// Runs `f` `rounds` times, timing only the call (results are dropped outside the clock);
/// returns the fastest and the median time in ms, and the last result. The minimum is what
/// an idle machine gives; the median shows the noise of a busy one.
fn time<T>(rounds: usize, mut f: impl FnMut() -> T) -> (f64, f64, T) {
    let mut times = Vec::with_capacity(rounds);
    let mut last = None;
    for _ in 0..rounds {
        let t0 = Instant::now();
        let r = f();
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
        last = Some(r);
    }
    times.sort_by(f64::total_cmp);
    (
        times[0],
        times[rounds / 2],
        last.expect("at least one round"),
    )
}

fn main() {
    let n = 1000;
    let text = project_text(n);
    let env: IndexMap<String, String> = [("HOME".to_string(), "/root".to_string())].into();
    let ctx = NormalizeContext {
        name: "bench",
        working_dir: Path::new("/srv/bench"),
        environment: &env,
        profiles: &[],
    };
    let rounds = 40;
    if std::env::var_os("BERTH_BENCH_MODEL_ONLY").is_some() {
        // normalize+validate alone, at several sizes, to show the cost grows linearly
        for size in [250, 1000, 4000] {
            let text = project_text(size);
            let doc = berth_compose::yaml::parse(&text, Path::new("bench.yaml"))
                .unwrap()
                .remove(0);
            let rounds = 200_000 / size;
            let (fast, median, _) = time(rounds, || Project::from_node(&doc, &ctx).unwrap());
            println!(
                "normalize+validate {size:5} services: {fast:7.2} ms / {median:7.2} ms ({:.1} µs per service)",
                fast * 1000.0 / size as f64
            );
        }
        return;
    }
    let (pw, pc, doc) = time(rounds, || {
        berth_compose::yaml::parse(&text, Path::new("bench.yaml"))
            .unwrap()
            .remove(0)
    });
    let (sw, sc, errors) = time(rounds, || berth_compose::schema::check_document(&doc));
    assert!(errors.is_empty());
    let (mw, mc, project) = time(rounds, || Project::from_node(&doc, &ctx).unwrap());
    assert_eq!(project.services.len(), n);
    let (gw, gc, levels) = time(rounds, || {
        ServiceGraph::new(&project).start_levels().unwrap()
    });
    assert_eq!(levels.len(), n);
    let (rw, rc, out) = time(rounds, || render(&project, Format::Yaml));
    assert!(out.len() > text.len());
    println!(
        "{n} services, {} KiB of YAML; per run, fastest / median:",
        text.len() / 1024
    );
    println!("  yaml parse          {pw:6.2} ms / {pc:6.2} ms");
    println!("  schema check        {sw:6.2} ms / {sc:6.2} ms");
    println!("  normalize+validate  {mw:6.2} ms / {mc:6.2} ms (includes the schema check)");
    println!("  start levels        {gw:6.2} ms / {gc:6.2} ms");
    println!("  render YAML         {rw:6.2} ms / {rc:6.2} ms");
}
