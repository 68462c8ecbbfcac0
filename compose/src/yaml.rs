//! A YAML document tree that remembers where every node came from.
//!
//! Compose errors must point at `file:line:col`, so the loader works on this tree rather than on
//! serde values: every node keeps its location through interpolation, `include`, `extends` and
//! merging. The tree is built from the event stream of `saphyr-parser` (the maintained successor
//! of yaml-rust; `serde_yaml` is deprecated and loses positions), which lets berth:
//!
//! * resolve anchors, aliases and merge keys (`<<`) itself, with a node budget so that an alias
//!   bomb ("billion laughs") is rejected before it is expanded;
//! * keep Compose's `!reset` and `!override` tags on the nodes they mark;
//! * reject duplicate keys and non-scalar keys with their position;
//! * bound nesting depth, so hostile input cannot exhaust the stack.
//!
//! Scalars keep their text and whether they were quoted; typing (null, bool, int, float, string)
//! follows the YAML 1.2 core schema and happens when a value is read, not when it is parsed.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use crate::error::{Error, ErrorKind, Loc, Result};

/// Most nodes a file may expand to, aliases included.
pub const MAX_NODES: usize = 1_000_000;
/// Deepest nesting of sequences and mappings.
pub const MAX_DEPTH: usize = 128;

/// A Compose-specific tag on a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tag {
    /// `!reset`: the merged value is removed (or emptied).
    Reset,
    /// `!override`: the merged value replaces the earlier one instead of being merged with it.
    Override,
}

/// A scalar as written: its text and whether it was quoted (quoted scalars are always strings).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scalar {
    /// The scalar's text after YAML unescaping.
    pub text: String,
    /// True for quoted and block scalars, and for scalars tagged `!!str`.
    pub quoted: bool,
}

/// One entry of a mapping, with the position of its key.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The key's text.
    pub key: String,
    /// Where the key is.
    pub key_loc: Loc,
    /// The value.
    pub value: Node,
}

/// The shape of a node.
#[derive(Clone, Debug)]
pub enum Value {
    /// A scalar (string, number, boolean or null, decided when read).
    Scalar(Scalar),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order, keys unique.
    Map(Vec<Entry>),
}

/// A node of a YAML document with its location and Compose tag.
#[derive(Clone, Debug)]
pub struct Node {
    /// The node's content.
    pub value: Value,
    /// Where the node starts.
    pub loc: Loc,
    /// `!reset` / `!override`, when present.
    pub tag: Option<Tag>,
}

impl Node {
    /// A plain scalar node at `loc`.
    pub fn scalar(text: impl Into<String>, loc: Loc) -> Self {
        Node {
            value: Value::Scalar(Scalar {
                text: text.into(),
                quoted: false,
            }),
            loc,
            tag: None,
        }
    }

    /// A string node (quoted, so it never reads as a number, boolean or null).
    pub fn string(text: impl Into<String>, loc: Loc) -> Self {
        Node {
            value: Value::Scalar(Scalar {
                text: text.into(),
                quoted: true,
            }),
            loc,
            tag: None,
        }
    }

    /// An empty mapping at `loc`.
    pub fn map(loc: Loc) -> Self {
        Node {
            value: Value::Map(Vec::new()),
            loc,
            tag: None,
        }
    }

    /// A sequence of `items` at `loc`.
    pub fn seq(items: Vec<Node>, loc: Loc) -> Self {
        Node {
            value: Value::Seq(items),
            loc,
            tag: None,
        }
    }

    /// The scalar, if this node is one.
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.value {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The scalar's text, if this node is a scalar (whatever its type).
    pub fn as_str(&self) -> Option<&str> {
        self.as_scalar().map(|s| s.text.as_str())
    }

    /// The entries, if this node is a mapping.
    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The entries, mutably, if this node is a mapping.
    pub fn as_map_mut(&mut self) -> Option<&mut Vec<Entry>> {
        match &mut self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The items, if this node is a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The items, mutably, if this node is a sequence.
    pub fn as_seq_mut(&mut self) -> Option<&mut Vec<Node>> {
        match &mut self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The value under `key`, if this node is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| &e.value)
    }

    /// The value under `key`, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.as_map_mut()?
            .iter_mut()
            .find(|e| e.key == key)
            .map(|e| &mut e.value)
    }

    /// The entry under `key` (with the key's position).
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.as_map()?.iter().find(|e| e.key == key)
    }

    /// Sets `key` to `value` in a mapping, replacing an existing entry in place.
    /// Does nothing if this node is not a mapping.
    pub fn insert(&mut self, key: impl Into<String>, value: Node) {
        let key = key.into();
        let key_loc = value.loc.clone();
        if let Some(map) = self.as_map_mut() {
            if let Some(e) = map.iter_mut().find(|e| e.key == key) {
                e.value = value;
            } else {
                map.push(Entry {
                    key,
                    key_loc,
                    value,
                });
            }
        }
    }

    /// Removes `key` from a mapping and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Node> {
        let map = self.as_map_mut()?;
        let i = map.iter().position(|e| e.key == key)?;
        Some(map.remove(i).value)
    }

    /// True for a plain `null`, `~` or empty scalar.
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar(s) if !s.quoted && matches!(s.text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// The boolean value of a plain `true`/`false` scalar (YAML 1.2 core schema).
    pub fn as_bool(&self) -> Option<bool> {
        match &self.value {
            Value::Scalar(s) if !s.quoted => match s.text.as_str() {
                "true" | "True" | "TRUE" => Some(true),
                "false" | "False" | "FALSE" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    /// The integer value of a plain integer scalar (decimal, `0x` hex, `0o` octal).
    pub fn as_i64(&self) -> Option<i64> {
        match &self.value {
            Value::Scalar(s) if !s.quoted => parse_int(&s.text),
            _ => None,
        }
    }

    /// The float value of a plain numeric scalar.
    pub fn as_f64(&self) -> Option<f64> {
        match &self.value {
            Value::Scalar(s) if !s.quoted => parse_int(&s.text)
                .map(|i| i as f64)
                .or_else(|| parse_float(&s.text)),
            _ => None,
        }
    }

    /// A short description of the node's type for error messages ("a mapping", "a string", …).
    pub fn kind_name(&self) -> &'static str {
        match &self.value {
            Value::Map(_) => "a mapping",
            Value::Seq(_) => "a sequence",
            Value::Scalar(_) if self.is_null() => "null",
            Value::Scalar(_) if self.as_bool().is_some() => "a boolean",
            Value::Scalar(_) if self.as_i64().is_some() => "an integer",
            Value::Scalar(_) if self.as_f64().is_some() => "a number",
            Value::Scalar(_) => "a string",
        }
    }

    /// The node as JSON with YAML 1.2 core typing (for debugging and JSON output of raw trees).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Map(m) => J::Object(
                m.iter()
                    .map(|e| (e.key.clone(), e.value.to_json()))
                    .collect(),
            ),
            Value::Seq(s) => J::Array(s.iter().map(Node::to_json).collect()),
            Value::Scalar(s) => {
                if self.is_null() {
                    J::Null
                } else if let Some(b) = self.as_bool() {
                    J::Bool(b)
                } else if let Some(i) = self.as_i64() {
                    J::from(i)
                } else if let Some(f) = self.as_f64().and_then(serde_json::Number::from_f64) {
                    J::Number(f)
                } else {
                    J::String(s.text.clone())
                }
            }
        }
    }
}

fn parse_int(t: &str) -> Option<i64> {
    let (neg, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let v = if let Some(h) = digits.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(o) = digits.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()?
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()?
    } else {
        return None;
    };
    Some(if neg { -v } else { v })
}

fn parse_float(t: &str) -> Option<f64> {
    match t {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let body = t.strip_prefix(['-', '+']).unwrap_or(t);
    let ok = !body.is_empty()
        && body.bytes().any(|b| b.is_ascii_digit())
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    if ok { t.parse().ok() } else { None }
}

/// Parses every document of `text` (read from `file`) into located trees.
///
/// An empty file gives no document. Errors carry the position of the offending node.
pub fn parse(text: &str, file: &Path) -> Result<Vec<Node>> {
    Builder::new(Arc::from(file)).run(text)
}

enum Frame {
    Seq {
        loc: Loc,
        tag: Option<Tag>,
        anchor: usize,
        items: Vec<Node>,
        size: usize,
    },
    Map {
        loc: Loc,
        tag: Option<Tag>,
        anchor: usize,
        items: Vec<Node>,
        size: usize,
    },
}

struct Builder {
    file: Arc<Path>,
    anchors: HashMap<usize, (Node, usize)>,
    stack: Vec<Frame>,
    docs: Vec<Node>,
    nodes: usize,
}

impl Builder {
    fn new(file: Arc<Path>) -> Self {
        Builder {
            file,
            anchors: HashMap::new(),
            stack: Vec::new(),
            docs: Vec::new(),
            nodes: 0,
        }
    }

    fn loc(&self, span: &Span) -> Loc {
        Loc::new(
            self.file.clone(),
            span.start.line() as u32,
            span.start.col() as u32 + 1,
        )
    }

    fn run(mut self, text: &str) -> Result<Vec<Node>> {
        for ev in Parser::new_from_str(text) {
            let (event, span) = ev.map_err(|e| {
                let m = e.marker();
                Error::at(
                    ErrorKind::Syntax,
                    &Loc::new(self.file.clone(), m.line() as u32, m.col() as u32 + 1),
                    format!("invalid YAML: {}", e.info()),
                )
            })?;
            self.event(event, span)?;
        }
        Ok(self.docs)
    }

    fn event(&mut self, event: Event<'_>, span: Span) -> Result<()> {
        match event {
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
            Event::DocumentStart(_) => self.anchors.clear(),
            Event::Alias(id) => {
                let loc = self.loc(&span);
                let Some(size) = self.anchors.get(&id).map(|(_, s)| *s) else {
                    return Err(Error::at(
                        ErrorKind::Syntax,
                        &loc,
                        "alias to an unknown anchor",
                    ));
                };
                self.charge(size, &loc)?;
                let mut node = self.anchors[&id].0.clone();
                node.loc = loc;
                self.push(node, size)?;
            }
            Event::Scalar(text, style, anchor, tag) => {
                let loc = self.loc(&span);
                self.charge(1, &loc)?;
                let (tag, force_str) = self.tag(tag.as_deref(), &loc)?;
                let node = Node {
                    value: Value::Scalar(Scalar {
                        text: text.into_owned(),
                        quoted: force_str || style != ScalarStyle::Plain,
                    }),
                    loc,
                    tag,
                };
                if anchor != 0 {
                    self.anchors.insert(anchor, (node.clone(), 1));
                }
                self.push(node, 1)?;
            }
            Event::SequenceStart(anchor, ref tag) | Event::MappingStart(anchor, ref tag) => {
                let loc = self.loc(&span);
                if self.stack.len() >= MAX_DEPTH {
                    return Err(Error::at(
                        ErrorKind::Limit,
                        &loc,
                        format!("nesting deeper than {MAX_DEPTH} levels"),
                    ));
                }
                self.charge(1, &loc)?;
                let (tag, _) = self.tag(tag.as_deref(), &loc)?;
                let is_seq = matches!(event, Event::SequenceStart(..));
                self.stack.push(if is_seq {
                    Frame::Seq {
                        loc,
                        tag,
                        anchor,
                        items: Vec::new(),
                        size: 1,
                    }
                } else {
                    Frame::Map {
                        loc,
                        tag,
                        anchor,
                        items: Vec::new(),
                        size: 1,
                    }
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let frame = self.stack.pop().expect("parser emits balanced events");
                let (node, anchor, size) = match frame {
                    Frame::Seq {
                        loc,
                        tag,
                        anchor,
                        items,
                        size,
                    } => (
                        Node {
                            value: Value::Seq(items),
                            loc,
                            tag,
                        },
                        anchor,
                        size,
                    ),
                    Frame::Map {
                        loc,
                        tag,
                        anchor,
                        items,
                        size,
                    } => (
                        Node {
                            value: Value::Map(build_map(items)?),
                            loc,
                            tag,
                        },
                        anchor,
                        size,
                    ),
                };
                if anchor != 0 {
                    self.anchors.insert(anchor, (node.clone(), size));
                }
                self.push(node, size)?;
            }
        }
        Ok(())
    }

    fn tag(&self, tag: Option<&saphyr_parser::Tag>, loc: &Loc) -> Result<(Option<Tag>, bool)> {
        let Some(tag) = tag else {
            return Ok((None, false));
        };
        match (tag.handle.as_str(), tag.suffix.as_str()) {
            ("!", "reset") => Ok((Some(Tag::Reset), false)),
            ("!", "override") => Ok((Some(Tag::Override), false)),
            ("!!", "str") | ("tag:yaml.org,2002:", "str") => Ok((None, true)),
            ("!!", _) | ("tag:yaml.org,2002:", _) => Ok((None, false)),
            (h, s) => Err(Error::at_hint(
                ErrorKind::Syntax,
                loc,
                format!("unsupported YAML tag `{h}{s}`"),
                "compose files may use the tags !reset and !override",
            )),
        }
    }

    fn charge(&mut self, n: usize, loc: &Loc) -> Result<()> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return Err(Error::at_hint(
                ErrorKind::Limit,
                loc,
                format!("the document expands to more than {MAX_NODES} nodes"),
                "this usually means anchors and aliases that refer to each other repeatedly (an alias bomb)",
            ));
        }
        Ok(())
    }

    fn push(&mut self, node: Node, size: usize) -> Result<()> {
        match self.stack.last_mut() {
            Some(Frame::Seq { items, size: s, .. }) | Some(Frame::Map { items, size: s, .. }) => {
                items.push(node);
                *s += size;
            }
            None => self.docs.push(node),
        }
        Ok(())
    }
}

/// Turns alternating key/value nodes into entries, applying merge keys and rejecting duplicates.
fn build_map(items: Vec<Node>) -> Result<Vec<Entry>> {
    let mut entries: Vec<Entry> = Vec::with_capacity(items.len() / 2);
    let mut merged: Vec<Entry> = Vec::new();
    // large mappings (`services` of a big project) find duplicates through a key index
    let mut seen: Option<HashMap<String, usize>> =
        (items.len() > 32).then(|| HashMap::with_capacity(items.len() / 2));
    let mut it = items.into_iter();
    while let (Some(key), Some(value)) = (it.next(), it.next()) {
        let Value::Scalar(k) = &key.value else {
            return Err(Error::at(
                ErrorKind::Syntax,
                &key.loc,
                format!("mapping keys must be strings, found {}", key.kind_name()),
            ));
        };
        if k.text == "<<" && !k.quoted {
            collect_merge(&value, &mut merged)?;
            continue;
        }
        let prev = match &mut seen {
            Some(seen) => seen.get(&k.text).map(|&i| &entries[i]),
            None => entries.iter().find(|e| e.key == k.text),
        };
        if let Some(prev) = prev {
            return Err(Error::at_hint(
                ErrorKind::Syntax,
                &key.loc,
                format!("duplicate key `{}`", k.text),
                format!("it is already defined at line {}", prev.key_loc.line),
            ));
        }
        if let Some(seen) = &mut seen {
            seen.insert(k.text.clone(), entries.len());
        }
        entries.push(Entry {
            key: k.text.clone(),
            key_loc: key.loc.clone(),
            value,
        });
    }
    for m in merged {
        let present = match &seen {
            Some(seen) => seen.contains_key(&m.key),
            None => entries.iter().any(|e| e.key == m.key),
        };
        if !present {
            entries.push(m);
        }
    }
    Ok(entries)
}

/// Adds the entries of a merge-key value (a mapping or a sequence of mappings; earlier wins).
fn collect_merge(value: &Node, out: &mut Vec<Entry>) -> Result<()> {
    let sources: Vec<&Node> = match &value.value {
        Value::Map(_) => vec![value],
        Value::Seq(s) => s.iter().collect(),
        Value::Scalar(_) => {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                &value.loc,
                "a merge key `<<` needs a mapping or a sequence of mappings",
            ));
        }
    };
    for src in sources {
        let Value::Map(m) = &src.value else {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                &src.loc,
                format!(
                    "a merge key `<<` can only merge mappings, found {}",
                    src.kind_name()
                ),
            ));
        };
        for e in m {
            if !out.iter().any(|o| o.key == e.key) {
                out.push(e.clone());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Node {
        let mut docs = parse(text, Path::new("t.yaml")).unwrap();
        assert_eq!(docs.len(), 1);
        docs.remove(0)
    }

    fn err(text: &str) -> String {
        parse(text, Path::new("t.yaml")).unwrap_err().to_string()
    }

    #[test]
    fn positions_are_one_based() {
        let doc = one("services:\n  web:\n    image: nginx\n");
        let web = doc.get("services").unwrap().entry("web").unwrap();
        assert_eq!((web.key_loc.line, web.key_loc.col), (2, 3));
        let image = web.value.get("image").unwrap();
        assert_eq!((image.loc.line, image.loc.col), (3, 12));
        assert_eq!(image.loc.to_string(), "t.yaml:3:12");
    }

    #[test]
    fn scalars_keep_quoting() {
        let doc = one("a: true\nb: 'true'\nc: 5\nd: \"5\"\ne: ~\nf: !!str 7\n");
        assert_eq!(doc.get("a").unwrap().as_bool(), Some(true));
        assert_eq!(doc.get("b").unwrap().as_bool(), None);
        assert_eq!(doc.get("c").unwrap().as_i64(), Some(5));
        assert_eq!(doc.get("d").unwrap().as_i64(), None);
        assert!(doc.get("e").unwrap().is_null());
        assert_eq!(doc.get("f").unwrap().as_i64(), None);
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let doc = one(
            "x-base: &base\n  image: busybox\n  restart: always\nservices:\n  a:\n    <<: *base\n    restart: 'no'\n  b: *base\n",
        );
        let a = doc.get("services").unwrap().get("a").unwrap();
        assert_eq!(a.get("image").unwrap().as_str(), Some("busybox"));
        assert_eq!(a.get("restart").unwrap().as_str(), Some("no"));
        let b = doc.get("services").unwrap().get("b").unwrap();
        assert_eq!(b.get("restart").unwrap().as_str(), Some("always"));
        // the alias takes the position of its use, so errors point where the value is used
        assert_eq!(b.loc.line, 8);
    }

    #[test]
    fn merge_of_several_maps_earlier_wins() {
        let doc = one("a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nc:\n  <<: [*a, *b]\n");
        let c = doc.get("c").unwrap();
        assert_eq!(c.get("y").unwrap().as_i64(), Some(1));
        assert_eq!(c.get("z").unwrap().as_i64(), Some(2));
    }

    #[test]
    fn tags_reset_and_override() {
        let doc = one("a: !reset []\nb: !override\n  k: v\n");
        assert_eq!(doc.get("a").unwrap().tag, Some(Tag::Reset));
        assert_eq!(doc.get("b").unwrap().tag, Some(Tag::Override));
        assert!(err("a: !custom 1\n").contains("unsupported YAML tag `!custom`"));
    }

    #[test]
    fn duplicate_keys_are_rejected_with_position() {
        let e = err("services:\n  a: {}\n  a: {}\n");
        assert!(e.starts_with("t.yaml:3:3: duplicate key `a`"), "{e}");
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = err("services:\n  web:\n    image: [unclosed\n");
        assert!(e.starts_with("t.yaml:"), "{e}");
        assert!(e.contains("invalid YAML"), "{e}");
    }

    #[test]
    fn billion_laughs_is_rejected_quickly() {
        let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..10 {
            let refs = vec![format!("*a{}", i - 1); 9].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let e = err(&text);
        assert!(e.contains("alias bomb"), "{e}");
    }

    #[test]
    fn deep_nesting_is_rejected() {
        let text = format!("{}{}", "[".repeat(MAX_DEPTH + 5), "]".repeat(MAX_DEPTH + 5));
        assert!(err(&text).contains("nesting deeper"));
    }

    #[test]
    fn empty_file_has_no_document() {
        assert!(parse("", Path::new("t.yaml")).unwrap().is_empty());
        assert!(
            parse("# only a comment\n", Path::new("t.yaml"))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn duplicate_keys_in_large_mappings_are_rejected() {
        let mut text: String = (0..100).map(|i| format!("k{i}: {i}\n")).collect();
        text.push_str("k42: again\n");
        let e = err(&text);
        assert!(e.starts_with("t.yaml:101:1: duplicate key `k42`"), "{e}");
        assert!(e.contains("already defined at line 43"), "{e}");
        let mut text: String = String::from("b: &b {k5: merged, extra: 1}\nm:\n  <<: *b\n");
        text.extend((0..50).map(|i| format!("  k{i}: {i}\n")));
        let m = one(&text).get("m").unwrap().clone();
        assert_eq!(m.get("k5").unwrap().as_i64(), Some(5));
        assert_eq!(m.get("extra").unwrap().as_i64(), Some(1));
    }

    #[test]
    fn non_scalar_keys_are_rejected() {
        assert!(err("? [a, b]\n: c\n").contains("mapping keys must be strings"));
    }
}
