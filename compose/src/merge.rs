//! Merging compose trees: several `-f` files, the documents of one file, and `extends`.
//!
//! The rules are the Compose Specification's (mappings merge recursively, sequences append) with
//! the exceptions `docker compose` v2 (compose-go `override` package) applies:
//!
//! * `command`, `entrypoint`, `healthcheck.test` are replaced;
//! * `environment`, `labels`, `annotations`, `sysctls`, `extra_hosts`, build `args`/`labels`,
//!   `deploy.labels`, network/volume `labels` merge as mappings (list form `KEY=VAL` accepted,
//!   the result is a mapping);
//! * `ports`, `volumes`, `devices`, `secrets`, `configs`, `tmpfs` and string lists such as `dns`,
//!   `cap_add`, `profiles` append while keeping one entry per key (a later entry replaces the
//!   earlier one in place);
//! * service `networks` and `depends_on` merge as mappings (list form normalized first);
//! * `build: path` is read as `build: {context: path}`; `logging` with a different driver is
//!   replaced;
//! * `!reset` removes a value, `!override` replaces it wholesale.
//!
//! Mappings are merged through a key index, so merging large files stays linear.

use std::collections::HashMap;

use crate::yaml::{Entry, Node, Scalar, Tag, Value};

/// Top-level sections whose children are named resources.
const RESOURCE_SECTIONS: [&str; 5] = ["services", "networks", "volumes", "secrets", "configs"];

/// Merges `over` (a later file) into `base` (the accumulated tree).
pub fn merge_documents(base: &mut Node, over: Node) {
    let mut path = Vec::new();
    merge_value(base, over, &mut path);
}

/// Merges the service definition `over` on top of `base` (used by `extends`).
pub fn merge_service(base: &mut Node, over: Node) {
    let mut path = vec!["services".to_string(), "*".to_string()];
    merge_value(base, over, &mut path);
}

/// Removes `!reset` entries and clears `!override` tags in a tree that is not merged onto
/// anything (the first file).
pub fn resolve_tags(node: &mut Node) {
    node.tag = None;
    match &mut node.value {
        Value::Map(entries) => {
            entries.retain(|e| e.value.tag != Some(Tag::Reset));
            for e in entries {
                resolve_tags(&mut e.value);
            }
        }
        Value::Seq(items) => {
            items.retain(|i| i.tag != Some(Tag::Reset));
            for i in items {
                resolve_tags(i);
            }
        }
        Value::Scalar(_) => {}
    }
}

/// How a value at some path is merged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    /// Mappings merge recursively, sequences append, anything else is replaced.
    Default,
    /// The later value replaces the earlier one.
    Replace,
    /// `KEY=VAL` list or mapping; merged as a mapping.
    KeyValue,
    /// `host:ip` / `host=ip` list or mapping; merged as a mapping.
    Hosts,
    /// A sequence with one entry per key.
    Unique(KeyOf),
    /// Service `networks`: list of names or mapping.
    Networks,
    /// Service `depends_on`: list of names or mapping.
    DependsOn,
    /// `logging`: replaced when the driver changes.
    Logging,
    /// `build`: a string is a context.
    Build,
}

/// What identifies an entry of a unique sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyOf {
    /// The scalar text (or `path` of a mapping, for `env_file`).
    Text,
    /// Port: the short syntax text or `host_ip:published:target/protocol/mode`.
    Port,
    /// Mount target of a volume or device.
    Target,
    /// The text before the first `:` (tmpfs `path:options`).
    Path,
    /// Secret or config: its target (defaulting to the source) under a default directory.
    Mount(&'static str),
    /// IPAM pool: its subnet.
    Subnet,
}

fn rule(path: &[String]) -> Rule {
    if path.len() > 5 {
        return Rule::Default;
    }
    let mut buf = [""; 5];
    for (slot, seg) in buf.iter_mut().zip(path) {
        *slot = seg;
    }
    match &buf[..path.len()] {
        ["services", _, field] => match *field {
            "command" | "entrypoint" => Rule::Replace,
            "environment" | "labels" | "annotations" | "sysctls" => Rule::KeyValue,
            "extra_hosts" => Rule::Hosts,
            "ports" => Rule::Unique(KeyOf::Port),
            "volumes" | "devices" => Rule::Unique(KeyOf::Target),
            "tmpfs" => Rule::Unique(KeyOf::Path),
            "secrets" => Rule::Unique(KeyOf::Mount("/run/secrets")),
            "configs" => Rule::Unique(KeyOf::Mount("")),
            "dns"
            | "dns_opt"
            | "dns_search"
            | "env_file"
            | "label_file"
            | "expose"
            | "cap_add"
            | "cap_drop"
            | "security_opt"
            | "profiles"
            | "links"
            | "external_links"
            | "group_add"
            | "device_cgroup_rules" => Rule::Unique(KeyOf::Text),
            "networks" => Rule::Networks,
            "depends_on" => Rule::DependsOn,
            "logging" => Rule::Logging,
            "build" => Rule::Build,
            _ => Rule::Default,
        },
        ["services", _, "healthcheck", "test"] => Rule::Replace,
        [
            "services",
            _,
            "build",
            "args" | "labels" | "additional_contexts",
        ] => Rule::KeyValue,
        ["services", _, "build", "extra_hosts"] => Rule::Hosts,
        [
            "services",
            _,
            "build",
            "tags" | "platforms" | "cache_from" | "cache_to",
        ] => Rule::Unique(KeyOf::Text),
        ["services", _, "deploy", "labels"] => Rule::KeyValue,
        ["services", _, "networks", _, "aliases" | "link_local_ips"] => Rule::Unique(KeyOf::Text),
        ["networks" | "volumes" | "secrets" | "configs", _, "labels"] => Rule::KeyValue,
        ["networks", _, "ipam", "config"] => Rule::Unique(KeyOf::Subnet),
        _ => Rule::Default,
    }
}

/// The path segment of a child: resource names and service network names become `*`.
fn child_segment(path: &[String], key: &str) -> String {
    let wildcard = match path {
        [top] => RESOURCE_SECTIONS.contains(&top.as_str()),
        [s, _, n] => s == "services" && (n == "networks" || n == "depends_on" || n == "ulimits"),
        _ => false,
    };
    if wildcard { "*".into() } else { key.into() }
}

fn merge_value(base: &mut Node, mut over: Node, path: &mut Vec<String>) {
    match over.tag {
        Some(Tag::Override) => {
            resolve_tags(&mut over);
            *base = over;
            return;
        }
        Some(Tag::Reset) => return,
        None => {}
    }
    match rule(path) {
        Rule::Replace => {
            resolve_tags(&mut over);
            *base = over;
        }
        Rule::KeyValue => {
            to_map(base, '=');
            to_map(&mut over, '=');
            merge_flat_maps(base, over);
        }
        Rule::Hosts => {
            to_map(base, ':');
            to_map(&mut over, ':');
            merge_flat_maps(base, over);
        }
        Rule::Unique(key) => merge_unique(base, over, key),
        Rule::Networks => {
            names_to_map(base, |loc| Node::scalar("", loc));
            names_to_map(&mut over, |loc| Node::scalar("", loc));
            merge_default(base, over, path);
        }
        Rule::DependsOn => {
            names_to_map(base, started);
            names_to_map(&mut over, started);
            merge_default(base, over, path);
        }
        Rule::Logging => {
            let driver = |n: &Node| n.get("driver").and_then(Node::as_str).map(str::to_owned);
            match (driver(base), driver(&over)) {
                (Some(a), Some(b)) if a != b => {
                    resolve_tags(&mut over);
                    *base = over;
                }
                _ => merge_default(base, over, path),
            }
        }
        Rule::Build => {
            context_to_map(base);
            context_to_map(&mut over);
            merge_default(base, over, path);
        }
        Rule::Default => merge_default(base, over, path),
    }
}

fn merge_default(base: &mut Node, mut over: Node, path: &mut Vec<String>) {
    if over.is_null() {
        return;
    }
    match (&mut base.value, over.value) {
        (Value::Map(b), Value::Map(o)) => merge_maps(b, o, path),
        (Value::Seq(b), Value::Seq(o)) => b.extend(o.into_iter().filter_map(|mut n| {
            (n.tag != Some(Tag::Reset)).then(|| {
                resolve_tags(&mut n);
                n
            })
        })),
        (_, value) => {
            over.value = value;
            resolve_tags(&mut over);
            *base = over;
        }
    }
}

/// Key index of a mapping; small mappings are searched linearly instead.
struct Index(Option<HashMap<String, usize>>);

impl Index {
    fn new(entries: &[Entry]) -> Self {
        Index((entries.len() > 8).then(|| {
            entries
                .iter()
                .enumerate()
                .map(|(i, e)| (e.key.clone(), i))
                .collect()
        }))
    }

    fn find(&self, entries: &[Entry], key: &str) -> Option<usize> {
        match &self.0 {
            Some(m) => m.get(key).copied(),
            None => entries.iter().position(|e| e.key == key),
        }
    }

    fn added(&mut self, key: &str, at: usize) {
        if let Some(m) = &mut self.0 {
            m.insert(key.to_string(), at);
        }
    }
}

fn merge_maps(base: &mut Vec<Entry>, over: Vec<Entry>, path: &mut Vec<String>) {
    let mut index = Index::new(base);
    let mut dead = Vec::new();
    for mut e in over {
        match index.find(base, &e.key) {
            Some(i) if e.value.tag == Some(Tag::Reset) => dead.push(i),
            Some(i) => {
                path.push(child_segment(path, &e.key));
                merge_value(&mut base[i].value, e.value, path);
                path.pop();
            }
            None if e.value.tag == Some(Tag::Reset) => {}
            None => {
                resolve_tags(&mut e.value);
                index.added(&e.key, base.len());
                base.push(e);
            }
        }
    }
    remove_indices(base, dead);
}

/// Removes the entries at `dead` (indices into `entries`) in one pass.
fn remove_indices(entries: &mut Vec<Entry>, mut dead: Vec<usize>) {
    if dead.is_empty() {
        return;
    }
    dead.sort_unstable();
    let mut i = 0;
    entries.retain(|_| {
        i += 1;
        dead.binary_search(&(i - 1)).is_err()
    });
}

/// Merges two mappings whose values are replaced, not merged (environment, labels, …).
fn merge_flat_maps(base: &mut Node, mut over: Node) {
    if over.is_null() {
        return;
    }
    let (Value::Map(b), Value::Map(o)) = (&mut base.value, &mut over.value) else {
        resolve_tags(&mut over);
        *base = over;
        return;
    };
    let o = std::mem::take(o);
    let mut index = Index::new(b);
    let mut dead = Vec::new();
    for mut e in o {
        match (index.find(b, &e.key), &e.value.tag) {
            (Some(i), Some(Tag::Reset)) => dead.push(i),
            (None, Some(Tag::Reset)) => {}
            (Some(i), _) => {
                resolve_tags(&mut e.value);
                b[i].value = e.value;
            }
            (None, _) => {
                resolve_tags(&mut e.value);
                index.added(&e.key, b.len());
                b.push(e);
            }
        }
    }
    remove_indices(b, dead);
}

/// Turns a `KEY<sep>VAL` list into a mapping (a bare `KEY` maps to null). For `:` the first
/// `=` wins if present (`extra_hosts` accepts both).
fn to_map(node: &mut Node, sep: char) {
    let Value::Seq(items) = &mut node.value else {
        return;
    };
    let mut entries: Vec<Entry> = Vec::with_capacity(items.len());
    let mut index: HashMap<String, usize> = HashMap::new();
    for item in std::mem::take(items) {
        let Some(text) = item.as_str() else { continue };
        let split = if sep == ':' {
            text.split_once('=').or_else(|| text.split_once(':'))
        } else {
            text.split_once(sep)
        };
        let (key, value) = match split {
            Some((k, v)) => (k.to_string(), Node::string(v, item.loc.clone())),
            None => (text.to_string(), Node::scalar("", item.loc.clone())),
        };
        let entry = Entry {
            key: key.clone(),
            key_loc: item.loc.clone(),
            value,
        };
        match index.get(&key) {
            Some(&i) => entries[i] = entry,
            None => {
                index.insert(key, entries.len());
                entries.push(entry);
            }
        }
    }
    node.value = Value::Map(entries);
}

/// Turns a list of names into a mapping of `name: default(loc)`.
fn names_to_map(node: &mut Node, default: fn(crate::Loc) -> Node) {
    let Value::Seq(items) = &mut node.value else {
        return;
    };
    let entries = std::mem::take(items)
        .into_iter()
        .filter_map(|item| {
            let key = item.as_str()?.to_string();
            Some(Entry {
                key,
                key_loc: item.loc.clone(),
                value: default(item.loc),
            })
        })
        .collect();
    node.value = Value::Map(entries);
}

/// The long form of a `depends_on` list entry, as compose-go normalizes it.
fn started(loc: crate::Loc) -> Node {
    Node {
        value: Value::Map(vec![
            Entry {
                key: "condition".into(),
                key_loc: loc.clone(),
                value: Node::string("service_started", loc.clone()),
            },
            Entry {
                key: "required".into(),
                key_loc: loc.clone(),
                value: Node::scalar("true", loc.clone()),
            },
        ]),
        loc,
        tag: None,
    }
}

fn context_to_map(node: &mut Node) {
    if let Value::Scalar(s) = &node.value {
        let ctx = Node {
            value: Value::Scalar(s.clone()),
            loc: node.loc.clone(),
            tag: None,
        };
        let mut map = Node::map(node.loc.clone());
        map.insert("context", ctx);
        map.tag = node.tag.take();
        *node = map;
    }
}

fn merge_unique(base: &mut Node, mut over: Node, key: KeyOf) {
    if over.is_null() {
        return;
    }
    if base.is_null() {
        resolve_tags(&mut over);
        *base = over;
        return;
    }
    for n in [&mut *base, &mut over] {
        if let Value::Scalar(Scalar { .. }) = n.value {
            let item = Node {
                value: std::mem::replace(&mut n.value, Value::Seq(Vec::new())),
                loc: n.loc.clone(),
                tag: None,
            };
            n.value = Value::Seq(vec![item]);
        }
    }
    let (Value::Seq(b), Value::Seq(o)) = (&mut base.value, &mut over.value) else {
        resolve_tags(&mut over);
        *base = over;
        return;
    };
    let o = std::mem::take(o);
    let mut index: HashMap<String, usize> = HashMap::with_capacity(b.len() + o.len());
    for (i, n) in b.iter().enumerate() {
        index.entry(unique_key(n, key)).or_insert(i);
    }
    for mut n in o {
        if n.tag == Some(Tag::Reset) {
            continue;
        }
        resolve_tags(&mut n);
        let k = unique_key(&n, key);
        match index.get(&k) {
            Some(&i) => b[i] = n,
            None => {
                index.insert(k, b.len());
                b.push(n);
            }
        }
    }
}

fn field<'a>(n: &'a Node, key: &str) -> &'a str {
    n.get(key).and_then(Node::as_str).unwrap_or("")
}

/// The identity of a unique-sequence entry; an entry without one (a mount missing its target,
/// left for validation to report) is identified by its whole content.
fn unique_key(n: &Node, key: KeyOf) -> String {
    let k = entry_key(n, key);
    if k.is_empty() {
        format!("{:?}", n.to_json())
    } else {
        k
    }
}

fn entry_key(n: &Node, key: KeyOf) -> String {
    match (&n.value, key) {
        (Value::Scalar(s), KeyOf::Text | KeyOf::Port | KeyOf::Subnet) => s.text.clone(),
        (Value::Scalar(s), KeyOf::Target) => {
            let mut parts = s.text.split(':');
            let first = parts.next().unwrap_or("");
            parts.next().unwrap_or(first).to_string()
        }
        (Value::Scalar(s), KeyOf::Path) => s.text.split(':').next().unwrap_or("").to_string(),
        (Value::Scalar(s), KeyOf::Mount(dir)) => format!("{dir}/{}", s.text),
        (Value::Map(_), KeyOf::Text) => field(n, "path").to_string(),
        (Value::Map(_), KeyOf::Port) => format!(
            "{}:{}:{}/{}/{}",
            field(n, "host_ip"),
            field(n, "published"),
            field(n, "target"),
            n.get("protocol").and_then(Node::as_str).unwrap_or("tcp"),
            n.get("mode").and_then(Node::as_str).unwrap_or("ingress"),
        ),
        (Value::Map(_), KeyOf::Target | KeyOf::Path) => field(n, "target").to_string(),
        (Value::Map(_), KeyOf::Mount(dir)) => {
            let target = field(n, "target");
            if target.starts_with('/') {
                target.to_string()
            } else if target.is_empty() {
                format!("{dir}/{}", field(n, "source"))
            } else {
                format!("{dir}/{target}")
            }
        }
        (Value::Map(_), KeyOf::Subnet) => field(n, "subnet").to_string(),
        (Value::Seq(_), _) => format!("{:?}", n.to_json()),
    }
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
