//! Golden tests of the planners: each plan's `Display` is compared with
//! `compose/tests/plan/<name>.txt` (`BLESS=1` rewrites the files: read the diff).

use std::path::Path;

use super::*;
use crate::engine_api::{ContainerInfo, NetworkInfo, RunState, SubnetSpec, VolumeInfo};
use crate::model::Project;

const APP: &str = "\
services:
  web:
    image: nginx
    ports: ['8080:80']
    depends_on:
      api: {condition: service_healthy}
  api:
    image: api:1
    volumes: ['data:/data']
    depends_on:
      db: {condition: service_started}
      migrate: {condition: service_completed_successfully}
  migrate:
    image: api:1
    command: migrate
  db:
    image: postgres
    volumes: ['data:/var/lib/postgresql/data']
volumes:
  data: {}
";

fn project(text: &str) -> Project {
    crate::testutil::project(text, "app")
}

fn container(spec: &crate::engine_api::ContainerSpec, state: RunState) -> ContainerInfo {
    ContainerInfo {
        id: format!("id-{}", spec.name),
        name: spec.name.clone(),
        labels: spec.labels.clone(),
        state,
        health: None,
        exit_code: None,
        volumes: Vec::new(),
    }
}

/// The engine state after `up` of `project` with `scale`, every container running.
fn up_state(project: &Project, scale: &[(&str, u64)]) -> Observed {
    let options = PlanOptions {
        scale: scale.iter().map(|(s, n)| (s.to_string(), *n)).collect(),
        ..PlanOptions::default()
    };
    let mut containers = Vec::new();
    for svc in project.services.values() {
        let n = options.scale.get(&svc.name).copied().unwrap_or(1);
        for number in 1..=n {
            containers.push(container(
                &container_spec(project, svc, number, &options),
                RunState::Running,
            ));
        }
    }
    let networks: Vec<NetworkInfo> = project
        .networks
        .iter()
        .map(|(k, n)| {
            let spec = network_spec(&project.name, k, n);
            NetworkInfo {
                id: format!("id-{}", spec.name),
                name: spec.name,
                labels: spec.labels,
            }
        })
        .collect();
    let volumes: Vec<VolumeInfo> = project
        .volumes
        .iter()
        .map(|(k, v)| {
            let spec = volume_spec(&project.name, k, v);
            VolumeInfo {
                name: spec.name,
                labels: spec.labels,
            }
        })
        .collect();
    Observed::from_engine(&project.name, &containers, &networks, &volumes)
}

fn golden(name: &str, plan: &Plan) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/plan/{name}.txt"));
    let got = plan.to_string();
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, &got).expect("write golden file");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with BLESS=1 to create it)", path.display()));
    assert_eq!(got, want, "plan {name} differs from {}", path.display());
}

/// Every dependency points to an earlier operation, so the plan is a DAG in order.
fn assert_dag(plan: &Plan) {
    for (i, op) in plan.operations.iter().enumerate() {
        assert!(
            op.deps.iter().all(|&d| d < i),
            "op {i} has a forward dep: {plan}"
        );
    }
}

fn position(plan: &Plan, line: &str) -> usize {
    plan.operations
        .iter()
        .position(|o| o.action.to_string() == line)
        .unwrap_or_else(|| panic!("no `{line}` in\n{plan}"))
}

#[test]
fn fresh_project_creates_everything_in_dependency_order() {
    let p = project(APP);
    let plan = plan(&p, &Observed::default(), &PlanOptions::default());
    assert_dag(&plan);
    golden("fresh", &plan);
    let start_db = position(&plan, "start app-db-1");
    let start_api = position(&plan, "start app-api-1");
    let wait_migrate = position(&plan, "wait-completed app-migrate-1");
    let wait_api = position(&plan, "wait-healthy app-api-1");
    let start_web = position(&plan, "start app-web-1");
    assert!(plan.operations[start_api].deps.contains(&start_db));
    assert!(plan.operations[start_api].deps.contains(&wait_migrate));
    assert!(plan.operations[start_web].deps.contains(&wait_api));
    let create_vol = position(&plan, "create-volume app_data");
    assert!(
        plan.operations[position(&plan, "create app-db-1")]
            .deps
            .contains(&create_vol)
    );
}

#[test]
fn converged_project_plans_nothing() {
    let p = project(APP);
    let plan = plan(&p, &up_state(&p, &[]), &PlanOptions::default());
    assert!(plan.is_empty(), "{plan}");
    golden("noop", &plan);
}

#[test]
fn changed_service_is_recreated_and_only_it() {
    let before = project(APP);
    let observed = up_state(&before, &[]);
    let after = project(&APP.replace("image: postgres", "image: postgres:17"));
    let plan = plan(&after, &observed, &PlanOptions::default());
    assert_dag(&plan);
    golden("config_changed", &plan);
    assert!(
        plan.operations
            .iter()
            .all(|o| o.action.to_string().contains("app-db-1") || o.cause == Cause::DependsOn)
    );
}

#[test]
fn rebuilt_image_recreates_only_containers_made_from_the_old_one() {
    let p = project(
        "services:\n  a: {build: ., network_mode: none}\n  b: {image: x, network_mode: none}\n  \
         c: {image: y, network_mode: none}\n",
    );
    let ids = |a: &str| {
        [("a", a), ("b", "sha256:b")]
            .iter()
            .map(|(s, id)| (s.to_string(), id.to_string()))
            .collect()
    };
    let first = PlanOptions {
        image_ids: ids("sha256:a1"),
        ..PlanOptions::default()
    };
    let mut containers = Vec::new();
    for svc in p.services.values() {
        let spec = container_spec(&p, svc, 1, &first);
        containers.push(container(&spec, RunState::Running));
    }
    let observed = Observed::from_engine(&p.name, &containers, &[], &[]);
    assert!(plan(&p, &observed, &first).is_empty());
    let rebuilt = PlanOptions {
        image_ids: ids("sha256:a2"),
        ..PlanOptions::default()
    };
    let plan = plan(&p, &observed, &rebuilt);
    assert_eq!(
        plan.to_string(),
        "0: stop app-a-1 (image changed)\n1: remove app-a-1 (image changed) after 0\n\
         2: create app-a-1 (image changed) after 1\n3: start app-a-1 (image changed) after 2\n"
    );
    let spec = container_spec(&p, &p.services["a"], 1, &rebuilt);
    assert_eq!(spec.labels[labels::IMAGE], "sha256:a2");
    let unknown = container_spec(&p, &p.services["c"], 1, &rebuilt);
    assert!(!unknown.labels.contains_key(labels::IMAGE));
}

#[test]
fn stopped_container_is_started() {
    let p = project("services:\n  a: {image: x}\n");
    let mut observed = up_state(&p, &[]);
    observed.containers[0].state = RunState::Exited;
    let plan = plan(&p, &observed, &PlanOptions::default());
    assert_eq!(plan.to_string(), "0: start app-a-1 (not running)\n");
}

#[test]
fn scale_up_adds_the_next_numbers() {
    let p = project(APP);
    let options = PlanOptions {
        scale: [("web".to_string(), 3)].into(),
        ..PlanOptions::default()
    };
    let plan = plan(&p, &up_state(&p, &[]), &options);
    assert_dag(&plan);
    golden("scale_up", &plan);
}

#[test]
fn scale_down_keeps_the_lowest_numbers_and_removes_the_rest_concurrently() {
    let p = project(APP);
    let options = PlanOptions {
        scale: [("web".to_string(), 1)].into(),
        ..PlanOptions::default()
    };
    let plan = plan(&p, &up_state(&p, &[("web", 4)]), &options);
    assert_dag(&plan);
    golden("scale_down", &plan);
    let rm4 = position(&plan, "remove app-web-4");
    let stop3 = position(&plan, "stop app-web-3");
    assert!(plan.operations[stop3].deps.is_empty(), "{plan}");
    assert!(!plan.operations[rm4].deps.contains(&stop3), "{plan}");
    assert!(!plan.to_string().contains("app-web-1"));
}

fn with_orphan(p: &Project) -> Observed {
    let old = project("services:\n  gone: {image: x}\n");
    let mut observed = up_state(p, &[]);
    observed.containers.extend(up_state(&old, &[]).containers);
    observed
}

#[test]
fn orphans_are_reported_without_remove_orphans() {
    let p = project(APP);
    let plan = plan(&p, &with_orphan(&p), &PlanOptions::default());
    assert!(plan.is_empty());
    golden("orphans_kept", &plan);
}

#[test]
fn orphans_are_removed_with_remove_orphans() {
    let p = project(APP);
    let options = PlanOptions {
        remove_orphans: true,
        ..PlanOptions::default()
    };
    let plan = plan(&p, &with_orphan(&p), &options);
    golden("orphans_removed", &plan);
}

#[test]
fn no_deps_touches_only_the_selected_service() {
    let p = project(APP);
    let options = PlanOptions {
        services: vec!["web".into()],
        no_deps: true,
        ..PlanOptions::default()
    };
    let plan = plan(&p, &Observed::default(), &options);
    assert_dag(&plan);
    golden("no_deps", &plan);
    let with_deps = super::plan(
        &p,
        &Observed::default(),
        &PlanOptions {
            services: vec!["web".into()],
            ..PlanOptions::default()
        },
    );
    assert!(with_deps.to_string().contains("create app-db-1"));
}

#[test]
fn force_recreate_recreates_selected_services_only() {
    let p = project(APP);
    let options = PlanOptions {
        services: vec!["api".into()],
        force_recreate: true,
        ..PlanOptions::default()
    };
    let plan = plan(&p, &up_state(&p, &[]), &options);
    assert_dag(&plan);
    golden("force_recreate", &plan);
    let deps = PlanOptions {
        always_recreate_deps: true,
        ..options
    };
    let plan = super::plan(&p, &up_state(&p, &[]), &deps);
    assert!(
        plan.to_string()
            .contains("create app-db-1 (--always-recreate-deps)"),
        "{plan}"
    );
}

#[test]
fn no_recreate_keeps_diverged_containers() {
    let before = project(APP);
    let after = project(&APP.replace("image: postgres", "image: postgres:17"));
    let options = PlanOptions {
        no_recreate: true,
        ..PlanOptions::default()
    };
    assert!(plan(&after, &up_state(&before, &[]), &options).is_empty());
}

#[test]
fn no_start_only_creates() {
    let p = project(APP);
    let options = PlanOptions {
        no_start: true,
        ..PlanOptions::default()
    };
    let plan = plan(&p, &Observed::default(), &options);
    assert!(plan.operations.iter().all(|o| !matches!(
        o.action,
        Action::StartContainer { .. } | Action::Wait { .. }
    )));
    assert_eq!(plan.operations.len(), 6, "{plan}");
}

#[test]
fn down_stops_dependents_first_and_keeps_volumes() {
    let p = project(APP);
    let plan = plan_down(&p, &up_state(&p, &[]), &DownOptions::default());
    assert_dag(&plan);
    golden("down", &plan);
    let stop_web = position(&plan, "stop app-web-1");
    let stop_api = position(&plan, "stop app-api-1");
    let stop_db = position(&plan, "stop app-db-1");
    assert!(plan.operations[stop_api].deps.contains(&stop_web));
    assert!(plan.operations[stop_db].deps.contains(&stop_api));
    assert!(!plan.to_string().contains("remove-volume"));
}

#[test]
fn down_with_volumes_removes_them_last() {
    let p = project(APP);
    let options = DownOptions {
        volumes: true,
        remove_orphans: true,
        timeout_s: None,
    };
    let plan = plan_down(&p, &with_orphan(&p), &options);
    assert_dag(&plan);
    golden("down_volumes", &plan);
    let rm = position(&plan, "remove-volume app_data");
    assert_eq!(plan.operations[rm].deps.len(), 5, "{plan}");
}

#[test]
fn container_spec_carries_compose_labels() {
    let p = project(APP);
    let options = PlanOptions {
        config_files: vec!["/app/compose.yaml".into()],
        ..PlanOptions::default()
    };
    let spec = container_spec(&p, &p.services["api"], 2, &options);
    assert_eq!(spec.name, "app-api-2");
    let l = &spec.labels;
    assert_eq!(l[labels::PROJECT], "app");
    assert_eq!(l[labels::SERVICE], "api");
    assert_eq!(l[labels::NUMBER], "2");
    assert_eq!(l[labels::ONEOFF], "False");
    assert_eq!(
        l[labels::CONFIG_HASH],
        crate::output::config_hash(&p.services["api"])
    );
    assert_eq!(l[labels::CONFIG_FILES], "/app/compose.yaml");
    assert_eq!(l[labels::WORKING_DIR], "/app");
    assert_eq!(
        l[labels::DEPENDS_ON],
        "db:service_started:false,migrate:service_completed_successfully:false"
    );
    assert_eq!(spec.mounts[0].source.as_deref(), Some("app_data"));
    assert_eq!(spec.networks[0].network, "app_default");
    assert_eq!(spec.networks[0].aliases, vec!["api".to_string()]);
    let web = container_spec(&p, &p.services["web"], 1, &options);
    assert_eq!(web.ports[0].target, 80);
    assert_eq!(web.ports[0].published.as_deref(), Some("8080"));
}

#[test]
fn observed_reads_labels_and_ignores_other_projects() {
    let p = project(APP);
    let mut all = up_state(&p, &[]).containers;
    all[0].oneoff = true;
    let infos: Vec<ContainerInfo> = all
        .iter()
        .map(|c| {
            let mut labels = c.labels.clone();
            if c.oneoff {
                labels.insert(labels::ONEOFF.into(), "True".into());
            }
            ContainerInfo {
                id: c.id.clone(),
                name: format!("/{}", c.name),
                labels,
                state: c.state,
                health: None,
                exit_code: None,
                volumes: Vec::new(),
            }
        })
        .collect();
    let mut other = infos[1].clone();
    other.labels.insert(labels::PROJECT.into(), "other".into());
    let mut infos = infos;
    infos.push(other);
    let o = Observed::from_engine("app", &infos, &[], &[]);
    assert_eq!(o.containers.len(), 4);
    assert!(o.containers[0].oneoff);
    assert_eq!(o.containers[0].name, "app-api-1");
    assert_eq!(o.containers[0].number, 1);
    assert_eq!(o.service_containers("api").len(), 0);
}

#[test]
fn stop_uses_stop_grace_period_rounded_up() {
    let p = project("services:\n  a: {image: x, stop_grace_period: 1500ms}\n");
    let plan = plan_down(&p, &up_state(&p, &[]), &DownOptions::default());
    assert!(
        matches!(
            plan.operations[0].action,
            Action::StopContainer {
                timeout_s: Some(2),
                ..
            }
        ),
        "{plan:?}"
    );
}

#[test]
fn timeout_option_overrides_stop_grace_period() {
    let p = project("services:\n  a: {image: x, stop_grace_period: 1500ms}\n");
    let options = DownOptions {
        timeout_s: Some(0),
        ..DownOptions::default()
    };
    let plan = plan_down(&p, &up_state(&p, &[]), &options);
    assert!(
        matches!(
            plan.operations[0].action,
            Action::StopContainer {
                timeout_s: Some(0),
                ..
            }
        ),
        "{plan:?}"
    );
    let up = PlanOptions {
        scale: [("a".to_string(), 0)].into(),
        timeout_s: Some(3),
        ..PlanOptions::default()
    };
    let scaled = super::plan(&p, &up_state(&p, &[]), &up);
    assert!(
        matches!(
            scaled.operations[0].action,
            Action::StopContainer {
                timeout_s: Some(3),
                ..
            }
        ),
        "{scaled:?}"
    );
}

#[test]
fn dependents_with_restart_true_restart_after_a_recreated_dependency() {
    let text = "services:\n  a:\n    image: x\n    depends_on:\n      b: {condition: service_started, restart: true}\n  c:\n    image: x\n    depends_on: [b]\n  b: {image: y}\n";
    let before = project(text);
    let after = project(&text.replace("image: y", "image: y:2"));
    let plan = plan(&after, &up_state(&before, &[]), &PlanOptions::default());
    assert_dag(&plan);
    golden("restart_dependents", &plan);
    let start_b = position(&plan, "start app-b-1");
    let start_a = plan
        .operations
        .iter()
        .position(|o| o.action.to_string() == "start app-a-1")
        .expect("a restarts");
    assert!(plan.operations[start_a].deps.contains(&start_b), "{plan}");
    assert!(
        !plan.to_string().contains("app-c-1"),
        "c has no restart: true"
    );
}

#[test]
fn specs_convert_environment_healthcheck_and_ipam() {
    let p = project(
        "services:\n  a:\n    image: x\n    environment: {B: '2', A: '1', UNSET: null}\n    healthcheck: {test: [CMD, true], interval: 2s, start_interval: 1s, retries: 3}\n    stop_grace_period: 1500ms\n    networks: [front]\nnetworks:\n  front:\n    ipam: {config: [{subnet: 10.250.7.0/24, gateway: 10.250.7.1, ip_range: 10.250.7.128/25}]}\n",
    );
    let spec = container_spec(&p, &p.services["a"], 1, &PlanOptions::default());
    assert_eq!(spec.env, ["A=1", "B=2"]);
    let h = spec.healthcheck.expect("healthcheck kept");
    assert_eq!(h.test, ["CMD", "true"]);
    assert_eq!(h.interval_ns, Some(2_000_000_000));
    assert_eq!(h.start_interval_ns, Some(1_000_000_000));
    assert_eq!(h.retries, Some(3));
    assert_eq!(
        spec.stop_timeout,
        Some(2),
        "stop_grace_period in seconds, rounded up"
    );
    assert_eq!(spec.networks[0].network, "app_front");
    let net = network_spec("app", "front", &p.networks["front"]);
    assert_eq!(
        net.subnets,
        [SubnetSpec {
            subnet: "10.250.7.0/24".into(),
            gateway: Some("10.250.7.1".into()),
            ip_range: Some("10.250.7.128/25".into()),
        }]
    );
    assert_eq!(net.labels[labels::NETWORK], "front");
    assert_eq!(net.labels[labels::PROJECT], "app");
    assert_eq!(net.enable_ipv4, None, "IPv4 is the engine's default");
}

#[test]
fn static_addresses_of_a_service_reach_its_container_spec() {
    let p = project(
        "services:\n  a:\n    image: x\n    networks:\n      front: {ipv4_address: 10.1.0.5, ipv6_address: 'fd00:1::5'}\n      back:\nnetworks:\n  front: {}\n  back: {}\n",
    );
    let spec = container_spec(&p, &p.services["a"], 1, &PlanOptions::default());
    let by_net = |n: &str| spec.networks.iter().find(|a| a.network == n).unwrap();
    let front = by_net("app_front");
    assert_eq!(
        (front.ipv4_address.as_deref(), front.ipv6_address.as_deref()),
        (Some("10.1.0.5"), Some("fd00:1::5"))
    );
    let back = by_net("app_back");
    assert_eq!(
        (back.ipv4_address.as_deref(), back.ipv6_address.as_deref()),
        (None, None)
    );
}

#[test]
fn networks_join_by_priority_and_the_service_mac_goes_to_the_first() {
    let p = project(
        "services:\n  a:\n    image: x\n    mac_address: 02:42:ac:11:00:09\n    networks:\n      alpha:\n      zeta: {priority: 100}\n      mid: {mac_address: '02:42:ac:11:00:0a'}\nnetworks:\n  alpha: {}\n  zeta: {}\n  mid: {}\n",
    );
    let spec = container_spec(&p, &p.services["a"], 1, &PlanOptions::default());
    let order: Vec<(&str, Option<&str>)> = spec
        .networks
        .iter()
        .map(|n| (n.network.as_str(), n.mac_address.as_deref()))
        .collect();
    assert_eq!(
        order,
        [
            ("app_zeta", Some("02:42:ac:11:00:09")),
            ("app_alpha", None),
            ("app_mid", Some("02:42:ac:11:00:0a")),
        ]
    );
}

#[test]
fn name_resolution_keys_reach_the_container_spec() {
    let p = project(
        "services:\n  web:\n    image: x\n    dns: [10.0.0.53]\n    dns_search: [corp.example]\n    dns_opt: ['ndots:2']\n    extra_hosts: ['db=10.0.0.9', 'gw:host-gateway', 'v6=::1']\n    links: ['db:database', cache]\n    external_links: ['legacy-1:old', solo]\n    expose: ['3000', '53/udp', '8000-8002']\n    domainname: example.test\n  db:\n    image: x\n    scale: 2\n  cache:\n    image: x\n    container_name: the-cache\n",
    );
    let options = PlanOptions::default();
    let spec = container_spec(&p, &p.services["web"], 1, &options);
    assert_eq!(spec.dns, ["10.0.0.53"]);
    assert_eq!(spec.dns_search, ["corp.example"]);
    assert_eq!(spec.dns_opt, ["ndots:2"]);
    assert_eq!(
        spec.extra_hosts,
        ["db:10.0.0.9", "gw:host-gateway", "v6:::1"]
    );
    assert_eq!(
        spec.links,
        [
            "app-db-1:database",
            "app-db-1:db",
            "app-db-2:database",
            "app-db-2:db",
            "the-cache:cache",
            "legacy-1:old",
            "solo:solo",
        ]
    );
    assert_eq!(
        spec.expose,
        ["3000/tcp", "53/udp", "8000/tcp", "8001/tcp", "8002/tcp"]
    );
    assert_eq!(spec.domainname.as_deref(), Some("example.test"));
    // `--scale` counts the linked service's replicas as `up` makes them.
    let scaled = PlanOptions {
        scale: [("db".to_string(), 1)].into_iter().collect(),
        ..PlanOptions::default()
    };
    let spec = container_spec(&p, &p.services["web"], 1, &scaled);
    assert_eq!(spec.links[..2], ["app-db-1:database", "app-db-1:db"]);
    assert_eq!(spec.links[2], "the-cache:cache");
}

#[test]
fn ipv6_only_network_spec_asks_for_no_ipv4() {
    let p = project(
        "services:\n  a: {image: x, networks: [v6]}\nnetworks:\n  v6:\n    enable_ipv4: false\n    enable_ipv6: true\n    ipam: {config: [{subnet: 'fd00:7::/64'}]}\n",
    );
    let net = network_spec("app", "v6", &p.networks["v6"]);
    assert_eq!(
        (net.enable_ipv4, net.enable_ipv6),
        (Some(false), Some(true))
    );
    assert_eq!(
        net.subnets,
        [SubnetSpec {
            subnet: "fd00:7::/64".into(),
            ..SubnetSpec::default()
        }]
    );
}

#[test]
fn options_are_validated_against_the_project() {
    let p = project("services:\n  a: {image: x, container_name: solo}\n  b: {image: x}\n");
    let ok = PlanOptions {
        services: vec!["b".into()],
        scale: [("b".to_string(), 3)].into(),
        ..PlanOptions::default()
    };
    assert_eq!(ok.validate(&p), Ok(()));
    let unknown = PlanOptions {
        services: vec!["nope".into()],
        ..PlanOptions::default()
    };
    assert_eq!(
        unknown.validate(&p),
        Err(PlanError::UnknownService("nope".into()))
    );
    let both = PlanOptions {
        force_recreate: true,
        no_recreate: true,
        ..PlanOptions::default()
    };
    assert_eq!(both.validate(&p), Err(PlanError::ForceAndNoRecreate));
    let scaled = PlanOptions {
        scale: [("a".to_string(), 2)].into(),
        ..PlanOptions::default()
    };
    assert!(matches!(
        scaled.validate(&p),
        Err(PlanError::ScaledContainerName { replicas: 2, .. })
    ));
}
