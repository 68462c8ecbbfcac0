//! Unit tests of normalization: each short syntax to its long form, defaults, profiles,
//! env files, and the errors conversion and validation report.

use std::path::Path;

use indexmap::IndexMap;

use super::*;

fn env() -> IndexMap<String, String> {
    [("HOME", "/home/u"), ("FOO", "from-env"), ("TAG", "1.2")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load_with(text: &str, dir: &Path, profiles: &[&str]) -> Result<Project> {
    let doc = crate::yaml::parse(text, Path::new("compose.yaml"))
        .unwrap()
        .remove(0);
    let env = env();
    let profiles: Vec<String> = profiles.iter().map(|p| p.to_string()).collect();
    let ctx = NormalizeContext {
        name: "proj",
        working_dir: dir,
        environment: &env,
        profiles: &profiles,
    };
    Project::from_node(&doc, &ctx)
}

fn load(text: &str) -> Project {
    load_with(text, Path::new("/proj"), &[]).unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> String {
    load_with(text, Path::new("/proj"), &[])
        .expect_err("should fail")
        .to_string()
}

fn svc(text: &str) -> Service {
    let mut p = load(&format!("services:\n  s:\n    image: busybox\n{text}"));
    p.services.shift_remove("s").unwrap()
}

/// Converts service `name` of `text` whatever errors it has (keys that parse but that the
/// engine cannot honour); returns it with the error messages.
fn convert(text: &str, name: &str) -> (Service, Vec<String>) {
    let doc = crate::yaml::parse(text, Path::new("compose.yaml"))
        .unwrap()
        .remove(0);
    let env = env();
    let ctx = NormalizeContext {
        name: "proj",
        working_dir: Path::new("/proj"),
        environment: &env,
        profiles: &[],
    };
    let mut conv = conv::Conv::new(&ctx);
    let services = doc.get("services").and_then(|s| s.as_map()).unwrap();
    let entry = services.iter().find(|e| e.key == name).unwrap();
    let s = conv.service(name, &entry.value, &entry.key_loc);
    (s, conv.errors.iter().map(ToString::to_string).collect())
}

/// [`convert`] of service `s` given by `text`, which must fail with an error containing
/// `refused`.
fn svc_refused(text: &str, refused: &str) -> Service {
    let (s, errors) = convert(&format!("services:\n  s:\n    image: busybox\n{text}"), "s");
    assert!(
        errors.iter().any(|e| e.contains(refused)),
        "no error with {refused:?} in {errors:?}"
    );
    s
}

fn json(v: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(v).unwrap()
}

#[test]
fn ports_all_forms_become_long_syntax() {
    let s = svc(
        "    ports:\n      - \"80\"\n      - 8081\n      - 8080:80\n      - 127.0.0.1::82/udp\n      - target: 90\n        published: 9090\n        host_ip: 0.0.0.0\n        protocol: udp\n        mode: host\n        name: web\n        app_protocol: http\n",
    );
    let v = json(&s.ports);
    assert_eq!(
        v,
        serde_json::json!([
            {"mode": "ingress", "target": 80, "protocol": "tcp"},
            {"mode": "ingress", "target": 8081, "protocol": "tcp"},
            {"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp"},
            {"mode": "ingress", "host_ip": "127.0.0.1", "target": 82, "protocol": "udp"},
            {"name": "web", "mode": "host", "host_ip": "0.0.0.0", "target": 90, "published": "9090", "protocol": "udp", "app_protocol": "http"},
        ])
    );
}

#[test]
fn volumes_short_and_long() {
    let p = load(
        "services:\n  s:\n    image: x\n    volumes:\n      - ./data:/data:ro\n      - db:/var/lib/db\n      - /anon\n      - type: tmpfs\n        target: /tmp\n        tmpfs: {size: 64m, mode: 0o1777}\n      - type: bind\n        source: conf\n        target: /etc/conf\n        bind: {propagation: rshared}\nvolumes:\n  db: {}\n  unused: {}\n",
    );
    let v = json(&p.services["s"].volumes);
    assert_eq!(
        v,
        serde_json::json!([
            {"type": "bind", "source": "/proj/data", "target": "/data", "read_only": true, "bind": {"create_host_path": true}},
            {"type": "volume", "source": "db", "target": "/var/lib/db", "volume": {}},
            {"type": "volume", "target": "/anon", "volume": {}},
            {"type": "tmpfs", "target": "/tmp", "tmpfs": {"size": "67108864", "mode": 1023}},
            {"type": "bind", "source": "/proj/conf", "target": "/etc/conf", "bind": {"propagation": "rshared"}},
        ])
    );
    assert_eq!(p.volume_names(), vec!["db"], "unused volumes are dropped");
    assert_eq!(p.volumes["db"].name, "proj_db");
}

#[test]
fn depends_on_list_becomes_map() {
    let p = load(
        "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on:\n      c: {condition: service_healthy, restart: true}\n  c:\n    image: x\n",
    );
    assert_eq!(
        json(&p.services["a"].depends_on),
        serde_json::json!({"b": {"condition": "service_started", "required": true}})
    );
    assert_eq!(
        json(&p.services["b"].depends_on),
        serde_json::json!({"c": {"condition": "service_healthy", "restart": true, "required": true}})
    );
}

#[test]
fn environment_list_and_map() {
    let s = svc("    environment:\n      - A=1\n      - FOO\n      - MISSING\n      - B=x=y\n");
    assert_eq!(s.environment["A"].as_deref(), Some("1"));
    assert_eq!(s.environment["FOO"].as_deref(), Some("from-env"));
    assert_eq!(s.environment["MISSING"], None);
    assert_eq!(s.environment["B"].as_deref(), Some("x=y"));
    let s = svc("    environment:\n      N: 5\n      T: true\n      FOO:\n      E: ''\n");
    assert_eq!(s.environment["N"].as_deref(), Some("5"));
    assert_eq!(s.environment["T"].as_deref(), Some("true"));
    assert_eq!(s.environment["FOO"].as_deref(), Some("from-env"));
    assert_eq!(s.environment["E"].as_deref(), Some(""));
}

#[test]
fn env_files_are_merged_under_environment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.env"), "A=1\nB=from-file\nFOO\n").unwrap();
    std::fs::write(dir.path().join("b.env"), "A=2\n").unwrap();
    let p = load_with(
        "services:\n  s:\n    image: x\n    env_file:\n      - a.env\n      - path: b.env\n      - path: missing.env\n        required: false\n    environment:\n      B: inline\n",
        dir.path(),
        &[],
    )
    .unwrap();
    let s = &p.services["s"];
    assert_eq!(s.environment["A"].as_deref(), Some("2"));
    assert_eq!(s.environment["B"].as_deref(), Some("inline"));
    assert_eq!(s.environment["FOO"].as_deref(), Some("from-env"));
    assert_eq!(s.env_files.len(), 3);
    assert!(
        s.env_files[0]
            .path
            .starts_with(dir.path().to_str().unwrap())
    );
}

#[test]
fn missing_required_env_file_is_an_error_at_its_position() {
    let e = load_with(
        "services:\n  s:\n    image: x\n    env_file: nope.env\n",
        Path::new("/nonexistent-berth-dir"),
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("compose.yaml:4:15: "), "{e}");
    assert!(e.contains("cannot read"), "{e}");
}

#[test]
fn labels_list_and_map_and_sysctls() {
    let s = svc_refused(
        "    labels: [a=1, b]\n    sysctls:\n      net.core.somaxconn: 1024\n    annotations: {x: y}\n",
        "annotations`: container annotations are not supported",
    );
    assert_eq!(json(&s.labels), serde_json::json!({"a": "1", "b": ""}));
    assert_eq!(
        json(&s.sysctls),
        serde_json::json!({"net.core.somaxconn": "1024"})
    );
    assert_eq!(json(&s.annotations), serde_json::json!({"x": "y"}));
}

#[test]
fn networks_list_and_map_and_default() {
    let p = load(
        "services:\n  a:\n    image: x\n    networks:\n      front:\n        aliases: [web]\n        ipv4_address: 172.28.0.5\n        priority: 10\n      back:\n  b:\n    image: x\n    networks: [back]\n  c:\n    image: x\nnetworks:\n  front: {}\n  back:\n    name: custom\n  ext:\n    external: true\n",
    );
    assert_eq!(
        json(&p.services["a"].networks),
        serde_json::json!({"back": null, "front": {"aliases": ["web"], "ipv4_address": "172.28.0.5", "priority": 10}})
    );
    assert_eq!(
        json(&p.services["c"].networks),
        serde_json::json!({"default": null})
    );
    assert_eq!(p.networks["default"].name, "proj_default");
    assert_eq!(p.networks["front"].name, "proj_front");
    assert_eq!(p.networks["back"].name, "custom");
    assert!(
        !p.networks.contains_key("ext"),
        "unused networks are dropped"
    );
    assert_eq!(p.network_names(), vec!["back", "default", "front"]);
}

#[test]
fn external_resources_keep_their_name() {
    let p = load(
        "services:\n  a:\n    image: x\n    networks: [ext]\n    volumes: [data:/d]\nnetworks:\n  ext:\n    external: true\nvolumes:\n  data:\n    external: true\n",
    );
    assert_eq!(p.networks["ext"].name, "ext");
    assert_eq!(p.volumes["data"].name, "data");
    assert!(p.volumes["data"].external);
}

#[test]
fn healthcheck_forms() {
    let s = svc(
        "    healthcheck:\n      test: curl -f http://localhost\n      interval: 1m30s\n      timeout: 10s\n      retries: 3\n      start_period: 500ms\n",
    );
    assert_eq!(
        json(&s.healthcheck),
        serde_json::json!({"test": ["CMD-SHELL", "curl -f http://localhost"], "timeout": "10s", "interval": "1m30s", "retries": 3, "start_period": "500ms"})
    );
    let s = svc("    healthcheck:\n      test: [CMD, pg_isready]\n");
    assert_eq!(s.healthcheck.unwrap().test, vec!["CMD", "pg_isready"]);
    let s = svc("    healthcheck:\n      test: NONE\n");
    assert_eq!(s.healthcheck.unwrap().test, vec!["NONE"]);
    let s = svc("    healthcheck:\n      disable: true\n");
    assert!(s.healthcheck.unwrap().disable);
}

#[test]
fn deploy_resources_and_policies() {
    let s = svc_refused(
        "    deploy:\n      replicas: 3\n      resources:\n        limits: {cpus: '0.5', memory: 512m, pids: 100}\n        reservations:\n          memory: 128m\n          devices:\n            - capabilities: [gpu]\n              count: all\n      restart_policy: {condition: on-failure, delay: 5s, max_attempts: 3, window: 2m}\n      update_config: {parallelism: 2, order: start-first}\n",
        "reservations.devices`: device requests (GPUs) are not supported",
    );
    assert_eq!(s.replicas(), 3);
    assert_eq!(
        json(&s.deploy),
        serde_json::json!({"replicas": 3,
            "update_config": {"parallelism": 2, "order": "start-first"},
            "resources": {"limits": {"cpus": 0.5, "memory": "536870912", "pids": 100},
                "reservations": {"memory": "134217728", "devices": [{"capabilities": ["gpu"], "count": -1}]}},
            "restart_policy": {"condition": "on-failure", "delay": "5s", "max_attempts": 3, "window": "2m0s"}})
    );
}

#[test]
fn build_string_and_map() {
    let s = svc("    build: ./app\n");
    assert_eq!(
        json(&s.build),
        serde_json::json!({"context": "/proj/app", "dockerfile": "Dockerfile"})
    );
    let s = svc(
        "    build:\n      context: .\n      dockerfile_inline: FROM busybox\n      args: [A=1, FOO]\n      tags: [x:1]\n      target: prod\n      network: host\n",
    );
    assert_eq!(
        json(&s.build),
        serde_json::json!({"context": "/proj", "dockerfile_inline": "FROM busybox", "args": {"A": "1", "FOO": "from-env"}, "network": "host", "target": "prod", "tags": ["x:1"]})
    );
    let s = svc(
        "    build:\n      context: .\n      additional_contexts:\n        src: ../src\n        base: docker-image://alpine:3\n        stage: target:builder\n",
    );
    let ctx = s.build.unwrap().additional_contexts;
    assert_eq!(ctx["src"], "/src");
    assert_eq!(ctx["base"], "docker-image://alpine:3");
    assert_eq!(ctx["stage"], "target:builder");
    let s = svc("    build: https://github.com/a/b.git#main\n");
    assert_eq!(s.build.unwrap().context, "https://github.com/a/b.git#main");
}

#[test]
fn ulimits_tmpfs_devices_logging() {
    let s = svc(
        "    ulimits:\n      nproc: 65535\n      nofile: {soft: 20000, hard: 40000}\n    tmpfs: /run\n    devices: ['/dev/fuse']\n    logging:\n      driver: json-file\n      options: {max-size: 10m}\n",
    );
    assert_eq!(
        json(&s.ulimits),
        serde_json::json!({"nofile": {"soft": 20000, "hard": 40000}, "nproc": 65535})
    );
    assert_eq!(s.tmpfs, vec!["/run"]);
    assert_eq!(
        json(&s.devices),
        serde_json::json!([{"source": "/dev/fuse", "target": "/dev/fuse", "permissions": "rwm"}])
    );
    assert_eq!(
        json(&s.logging),
        serde_json::json!({"driver": "json-file", "options": {"max-size": "10m"}})
    );
}

#[test]
fn extra_hosts_list_and_map() {
    let s = svc("    extra_hosts: ['a:10.0.0.1', 'b=10.0.0.2']\n");
    assert_eq!(
        json(&s)["extra_hosts"],
        serde_json::json!(["a=10.0.0.1", "b=10.0.0.2"])
    );
    let s = svc("    extra_hosts:\n      c: 10.0.0.3\n      d: [10.0.0.4, '::1']\n");
    assert_eq!(
        json(&s)["extra_hosts"],
        serde_json::json!(["c=10.0.0.3", "d=10.0.0.4", "d=::1"])
    );
}

#[test]
fn command_and_entrypoint_are_shell_split() {
    let s = svc("    command: sh -c 'echo \"hi there\"'\n    entrypoint: [/bin/tini, --]\n");
    assert_eq!(s.command.unwrap(), vec!["sh", "-c", "echo \"hi there\""]);
    assert_eq!(s.entrypoint.unwrap(), vec!["/bin/tini", "--"]);
    let s = svc("    command: []\n");
    assert_eq!(s.command, Some(vec![]));
}

#[test]
fn secrets_and_configs_references() {
    let p = load(
        "services:\n  s:\n    image: x\n    secrets:\n      - db_pass\n      - source: api\n        target: /run/api\n        mode: 0440\n    configs: [conf]\nsecrets:\n  db_pass: {file: ./pass.txt}\n  api: {environment: API}\nconfigs:\n  conf: {content: hello}\n",
    );
    let s = &p.services["s"];
    assert_eq!(
        json(&s.secrets),
        serde_json::json!([{"source": "db_pass"}, {"source": "api", "target": "/run/api", "mode": 288}])
    );
    assert_eq!(p.secrets["db_pass"].file.as_deref(), Some("/proj/pass.txt"));
    assert_eq!(p.secrets["db_pass"].name, "proj_db_pass");
    assert_eq!(p.configs["conf"].content.as_deref(), Some("hello"));
}

#[test]
fn develop_watch_and_hooks() {
    let s = svc_refused(
        "    develop:\n      watch:\n        - path: ./src\n          action: sync\n          target: /app/src\n          ignore: [node_modules/]\n        - path: package.json\n          action: rebuild\n    post_start:\n      - command: echo started\n        user: root\n",
        "post_start`: lifecycle hooks are not supported",
    );
    let d = s.develop.unwrap();
    assert_eq!(d.watch[0].path, "/proj/src");
    assert_eq!(d.watch[1].action, "rebuild");
    assert_eq!(s.post_start[0].command, vec!["echo", "started"]);
}

#[test]
fn profiles_filter_services() {
    let text = "services:\n  app:\n    image: x\n  debug:\n    image: x\n    profiles: [debug]\n  all:\n    image: x\n    profiles: [a, b]\n";
    let p = load_with(text, Path::new("/p"), &[]).unwrap();
    assert_eq!(p.service_names(), vec!["app"]);
    assert_eq!(p.profiles(), vec!["a", "b", "debug"]);
    let p = load_with(text, Path::new("/p"), &["b"]).unwrap();
    assert_eq!(p.service_names(), vec!["app", "all"]);
    let p = load_with(text, Path::new("/p"), &["*"]).unwrap();
    assert_eq!(p.service_names().len(), 3);
}

#[test]
fn implicit_dependencies_from_links_and_namespaces() {
    let (a, errors) = convert(
        "services:\n  a:\n    image: x\n    links: ['b:alias']\n    network_mode: service:c\n    volumes_from: [d, 'container:zzz']\n    pid: service:e\n  b: {image: x}\n  c: {image: x}\n  d: {image: x}\n  e: {image: x}\n",
        "a",
    );
    let deps = &a.depends_on;
    assert_eq!(deps.keys().collect::<Vec<_>>(), vec!["b", "c", "d", "e"]);
    assert!(deps["b"].restart && deps["c"].restart && !deps["d"].restart);
    assert!(a.networks.is_empty());
    // the engine gives every container its own PID namespace
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("`service:e` is not supported"));
}

#[test]
fn sizes_durations_and_scalars() {
    let s = svc(
        "    mem_limit: 1g\n    shm_size: 64m\n    memswap_limit: -1\n    stop_grace_period: 1m30s\n    cpus: 1.5\n    scale: 2\n    init: true\n    tty: 'true'\n",
    );
    assert_eq!(s.mem_limit.unwrap().0, 1 << 30);
    assert_eq!(s.shm_size.unwrap().0, 64 << 20);
    assert_eq!(s.memswap_limit, Some(-1));
    assert_eq!(s.stop_grace_period.unwrap().to_string(), "1m30s");
    assert_eq!(
        (s.cpus, s.scale, s.init, s.tty),
        (1.5, Some(2), Some(true), true)
    );
}

#[test]
fn extensions_are_kept() {
    let p = load("x-top: {a: 1}\nservices:\n  s:\n    image: x\n    x-meta: [1, two]\n");
    assert_eq!(p.extensions["x-top"], serde_json::json!({"a": 1}));
    assert_eq!(
        p.services["s"].extensions["x-meta"],
        serde_json::json!([1, "two"])
    );
}

#[test]
fn gpus_and_provider() {
    let s = svc_refused("    gpus: all\n", "gpus`: GPU requests are not supported");
    assert_eq!(s.gpus[0].count, Some(-1));
    let p =
        load("services:\n  m:\n    provider:\n      type: model\n      options: {model: ai/x}\n");
    assert_eq!(p.services["m"].provider.as_ref().unwrap().kind, "model");
    assert!(p.services["m"].networks.is_empty());
}

#[test]
fn images_lists_built_images_by_project_name() {
    let p = load("services:\n  b: {build: .}\n  a: {image: nginx:1}\n");
    assert_eq!(
        p.images(),
        vec![
            ("a".to_string(), "nginx:1".to_string()),
            ("b".to_string(), "proj-b".to_string())
        ]
    );
}

#[test]
fn error_unknown_key_with_hint() {
    let e = err("services:\n  web:\n    image: nginx\n    prots: ['80']\n");
    assert_eq!(
        e,
        "compose.yaml:4:5: unknown key `prots` in `services.web`\n  hint: did you mean `ports`?"
    );
}

#[test]
fn error_bad_port_and_volume_specs_are_located() {
    let e = err("services:\n  s:\n    image: x\n    ports: ['80:abc']\n    volumes: ['data']\n");
    let lines: Vec<&str> = e.lines().collect();
    assert!(
        lines[0]
            .starts_with("compose.yaml:4:13: `services.s.ports[0]`: invalid container port `abc`"),
        "{e}"
    );
    assert!(
        lines[1].starts_with("compose.yaml:5:15: `services.s.volumes[0]`"),
        "{e}"
    );
}

#[test]
fn error_bad_duration_and_size() {
    let e = err("services:\n  s:\n    image: x\n    stop_grace_period: 10\n    mem_limit: lots\n");
    assert!(
        e.contains("compose.yaml:4:24: `services.s.stop_grace_period`: invalid duration `10`"),
        "{e}"
    );
    assert!(
        e.contains("compose.yaml:5:16: `services.s.mem_limit`: invalid size `lots`"),
        "{e}"
    );
}

#[test]
fn error_invalid_enums() {
    let e = err(
        "services:\n  s:\n    image: x\n    restart: sometimes\n    pull_policy: often\n    network_mode: 'service:'\n",
    );
    assert!(e.contains("invalid restart policy `sometimes`"), "{e}");
    assert!(
        e.contains("invalid value `often` for `services.s.pull_policy`"),
        "{e}"
    );
    assert!(e.contains("missing a name after `service:`"), "{e}");
    let e = err(
        "services:\n  s:\n    image: x\n    depends_on:\n      t: {condition: started}\n  t: {image: x}\n",
    );
    assert!(e.contains("invalid value `started`"), "{e}");
}

#[test]
fn error_wrong_type() {
    let e = err("services:\n  s:\n    image: x\n    ports: {a: 1}\n");
    assert_eq!(
        e,
        "compose.yaml:4:12: `services.s.ports` must be a sequence, found a mapping"
    );
}

#[test]
fn errors_are_all_collected_and_sorted() {
    let e = err(
        "services:\n  a:\n    imag: x\n    build: .\n    restart: bad\n  b:\n    image: x\n    depends_on: [zzz]\n",
    );
    assert_eq!(
        e.lines().filter(|l| l.starts_with("compose.yaml:")).count(),
        3,
        "{e}"
    );
    let first: Vec<u32> = e
        .lines()
        .filter_map(|l| l.strip_prefix("compose.yaml:"))
        .map(|l| l.split(':').next().unwrap().parse().unwrap())
        .collect();
    assert!(first.is_sorted(), "{e}");
}

#[test]
fn error_secret_needs_exactly_one_source() {
    let e = err(
        "services:\n  s:\n    image: x\n    secrets: [a]\nsecrets:\n  a: {file: x, environment: Y}\n",
    );
    assert!(e.contains("`secrets.a` must set exactly one of"), "{e}");
}

#[test]
fn error_document_must_be_a_mapping() {
    let e = err("- a\n");
    assert!(
        e.contains("a compose file must be a mapping, found a sequence"),
        "{e}"
    );
}

#[test]
fn large_project_normalizes_with_all_references() {
    let mut text = String::from("services:\n");
    for i in 0..1000 {
        text.push_str(&format!(
            "  s{i}:\n    image: x\n    ports: ['{}:80']\n    volumes: ['v{}:/d']\n",
            20000 + i,
            i % 3
        ));
        if i > 0 {
            text.push_str(&format!("    depends_on: [s{}]\n", i - 1));
        }
    }
    text.push_str("volumes: {v0: {}, v1: {}, v2: {}}\n");
    let p = load(&text);
    assert_eq!(p.services.len(), 1000);
    assert_eq!(p.volume_names(), vec!["v0", "v1", "v2"]);
    let levels = crate::graph::ServiceGraph::new(&p).start_levels().unwrap();
    assert_eq!(levels.len(), 1000);
    assert_eq!(levels[999], vec!["s999"]);
}

#[test]
fn compose_go_normalizations() {
    let p = load(
        "services:\n  s:\n    image: x\n    pull_policy: if_not_present\n    volumes: [data:/d]\nvolumes:\n  data:\n    driver_opts: {type: none, o: bind, device: ./store}\n",
    );
    assert_eq!(p.services["s"].pull_policy.as_deref(), Some("missing"));
    assert_eq!(p.volumes["data"].driver_opts["device"], "/proj/store");
    let e = err("services:\n  s:\n    image: x\n    scale: 2\n    deploy: {replicas: 3}\n");
    assert!(
        e.contains("`scale` (2) and `deploy.replicas` (3) differ"),
        "{e}"
    );
    let e = err(
        "services:\n  s:\n    image: x\n    networks: [n]\nnetworks:\n  n:\n    name: a\n    external: {name: b}\n",
    );
    assert!(e.contains("cannot both be set"), "{e}");
}

#[test]
fn explicit_nulls_mean_unset() {
    let s = svc("    deploy:\n    develop:\n    command:\n    pid:\n");
    assert!(s.deploy.is_none() && s.develop.is_none() && s.command.is_none() && s.pid.is_none());
    let e = err("services:\n  s:\n    image:\n");
    assert!(
        e.contains("`services.s.image` must be a string, found null"),
        "{e}"
    );
}

#[test]
fn document_name_is_used_when_the_context_has_none() {
    let doc = crate::yaml::parse(
        "name: fromdoc\nservices:\n  s: {image: x, volumes: [v:/v]}\nvolumes: {v: {}}\n",
        Path::new("c.yaml"),
    )
    .unwrap()
    .remove(0);
    let env = env();
    let ctx = NormalizeContext {
        name: "",
        working_dir: Path::new("/p"),
        environment: &env,
        profiles: &[],
    };
    let p = Project::from_node(&doc, &ctx).unwrap();
    assert_eq!(p.name, "fromdoc");
    assert_eq!(p.volumes["v"].name, "fromdoc_v");
}

#[test]
fn every_key_with_every_shape_never_panics() {
    let shapes = [
        "{x: 1}",
        "[1, a]",
        "5",
        "'text'",
        "null",
        "[{a: b}]",
        "{a: {b: c}}",
    ];
    for key in crate::schema::service_keys() {
        for shape in shapes {
            let text = format!("services:\n  s:\n    {key}: {shape}\n");
            // only the absence of a panic matters here; most shapes are errors
            let _ = load_with(&text, Path::new("/p"), &[]);
        }
    }
    for doc in [
        "services: [a]",
        "services: 5",
        "name: x",
        "services:",
        "x-a: 1",
        "services: {s: [1]}",
    ] {
        let _ = load_with(doc, Path::new("/p"), &[]);
    }
    for section in ["networks", "volumes", "secrets", "configs", "models"] {
        for shape in shapes {
            let text = format!("services:\n  s: {{image: x}}\n{section}:\n  k: {shape}\n");
            let _ = load_with(&text, Path::new("/p"), &[]);
        }
    }
}

#[test]
fn common_mistakes_read_well() {
    let e = err(
        "services:\n  s:\n    image: x\n    environment:\n      - FOO: bar\n    depends_on: db\n    volumes: ./data:/data\n",
    );
    assert_eq!(
        e,
        "compose.yaml:5:9: `services.s.environment[0]` must be a string, found a mapping\n  hint: write `FOO=bar`, or make `environment` a mapping\n\
         compose.yaml:6:17: `services.s.depends_on` must be a mapping or a sequence, found a string\n\
         compose.yaml:7:14: `services.s.volumes` must be a sequence, found a string"
    );
}

#[test]
fn realtime_cpu_accepts_microseconds_and_durations() {
    let s = svc_refused(
        "    cpu_rt_runtime: 400ms\n    cpu_rt_period: 1400\n",
        "real-time CPU scheduling is not supported",
    );
    assert_eq!((s.cpu_rt_runtime, s.cpu_rt_period), (400_000, 1400));
}

#[test]
fn ipam_settings_without_an_engine_equivalent_are_refused() {
    let e = err(
        "services:\n  a: {image: x, networks: [n]}\nnetworks:\n  n:\n    ipam:\n      driver: dhcp\n      options: {foo: bar}\n      config:\n        - subnet: 10.250.8.0/24\n          aux_addresses: {router: 10.250.8.2}\n        - gateway: 10.250.9.1\n",
    );
    for want in [
        "compose.yaml:6:15: `networks.n.ipam.driver`: berth's engine has only the `default` IPAM driver",
        "compose.yaml:7:16: `networks.n.ipam.options`: IPAM driver options are not supported",
        "compose.yaml:10:26: `networks.n.ipam.config[0].aux_addresses`: reserved auxiliary addresses",
        "compose.yaml:11:11: `networks.n.ipam.config[1]`: a `gateway` or `ip_range` needs the `subnet`",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
    load(
        "services:\n  a: {image: x, networks: [n]}\nnetworks:\n  n:\n    ipam:\n      driver: default\n      config:\n        - subnet: 10.250.8.0/24\n          ip_range: 10.250.8.128/25\n",
    );
}
