//! Unit tests of the merge rules, one case per rule, written as YAML in / JSON out.

use super::*;
use serde_json::json;
use std::path::Path;

fn doc(text: &str) -> Node {
    crate::yaml::parse(text, Path::new("t.yaml"))
        .unwrap()
        .remove(0)
}

fn merged(base: &str, over: &str) -> serde_json::Value {
    let mut b = doc(base);
    resolve_tags(&mut b);
    merge_documents(&mut b, doc(over));
    b.to_json()
}

fn svc(base: &str, over: &str) -> serde_json::Value {
    let indent = |t: &str| t.lines().map(|l| format!("    {l}\n")).collect::<String>();
    let b = format!("services:\n  s:\n{}", indent(base));
    let o = format!("services:\n  s:\n{}", indent(over));
    merged(&b, &o)["services"]["s"].clone()
}

#[test]
fn mappings_merge_recursively_and_scalars_are_replaced() {
    assert_eq!(
        svc("image: a\nrestart: always", "image: b\nuser: root"),
        json!({"image": "b", "restart": "always", "user": "root"})
    );
}

#[test]
fn commands_are_replaced() {
    assert_eq!(
        svc(
            "command: [echo, foo]\nentrypoint: [sh]\nhealthcheck: {test: [CMD, a], interval: 1s}",
            "command: [echo, bar]\nentrypoint: bash\nhealthcheck: {test: [CMD, b]}"
        ),
        json!({"command": ["echo", "bar"], "entrypoint": "bash",
               "healthcheck": {"test": ["CMD", "b"], "interval": "1s"}})
    );
}

#[test]
fn key_value_lists_and_maps_merge_into_a_map() {
    let cases = [
        ("environment: [A=1, B=2]", "environment: {B: 3, C: 4}"),
        ("environment: {A: 1, B: 2}", "environment: [B=3, C=4]"),
        ("environment: [A=1, B=2]", "environment: [B=3, C=4]"),
    ];
    for (b, o) in cases {
        let out = svc(b, o);
        assert_eq!(out["environment"]["A"].to_string().trim_matches('"'), "1");
        assert_eq!(
            out["environment"].as_object().unwrap().len(),
            3,
            "{b} + {o}"
        );
        assert_eq!(out["environment"]["B"].to_string().trim_matches('"'), "3");
        assert_eq!(out["environment"]["C"].to_string().trim_matches('"'), "4");
    }
    assert_eq!(
        svc("labels: [a=1]", "labels: [b]")["labels"],
        json!({"a": "1", "b": null})
    );
    assert_eq!(
        svc("build: {context: ., args: [X=1]}", "build: {args: {Y: 2}}")["build"],
        json!({"context": ".", "args": {"X": "1", "Y": 2}})
    );
}

#[test]
fn extra_hosts_accept_both_separators() {
    assert_eq!(
        svc(
            "extra_hosts: ['a:1.1.1.1', 'v6=::1']",
            "extra_hosts: {a: 2.2.2.2}"
        )["extra_hosts"],
        json!({"a": "2.2.2.2", "v6": "::1"})
    );
}

#[test]
fn ports_are_unique() {
    assert_eq!(
        svc("ports: ['80:80', '443:443']", "ports: ['80:80', '8080:80']")["ports"],
        json!(["80:80", "443:443", "8080:80"])
    );
    assert_eq!(
        svc(
            "ports: [{target: 80, published: '8080'}]",
            "ports: [{target: 80, published: '8080', protocol: tcp}]"
        )["ports"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn volumes_merge_by_target_later_wins_in_place() {
    assert_eq!(
        svc(
            "volumes: ['./a:/data', '/cache', 'logs:/logs']",
            "volumes: ['./b:/data:ro', {type: volume, source: x, target: /new}]"
        )["volumes"],
        json!(["./b:/data:ro", "/cache", "logs:/logs", {"type": "volume", "source": "x", "target": "/new"}])
    );
    assert_eq!(
        svc(
            "volumes: [{type: bind, source: ., target: /app}]",
            "volumes: ['./src:/app']"
        )["volumes"],
        json!(["./src:/app"])
    );
    assert_eq!(
        svc("tmpfs: [/run, '/tmp:size=1m']", "tmpfs: '/tmp:size=2m'")["tmpfs"],
        json!(["/run", "/tmp:size=2m"])
    );
}

#[test]
fn secrets_and_configs_by_mount() {
    assert_eq!(
        svc(
            "secrets: [a, {source: b, target: /x}]",
            "secrets: [{source: a, mode: 256}, c, {source: z, target: /x}]"
        )["secrets"],
        json!([{"source": "a", "mode": 256}, {"source": "z", "target": "/x"}, "c"])
    );
    assert_eq!(
        svc("configs: [a]", "configs: [a, b]")["configs"],
        json!(["a", "b"])
    );
}

#[test]
fn string_lists_append_unique() {
    let out = svc(
        "dns: 1.1.1.1\ncap_add: [NET_ADMIN]\nprofiles: [a]\nenv_file: a.env\nexpose: ['80']",
        "dns: [8.8.8.8, 1.1.1.1]\ncap_add: [NET_ADMIN, SYS_TIME]\nprofiles: [b, a]\nenv_file: [b.env, a.env]\nexpose: ['80', '81']",
    );
    assert_eq!(out["dns"], json!(["1.1.1.1", "8.8.8.8"]));
    assert_eq!(out["cap_add"], json!(["NET_ADMIN", "SYS_TIME"]));
    assert_eq!(out["profiles"], json!(["a", "b"]));
    assert_eq!(out["env_file"], json!(["a.env", "b.env"]));
    assert_eq!(out["expose"], json!(["80", "81"]));
}

#[test]
fn other_sequences_append() {
    assert_eq!(
        svc("dns_opt_unknown: [a]", "dns_opt_unknown: [a]")["dns_opt_unknown"],
        json!(["a", "a"])
    );
}

#[test]
fn networks_and_depends_on_normalize_lists() {
    let out = svc(
        "networks: [front]\ndepends_on: [db]",
        "networks: {back: {aliases: [x]}, front: {ipv4_address: 10.0.0.2}}\ndepends_on: {cache: {condition: service_healthy}}",
    );
    assert_eq!(
        out["networks"],
        json!({"front": {"ipv4_address": "10.0.0.2"}, "back": {"aliases": ["x"]}})
    );
    assert_eq!(
        out["depends_on"],
        json!({"db": {"condition": "service_started", "required": true},
               "cache": {"condition": "service_healthy"}})
    );
    let out = svc(
        "networks: {n: {aliases: [a, b]}}",
        "networks: {n: {aliases: [b, c]}}",
    );
    assert_eq!(out["networks"]["n"]["aliases"], json!(["a", "b", "c"]));
}

#[test]
fn build_string_is_a_context_and_logging_driver_change_replaces() {
    assert_eq!(
        svc("build: ./app", "build: {dockerfile: Dev}")["build"],
        json!({"context": "./app", "dockerfile": "Dev"})
    );
    assert_eq!(
        svc(
            "logging: {driver: json-file, options: {max-size: 1m}}",
            "logging: {driver: syslog}"
        )["logging"],
        json!({"driver": "syslog"})
    );
    assert_eq!(
        svc(
            "logging: {driver: json-file, options: {max-size: 1m}}",
            "logging: {options: {max-file: '3'}}"
        )["logging"],
        json!({"driver": "json-file", "options": {"max-size": "1m", "max-file": "3"}})
    );
}

#[test]
fn reset_and_override_tags() {
    let out = svc(
        "ports: ['80:80']\nenvironment: {A: 1, B: 2}\ncommand: x\nvolumes: ['a:/a']",
        "ports: !reset []\nenvironment: {A: !reset null}\ncommand: !reset\nvolumes: !override ['b:/b']",
    );
    assert_eq!(out, json!({"environment": {"B": 2}, "volumes": ["b:/b"]}));
    let mut first =
        doc("services:\n  s:\n    image: a\n    user: !reset x\n    labels: !override {a: b}\n");
    resolve_tags(&mut first);
    assert_eq!(
        first.to_json(),
        json!({"services": {"s": {"image": "a", "labels": {"a": "b"}}}})
    );
    assert!(
        first
            .get("services")
            .unwrap()
            .get("s")
            .unwrap()
            .get("labels")
            .unwrap()
            .tag
            .is_none()
    );
}

#[test]
fn top_level_resources_merge_by_name_and_extensions_kept() {
    let out = merged(
        "networks:\n  a: {driver: bridge, labels: {y: 2}}\nvolumes:\n  v: {}\nx-common: {a: 1}\n",
        "networks:\n  a: {labels: [x=1]}\n  b: {}\nx-common: {b: 2}\nx-other: 3\n",
    );
    assert_eq!(
        out,
        json!({"networks": {"a": {"driver": "bridge", "labels": {"y": 2, "x": "1"}}, "b": {}},
               "volumes": {"v": {}}, "x-common": {"a": 1, "b": 2}, "x-other": 3})
    );
}

#[test]
fn ipam_config_by_subnet() {
    let out = merged(
        "networks:\n  n:\n    ipam:\n      config: [{subnet: 10.1.0.0/16, gateway: 10.1.0.1}]\n",
        "networks:\n  n:\n    ipam:\n      config: [{subnet: 10.1.0.0/16, gateway: 10.1.0.254}, {subnet: 10.2.0.0/16}]\n",
    );
    assert_eq!(
        out["networks"]["n"]["ipam"]["config"],
        json!([{"subnet": "10.1.0.0/16", "gateway": "10.1.0.254"}, {"subnet": "10.2.0.0/16"}])
    );
}

#[test]
fn null_override_keeps_base() {
    assert_eq!(
        svc(
            "environment: [A=1]\nports: ['1:1']\nimage: x\nhealthcheck: {interval: 1s}",
            "environment:\nports:\nimage:\nhealthcheck:"
        ),
        json!({"environment": {"A": "1"}, "ports": ["1:1"], "image": "x", "healthcheck": {"interval": "1s"}})
    );
}

#[test]
fn big_maps_merge_through_the_index() {
    let mut base = String::from("services:\n");
    let mut over = String::from("services:\n");
    for i in 0..500 {
        base.push_str(&format!("  s{i}:\n    image: a\n"));
        over.push_str(&format!("  s{}:\n    image: b\n", i * 2));
    }
    let out = merged(&base, &over);
    let services = out["services"].as_object().unwrap();
    assert_eq!(services.len(), 750);
    assert_eq!(services["s0"]["image"], "b");
    assert_eq!(services["s1"]["image"], "a");
    assert_eq!(services["s998"]["image"], "b");
}

#[test]
fn several_resets_in_one_mapping() {
    let mut base = String::from("x:\n");
    let mut over = String::from("x:\n");
    for i in 0..20 {
        base.push_str(&format!("  k{i}: {i}\n"));
        if i % 3 == 0 {
            over.push_str(&format!("  k{i}: !reset null\n"));
        }
    }
    let out = merged(&base, &over);
    let keys: Vec<&String> = out["x"].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 13);
    assert!(!keys.iter().any(|k| *k == "k0" || *k == "k9" || *k == "k18"));
    assert!(keys.iter().any(|k| *k == "k19"));
}

#[test]
fn merge_service_applies_service_rules() {
    let mut base = doc("image: a\ncommand: [x]\nports: ['1:1']\n");
    merge_service(&mut base, doc("command: [y]\nports: ['1:1', '2:2']\n"));
    assert_eq!(
        base.to_json(),
        json!({"image": "a", "command": ["y"], "ports": ["1:1", "2:2"]})
    );
}

#[test]
fn entries_without_a_target_are_not_collapsed() {
    assert_eq!(
        svc(
            "volumes: [{type: bind, source: ./a}]",
            "volumes: [{type: bind, source: ./b}, {type: bind, source: ./a}]"
        )["volumes"],
        json!([{"type": "bind", "source": "./a"}, {"type": "bind", "source": "./b"}])
    );
}
