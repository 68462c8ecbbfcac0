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
    let rounds = 20;
    let (mut parse, mut model, mut graph, mut yaml, mut schema) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for _ in 0..rounds {
        let t0 = Instant::now();
        let doc = berth_compose::yaml::parse(&text, Path::new("bench.yaml"))
            .unwrap()
            .remove(0);
        let t1 = Instant::now();
        assert!(berth_compose::schema::check_document(&doc).is_empty());
        schema += t1.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let project = Project::from_node(&doc, &ctx).unwrap();
        let t2 = Instant::now();
        let levels = ServiceGraph::new(&project).start_levels().unwrap();
        let t3 = Instant::now();
        let out = render(&project, Format::Yaml);
        let t4 = Instant::now();
        assert_eq!(project.services.len(), n);
        assert_eq!(levels.len(), n);
        assert!(out.len() > text.len());
        parse += (t1 - t0).as_secs_f64();
        model += (t2 - t1).as_secs_f64();
        graph += (t3 - t2).as_secs_f64();
        yaml += (t4 - t3).as_secs_f64();
    }
    let ms = |s: f64| s * 1000.0 / f64::from(rounds);
    println!(
        "{n} services ({} KiB): parse {:.2} ms, normalize+validate {:.2} ms (of which schema check {:.2} ms), levels {:.2} ms, render {:.2} ms",
        text.len() / 1024,
        ms(parse),
        ms(model),
        ms(schema),
        ms(graph),
        ms(yaml)
    );
}
