//! Measures the build front end on generated inputs: parsing plus preparing every stage of
//! a 200-stage, 5,000-instruction Dockerfile, and `.dockerignore` decisions for 20,000
//! paths against 40 patterns.
//!
//! Run with `cargo bench -p berth-build --bench frontend`; prints the best of several runs.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use berth_build::dockerignore::Matcher;
use berth_build::expand::{BuildInputs, Platform};
use oci_spec::image::Config;

fn dockerfile(stages: usize, per_stage: usize) -> String {
    let mut out = String::from("# syntax=docker/dockerfile:1\nARG BASE=debian:12\n");
    for s in 0..stages {
        out.push_str(&format!("FROM ${{BASE}} AS s{s}\nARG V{s}=v\n"));
        for i in 0..per_stage {
            match i % 6 {
                0 => out.push_str(&format!("ENV K{i}=\"value ${{V{s}}} {i}\"\n")),
                1 => out.push_str("RUN apt-get update \\\n    && apt-get install -y curl \\\n    && rm -rf /var/lib/apt/lists/*\n"),
                2 => out.push_str(&format!("COPY --chown=app:app src/{i} /app/{i}/\n")),
                3 => out.push_str(&format!("LABEL org.example.k{i}=\"v{i}\"\n")),
                4 => out.push_str("RUN <<EOF\nset -e\necho heredoc\nEOF\n"),
                _ => out.push_str(&format!("WORKDIR /app/{i}\n")),
            }
        }
        if s > 0 {
            out.push_str(&format!("COPY --from=s{} /app /prev\n", s - 1));
        }
    }
    out
}

fn best(v: Vec<Duration>) -> Duration {
    v.into_iter().min().unwrap_or_default()
}

fn main() {
    let text = dockerfile(200, 25);
    let inputs = BuildInputs {
        build_args: BTreeMap::new(),
        build_platform: Platform::parse("linux/amd64").expect("platform"),
        target_platform: Platform::parse("linux/amd64").expect("platform"),
    };
    let runs = 21;
    let parse = best(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(berth_build::parse(&text).expect("parse"));
                t.elapsed()
            })
            .collect(),
    );
    let prepare = best(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                let p = berth_build::prepare(&text, &inputs, None).expect("prepare");
                for &i in &p.plan.order {
                    let steps = p
                        .stage_steps(i, &inputs, Config::default(), &[])
                        .expect("steps");
                    std::hint::black_box(steps);
                }
                t.elapsed()
            })
            .collect(),
    );
    println!(
        "dockerfile: {} bytes, {} lines: parse {:?}, parse+plan+expand+config of all stages {:?}",
        text.len(),
        text.lines().count(),
        parse,
        prepare
    );

    let mut patterns = String::new();
    for i in 0..20 {
        patterns.push_str(&format!("**/*.tmp{i}\ndir{i}/**\n"));
    }
    patterns.push_str("!dir3/keep\n");
    let matcher = Matcher::parse(&patterns).expect("patterns");
    let paths: Vec<String> = (0..20_000)
        .map(|i| format!("dir{}/sub{}/file{i}.tmp{}", i % 50, i % 7, i % 25))
        .collect();
    let ignore = best(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                let n = paths.iter().filter(|p| matcher.excluded(p)).count();
                std::hint::black_box(n);
                t.elapsed()
            })
            .collect(),
    );
    println!("dockerignore: 20000 paths x 41 patterns: {ignore:?}");
}
