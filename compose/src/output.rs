//! `config` output: the normalized project as YAML or JSON, and the service config hash.
//!
//! The shape follows `docker compose config`. YAML is written by a small emitter over
//! `serde_json::Value` (block style, two-space indent, sequences indented under their key)
//! that quotes every string that would read back as something else: numbers, booleans and
//! nulls of YAML 1.1 and 1.2 (`"80"`, `"yes"`, `"~"`), empty strings, strings with `: ` or
//! ` #`, leading indicators or surrounding spaces. Multi-line strings use literal blocks.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::model::{Project, Service};

/// Output format of `config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML, like `docker compose config`.
    Yaml,
    /// JSON, like `docker compose config --format json`.
    Json,
}

/// The project as a JSON value in docker compose's shape.
pub fn to_value(project: &Project) -> Value {
    serde_json::to_value(project).unwrap_or(Value::Null)
}

/// Renders the project in `format`.
pub fn render(project: &Project, format: Format) -> String {
    let v = to_value(project);
    match format {
        Format::Yaml => to_yaml(&v),
        Format::Json => {
            // docker compose sorts the top-level keys of its JSON output
            let v = match v {
                Value::Object(m) => {
                    let mut entries: Vec<(String, Value)> = m.into_iter().collect();
                    entries.sort_by(|a, b| a.0.cmp(&b.0));
                    for (k, services) in &mut entries {
                        if k == "services"
                            && let Value::Object(services) = services
                        {
                            services.values_mut().for_each(json_null_commands);
                        }
                    }
                    Value::Object(entries.into_iter().collect())
                }
                other => other,
            };
            let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
            s.push('\n');
            s
        }
    }
}

/// Service keys that come before `command` in docker compose's output.
const BEFORE_COMMAND: &[&str] = &[
    "profiles",
    "annotations",
    "attach",
    "build",
    "develop",
    "blkio_config",
    "cap_add",
    "cap_drop",
    "cgroup_parent",
    "cgroup",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpus",
    "cpuset",
    "cpu_shares",
];

/// Service keys between `command` and `entrypoint` in docker compose's output.
const BEFORE_ENTRYPOINT: &[&str] = &[
    "command",
    "configs",
    "container_name",
    "credential_spec",
    "depends_on",
    "deploy",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "domainname",
];

/// docker compose's JSON always has `command` and `entrypoint` (null when unset).
fn json_null_commands(service: &mut Value) {
    let Value::Object(m) = service else { return };
    if !m.contains_key("command") {
        let at = m
            .keys()
            .filter(|k| BEFORE_COMMAND.contains(&k.as_str()))
            .count();
        m.shift_insert(at, "command".into(), Value::Null);
    }
    if !m.contains_key("entrypoint") {
        let at = m
            .keys()
            .filter(|k| {
                BEFORE_COMMAND.contains(&k.as_str()) || BEFORE_ENTRYPOINT.contains(&k.as_str())
            })
            .count();
        m.shift_insert(at, "entrypoint".into(), Value::Null);
    }
}

/// The `com.docker.compose.config-hash` of a service: the SHA-256 of its canonical JSON,
/// without the attributes that do not change the container (build, pull policy, scale,
/// replicas, dependencies, profiles).
pub fn config_hash(service: &Service) -> String {
    let mut s = service.clone();
    s.build = None;
    s.pull_policy = None;
    s.scale = None;
    s.depends_on.clear();
    s.profiles.clear();
    if let Some(d) = &mut s.deploy {
        d.replicas = None;
    }
    let bytes = serde_json::to_vec(&s).unwrap_or_default();
    hex::encode(Sha256::digest(&bytes))
}

/// Writes `value` as a YAML document.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(m) if !m.is_empty() => emit_map(m, 0, false, &mut out),
        Value::Array(a) if !a.is_empty() => emit_seq(a, 0, false, &mut out),
        other => {
            out.push_str(&inline(other, 0));
            out.push('\n');
        }
    }
    out
}

fn pad(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn is_block(v: &Value) -> bool {
    match v {
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => false,
    }
}

/// A value that fits on the line after `key: ` (scalars, empty collections, or a literal
/// block header whose body is indented at `indent + 2`).
fn inline(v: &Value, indent: usize) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar(s, indent),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

fn emit_map(m: &serde_json::Map<String, Value>, indent: usize, continued: bool, out: &mut String) {
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 || !continued {
            pad(out, indent);
        }
        out.push_str(&scalar(k, indent));
        out.push(':');
        if is_block(v) {
            out.push('\n');
            match v {
                Value::Object(child) => emit_map(child, indent + 2, false, out),
                Value::Array(items) => emit_seq(items, indent + 2, false, out),
                _ => {}
            }
        } else {
            out.push(' ');
            out.push_str(&inline(v, indent));
            out.push('\n');
        }
    }
}

fn emit_seq(items: &[Value], indent: usize, continued: bool, out: &mut String) {
    for (i, v) in items.iter().enumerate() {
        if i > 0 || !continued {
            pad(out, indent);
        }
        out.push_str("- ");
        match v {
            Value::Object(m) if !m.is_empty() => emit_map(m, indent + 2, true, out),
            Value::Array(a) if !a.is_empty() => emit_seq(a, indent + 2, true, out),
            other => {
                out.push_str(&inline(other, indent));
                out.push('\n');
            }
        }
    }
}

/// Words YAML 1.1 or 1.2 reads as booleans or null.
const RESERVED: &[&str] = &[
    "", "~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE", "yes",
    "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF", "y", "Y", "n", "N",
    "<<", "=",
];

/// Numbers in YAML 1.1 or 1.2 (ints in any base, floats, sexagesimal, infinities, NaN).
static NUMERIC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(?:[-+]?[0-9][0-9_]*",
        r"|[-+]?0x[0-9a-fA-F_]+|0o[0-7]+|[-+]?0b[01_]+",
        r"|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?",
        r"|[-+]?(?:[0-9][0-9_]*)?\.[0-9_]*(?:[eE][-+]?[0-9]+)?",
        r"|[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+",
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ))
    .expect("valid regex")
});

fn looks_numeric(s: &str) -> bool {
    s != "." && NUMERIC.is_match(s)
}

fn needs_quotes(s: &str) -> bool {
    if RESERVED.contains(&s) || looks_numeric(s) {
        return true;
    }
    let first = s.chars().next().unwrap_or(' ');
    let dash_ok = first == '-' && s.len() > 1 && !s.starts_with("- ") && !s.starts_with("---");
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) && !dash_ok {
        return true;
    }
    if s.starts_with(' ') || s.ends_with(' ') || s.ends_with(':') {
        return true;
    }
    if s.contains(": ") || s.contains(" #") || s.contains('\t') {
        return true;
    }
    s.chars().any(|c| c.is_control() || c == '\u{feff}')
}

fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || c == '\u{feff}' => {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A string scalar as YAML: plain when safe, a literal block for multi-line text, else
/// double-quoted. `indent` is the indentation of the line holding it.
fn scalar(s: &str, indent: usize) -> String {
    if s.contains('\n') {
        let literal_ok = !s.starts_with([' ', '\n'])
            && s.chars().all(|c| c == '\n' || !c.is_control())
            && !s.lines().any(|l| l.ends_with(' '));
        if literal_ok {
            return literal_block(s, indent + 2);
        }
        return double_quoted(s);
    }
    if needs_quotes(s) {
        double_quoted(s)
    } else {
        s.to_string()
    }
}

fn literal_block(s: &str, indent: usize) -> String {
    let trailing = s.len() - s.trim_end_matches('\n').len();
    let chomp = match trailing {
        0 => "-",
        1 => "",
        _ => "+",
    };
    let mut out = format!("|{chomp}");
    let body = s.strip_suffix('\n').unwrap_or(s);
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            pad(&mut out, indent);
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn project(text: &str) -> Project {
        let doc = crate::yaml::parse(text, std::path::Path::new("o.yaml"))
            .unwrap()
            .remove(0);
        let env = indexmap::IndexMap::new();
        let ctx = crate::model::NormalizeContext {
            name: "o",
            working_dir: std::path::Path::new("/o"),
            environment: &env,
            profiles: &[],
        };
        Project::from_node(&doc, &ctx).unwrap()
    }

    #[test]
    fn config_hash_ignores_scale_and_dependencies() {
        let a = project("services:\n  s:\n    image: nginx\n");
        let b = project(
            "services:\n  s:\n    image: nginx\n    scale: 3\n    depends_on: [t]\n    pull_policy: always\n  t: {image: x}\n",
        );
        let c = project("services:\n  s:\n    image: nginx:2\n");
        let h = config_hash(&a.services["s"]);
        assert_eq!(h.len(), 64);
        assert!(h.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(h, config_hash(&b.services["s"]));
        assert_ne!(h, config_hash(&c.services["s"]));
        assert_eq!(h, config_hash(&a.services["s"].clone()), "stable");
    }

    #[test]
    fn render_yaml_and_json_agree() {
        let p = project("services:\n  b: {image: x, ports: ['8080:80']}\n  a: {image: y}\n");
        let yaml = render(&p, Format::Yaml);
        assert!(yaml.starts_with("name: o\nservices:\n  a:\n"), "{yaml}");
        let back = crate::yaml::parse(&yaml, std::path::Path::new("o.yaml"))
            .unwrap()
            .remove(0)
            .to_json();
        let json: Value = serde_json::from_str(&render(&p, Format::Json)).unwrap();
        let mut yaml_shape = json.clone();
        for svc in yaml_shape["services"].as_object_mut().unwrap().values_mut() {
            let m = svc.as_object_mut().unwrap();
            m.remove("command");
            m.remove("entrypoint");
        }
        assert_eq!(back, yaml_shape);
        assert_eq!(json["services"]["b"]["ports"][0]["published"], "8080");
        assert_eq!(json["services"]["a"]["command"], Value::Null);
        let keys: Vec<&String> = json["services"]["a"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["command", "entrypoint", "image", "networks"]);
    }

    #[test]
    fn quotes_strings_that_read_as_other_types() {
        let v = json!({"a": "80", "b": "true", "c": "yes", "d": "", "e": "null", "f": "1.5",
            "g": "0x1F", "h": "~", "i": "on", "j": "1e3", "k": "12:30", "l": "plain"});
        assert_eq!(
            to_yaml(&v),
            "a: \"80\"\nb: \"true\"\nc: \"yes\"\nd: \"\"\ne: \"null\"\nf: \"1.5\"\ng: \"0x1F\"\nh: \"~\"\ni: \"on\"\nj: \"1e3\"\nk: \"12:30\"\nl: plain\n"
        );
    }

    #[test]
    fn quotes_special_characters() {
        let v = json!({"a": "x: y", "b": "*star", "c": "a #b", "d": " lead", "e": "tab\tx",
            "f": "-", "g": "-opt", "ip": "127.0.0.1", "v": "1.0", "t": "12:30:00", "h": "say \"hi\"", "i": "{x}", "j": "ends:", "k": "http://x:80/a"});
        assert_eq!(
            to_yaml(&v),
            "a: \"x: y\"\nb: \"*star\"\nc: \"a #b\"\nd: \" lead\"\ne: \"tab\\tx\"\nf: \"-\"\ng: -opt\nip: 127.0.0.1\nv: \"1.0\"\nt: \"12:30:00\"\nh: say \"hi\"\ni: \"{x}\"\nj: \"ends:\"\nk: http://x:80/a\n"
        );
    }

    #[test]
    fn nested_blocks_and_sequences() {
        let v = json!({"services": {"web": {"command": ["npm", "start"],
            "ports": [{"mode": "ingress", "target": 80, "published": "8080"}],
            "networks": {"default": null}, "volume": {}, "empty": []}}});
        assert_eq!(
            to_yaml(&v),
            "services:\n  web:\n    command:\n      - npm\n      - start\n    ports:\n      - mode: ingress\n        target: 80\n        published: \"8080\"\n    networks:\n      default: null\n    volume: {}\n    empty: []\n"
        );
    }

    #[test]
    fn multi_line_strings_use_literal_blocks() {
        let v = json!({"a": {"s": "line1\nline2\n", "t": "x\ny", "u": "p\n\n"}});
        assert_eq!(
            to_yaml(&v),
            "a:\n  s: |\n    line1\n    line2\n  t: |-\n    x\n    y\n  u: |+\n    p\n\n"
        );
        let v = json!({"k": " lead\nx"});
        assert_eq!(to_yaml(&v), "k: \" lead\\nx\"\n");
    }

    #[test]
    fn nested_sequences() {
        let v = json!([["a", "b"], {"k": [1, 2]}]);
        assert_eq!(to_yaml(&v), "- - a\n  - b\n- k:\n    - 1\n    - 2\n");
    }

    #[test]
    fn emitted_yaml_reads_back_identically() {
        let v = json!({"name": "p", "x": {"s": ["80", "yes", "", "a: b", "multi\nline", "# c", "ok"],
            "n": 5, "f": 1.5, "b": false, "z": null, "m": {}}});
        let text = to_yaml(&v);
        let back = crate::yaml::parse(&text, std::path::Path::new("o.yaml"))
            .unwrap()
            .remove(0)
            .to_json();
        assert_eq!(back, v, "{text}");
    }
}
