//! Checks a compose document against the Compose Specification JSON schema, with positions.
//!
//! Driving key and type checks from the official schema (embedded at build time) keeps berth
//! complete: every key the spec defines is accepted, every other key is reported at its
//! position with a "did you mean" hint. Only the schema features the compose schema uses are
//! implemented: `$ref`, `type`, `properties`, `patternProperties`, `additionalProperties`,
//! `required`, `items`, `uniqueItems`, `enum`, `pattern`, `minimum`/`maximum`, `oneOf`/`anyOf`.
//!
//! Scalars are typed by their text, quoted or not, because interpolation produces strings
//! where the author wrote numbers (`"${PORT}"`); a `string` accepts any non-null scalar.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value as J;

use crate::error::{Error, ErrorKind, did_you_mean};
use crate::path::Seg;
use crate::yaml::{Entry, Node, Value};

/// The Compose Specification schema, as published by the compose-spec project.
pub const SCHEMA_TEXT: &str = include_str!("../schema/compose-spec.json");

const NULL: u8 = 1;
const BOOL: u8 = 2;
const INT: u8 = 4;
const NUM: u8 = 8;
const STR: u8 = 16;
const OBJ: u8 = 32;
const ARR: u8 = 64;

fn type_bit(t: &str) -> u8 {
    match t {
        "null" => NULL,
        "boolean" => BOOL,
        "integer" => INT,
        "number" => NUM,
        "string" => STR,
        "object" => OBJ,
        "array" => ARR,
        _ => 0,
    }
}

fn bit_names(mask: u8) -> Vec<&'static str> {
    [
        (OBJ, "a mapping"),
        (ARR, "a sequence"),
        (STR, "a string"),
        (INT, "an integer"),
        (NUM, "a number"),
        (BOOL, "a boolean"),
        (NULL, "null"),
    ]
    .into_iter()
    .filter(|(b, _)| mask & b != 0)
    .map(|(_, n)| n)
    .collect()
}

/// Whether `node` is an instance of one of the `types` (0: any), typing scalars by their
/// text (see the module doc). Numbers are parsed only when no cheaper type matches.
fn fits(node: &Node, types: u8) -> bool {
    if types == 0 {
        return true;
    }
    match &node.value {
        Value::Map(_) => types & OBJ != 0,
        Value::Seq(_) => types & ARR != 0,
        Value::Scalar(_) if node.is_null() => types & NULL != 0,
        Value::Scalar(s) => {
            let t = s.text.as_str();
            types & STR != 0
                || (types & BOOL != 0
                    && matches!(t, "true" | "True" | "TRUE" | "false" | "False" | "FALSE"))
                || (types & INT != 0 && t.parse::<i64>().is_ok())
                || (types & NUM != 0 && t.parse::<f64>().is_ok())
        }
    }
}

/// A `patternProperties` pattern, with fast paths for the ones the compose schema uses.
#[derive(Debug)]
enum Pattern {
    Prefix(String),
    NonEmpty,
    Regex(Regex),
}

impl Pattern {
    fn new(p: &str) -> Pattern {
        match p {
            "^x-" => Pattern::Prefix("x-".into()),
            ".+" | "^.+$" => Pattern::NonEmpty,
            _ => Pattern::Regex(Regex::new(p).expect("schema pattern compiles")),
        }
    }

    fn is_match(&self, s: &str) -> bool {
        match self {
            Pattern::Prefix(p) => s.starts_with(p.as_str()),
            Pattern::NonEmpty => !s.is_empty(),
            Pattern::Regex(r) => r.is_match(s),
        }
    }
}

/// One schema node, compiled: `$ref`s resolved to indices, keywords read once.
#[derive(Debug, Default)]
struct Rule {
    /// Allowed types (0: any).
    types: u8,
    /// Types any `oneOf` branch allows, for picking a branch (0: any).
    fit: u8,
    one_of: Vec<usize>,
    props: HashMap<String, usize>,
    prop_names: Vec<String>,
    pattern_props: Vec<(String, Pattern, usize)>,
    closed: bool,
    required: Vec<String>,
    items: Option<usize>,
    unique: bool,
    allowed: Option<Vec<String>>,
    pattern: Option<(String, Regex)>,
    min: Option<f64>,
    max: Option<f64>,
}

struct Schema {
    rules: Vec<Rule>,
    root: usize,
    raw: J,
}

static SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    let raw: J = serde_json::from_str(SCHEMA_TEXT).expect("embedded schema is valid JSON");
    let mut c = Compiler {
        raw: &raw,
        rules: Vec::new(),
        defs: HashMap::new(),
    };
    let root = c.compile(&raw);
    let rules = c.rules;
    Schema { rules, root, raw }
});

struct Compiler<'a> {
    raw: &'a J,
    rules: Vec<Rule>,
    defs: HashMap<String, usize>,
}

impl Compiler<'_> {
    fn compile(&mut self, s: &J) -> usize {
        if let Some(r) = s.get("$ref").and_then(J::as_str) {
            let name = r.trim_start_matches("#/definitions/").to_string();
            if let Some(&i) = self.defs.get(&name) {
                return i;
            }
            let i = self.rules.len();
            self.rules.push(Rule::default());
            self.defs.insert(name.clone(), i);
            let def = &self.raw["definitions"][name.as_str()];
            let rule = self.rule(def);
            self.rules[i] = rule;
            return i;
        }
        let rule = self.rule(s);
        self.rules.push(rule);
        self.rules.len() - 1
    }

    fn rule(&mut self, s: &J) -> Rule {
        let mut r = Rule::default();
        match s.get("type") {
            Some(J::String(t)) => r.types = type_bit(t),
            Some(J::Array(a)) => {
                r.types = a
                    .iter()
                    .filter_map(J::as_str)
                    .map(type_bit)
                    .fold(0, |x, y| x | y);
            }
            _ => {}
        }
        r.fit = r.types;
        if let Some(J::Array(alts)) = s.get("oneOf").or_else(|| s.get("anyOf")) {
            r.one_of = alts.iter().map(|a| self.compile(a)).collect();
            let fits: Vec<u8> = r.one_of.iter().map(|&i| self.rules[i].fit).collect();
            r.fit = if fits.contains(&0) {
                0
            } else {
                fits.iter().fold(0, |x, y| x | y)
            };
        }
        if let Some(J::Object(props)) = s.get("properties") {
            for (k, v) in props {
                let i = self.compile(v);
                r.props.insert(k.clone(), i);
                r.prop_names.push(k.clone());
            }
        }
        if let Some(J::Object(pp)) = s.get("patternProperties") {
            for (k, v) in pp {
                let i = self.compile(v);
                r.pattern_props.push((k.clone(), Pattern::new(k), i));
            }
        }
        r.closed = s.get("additionalProperties") == Some(&J::Bool(false));
        r.required = s
            .get("required")
            .and_then(J::as_array)
            .map(|a| a.iter().filter_map(J::as_str).map(str::to_string).collect())
            .unwrap_or_default();
        r.items = s.get("items").map(|i| self.compile(i));
        r.unique = s.get("uniqueItems") == Some(&J::Bool(true));
        r.allowed = s
            .get("enum")
            .and_then(J::as_array)
            .map(|a| a.iter().filter_map(J::as_str).map(str::to_string).collect());
        r.pattern = s.get("pattern").and_then(J::as_str).map(|p| {
            (
                p.to_string(),
                Regex::new(p).expect("schema pattern compiles"),
            )
        });
        r.min = s.get("minimum").and_then(J::as_f64);
        r.max = s.get("maximum").and_then(J::as_f64);
        r
    }
}

/// Validates a whole compose document; returns every problem found.
pub fn check_document(doc: &Node) -> Vec<Error> {
    let mut errors = Vec::new();
    let s = &*SCHEMA;
    s.check(doc, s.root, &Seg::Root, &mut errors);
    errors
}

fn join_alternatives(names: &[&str]) -> String {
    let mut uniq: Vec<&str> = Vec::new();
    for n in names {
        if !uniq.contains(n) {
            uniq.push(n);
        }
    }
    match uniq.as_slice() {
        [] => "a value".to_string(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

impl Schema {
    fn check(&self, node: &Node, rule: usize, path: &Seg<'_>, errors: &mut Vec<Error>) {
        let r = &self.rules[rule];
        if !r.one_of.is_empty() {
            match r.one_of.iter().find(|&&b| fits(node, self.rules[b].fit)) {
                Some(&b) => self.check(node, b, path, errors),
                None => errors.push(type_error(node, path, &bit_names(r.fit))),
            }
            return;
        }
        if !fits(node, r.types) {
            errors.push(type_error(node, path, &bit_names(r.types)));
            return;
        }
        match &node.value {
            Value::Map(entries) => self.check_map(node, entries, r, path, errors),
            Value::Seq(items) => self.check_seq(items, r, path, errors),
            Value::Scalar(sc) => check_scalar(node, &sc.text, r, path, errors),
        }
    }

    fn check_map(
        &self,
        node: &Node,
        entries: &[Entry],
        r: &Rule,
        path: &Seg<'_>,
        errors: &mut Vec<Error>,
    ) {
        for e in entries {
            let sub = path.key(&e.key);
            if let Some(&p) = r.props.get(&e.key) {
                self.check(&e.value, p, &sub, errors);
                continue;
            }
            if let Some((_, _, p)) = r
                .pattern_props
                .iter()
                .find(|(_, pat, _)| pat.is_match(&e.key))
            {
                self.check(&e.value, *p, &sub, errors);
                continue;
            }
            if r.closed {
                errors.push(unknown_key(e, r, path));
            }
        }
        for req in &r.required {
            if !entries.iter().any(|e| e.key == *req) {
                errors.push(Error::at(
                    ErrorKind::InvalidValue,
                    &node.loc,
                    format!("`{path}` is missing the required key `{req}`"),
                ));
            }
        }
    }

    fn check_seq(&self, items: &[Node], r: &Rule, path: &Seg<'_>, errors: &mut Vec<Error>) {
        if let Some(item_rule) = r.items {
            for (i, item) in items.iter().enumerate() {
                self.check(item, item_rule, &path.index(i), errors);
            }
        }
        if r.unique && items.len() > 1 {
            let mut seen = HashSet::with_capacity(items.len());
            for item in items {
                if let Some(t) = item.as_str()
                    && !seen.insert(t)
                {
                    errors.push(Error::at(
                        ErrorKind::InvalidValue,
                        &item.loc,
                        format!("`{path}` contains `{t}` more than once"),
                    ));
                }
            }
        }
    }
}

/// Lists of `KEY=VALUE` strings that people often write as lists of one-entry mappings.
const KEY_VALUE_LISTS: &[&str] = &["environment", "labels", "args", "sysctls", "annotations"];

fn type_error(node: &Node, path: &Seg<'_>, expected: &[&str]) -> Error {
    let message = format!(
        "`{path}` must be {}, found {}",
        join_alternatives(expected),
        node.kind_name()
    );
    // `environment: [- FOO: bar]`: suggest the string form
    if let (Seg::Index(Seg::Key(_, list), _), Some([entry])) = (path, node.as_map())
        && KEY_VALUE_LISTS.contains(list)
        && let Some(v) = entry.value.as_str()
    {
        return Error::at_hint(
            ErrorKind::InvalidValue,
            &node.loc,
            message,
            format!("write `{}={v}`, or make `{list}` a mapping", entry.key),
        );
    }
    Error::at(ErrorKind::InvalidValue, &node.loc, message)
}

fn unknown_key(e: &Entry, r: &Rule, path: &Seg<'_>) -> Error {
    let where_ = if path.is_root() {
        "at the top level".to_string()
    } else {
        format!("in `{path}`")
    };
    let name_pattern = r
        .pattern_props
        .iter()
        .find(|(src, _, _)| src != "^x-")
        .filter(|_| r.props.is_empty());
    if let Some((pat, _, _)) = name_pattern {
        return Error::at(
            ErrorKind::InvalidValue,
            &e.key_loc,
            format!(
                "invalid name `{}` {where_}: names must match `{pat}`",
                e.key
            ),
        );
    }
    let message = format!("unknown key `{}` {where_}", e.key);
    let hint = match did_you_mean(&e.key, r.prop_names.iter().map(String::as_str)) {
        Some(k) => format!("did you mean `{k}`?"),
        None => "extension keys must start with `x-`".to_string(),
    };
    Error::at_hint(ErrorKind::UnknownKey, &e.key_loc, message, hint)
}

fn check_scalar(node: &Node, text: &str, r: &Rule, path: &Seg<'_>, errors: &mut Vec<Error>) {
    if let Some(allowed) = &r.allowed
        && !allowed.iter().any(|a| a == text)
    {
        let message = format!(
            "invalid value `{text}` for `{path}`: expected one of {}",
            allowed
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        errors.push(
            match did_you_mean(text, allowed.iter().map(String::as_str)) {
                Some(h) => Error::at_hint(
                    ErrorKind::InvalidValue,
                    &node.loc,
                    message,
                    format!("did you mean `{h}`?"),
                ),
                None => Error::at(ErrorKind::InvalidValue, &node.loc, message),
            },
        );
    }
    if let Some((src, re)) = &r.pattern
        && !re.is_match(text)
    {
        errors.push(Error::at(
            ErrorKind::InvalidValue,
            &node.loc,
            format!("invalid value `{text}` for `{path}`: must match `{src}`"),
        ));
    }
    if (r.min.is_some() || r.max.is_some())
        && let Ok(v) = text.parse::<f64>()
        && (r.min.is_some_and(|m| v < m) || r.max.is_some_and(|m| v > m))
    {
        errors.push(Error::at(
            ErrorKind::InvalidValue,
            &node.loc,
            format!(
                "`{path}` must be between {} and {}, found {text}",
                r.min.map_or("-inf".into(), |m| m.to_string()),
                r.max.map_or("inf".into(), |m| m.to_string())
            ),
        ));
    }
}

/// Every key the schema defines for a service (for tests and tooling).
pub fn service_keys() -> Vec<String> {
    SCHEMA.raw["definitions"]["service"]["properties"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn errs(text: &str) -> Vec<String> {
        let doc = crate::yaml::parse(text, Path::new("c.yaml"))
            .unwrap()
            .remove(0);
        check_document(&doc)
            .into_iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn valid_document_passes() {
        let e = errs(
            "name: p\nservices:\n  web:\n    image: nginx\n    ports: ['80', 8080, {target: 81}]\n    environment: {A: 1, B: true, C: null}\n    x-custom: {any: thing}\nx-top: 1\nnetworks:\n  front:\nvolumes:\n  db: {}\n",
        );
        assert!(e.is_empty(), "{e:?}");
    }

    #[test]
    fn unknown_key_with_hint_at_key_position() {
        let e = errs("services:\n  web:\n    image: nginx\n    prots: ['80']\n");
        assert_eq!(
            e,
            vec![
                "c.yaml:4:5: unknown key `prots` in `services.web`\n  hint: did you mean `ports`?"
            ]
        );
    }

    #[test]
    fn unknown_top_level_key() {
        let e = errs("servics: {}\n");
        assert!(e[0].starts_with("c.yaml:1:1: unknown key `servics` at the top level"));
        assert!(e[0].contains("did you mean `services`?"), "{e:?}");
    }

    #[test]
    fn wrong_type_names_both_types() {
        let e = errs("services:\n  web:\n    ports: {a: 1}\n");
        assert_eq!(
            e,
            vec!["c.yaml:3:12: `services.web.ports` must be a sequence, found a mapping"]
        );
    }

    #[test]
    fn one_of_reports_alternatives() {
        let e = errs("services:\n  web:\n    environment: 5\n");
        assert!(
            e[0].contains("must be a mapping or a sequence, found an integer"),
            "{e:?}"
        );
    }

    #[test]
    fn enum_values_are_checked() {
        let e = errs(
            "services:\n  a:\n    depends_on:\n      b: {condition: service_healty}\n  b: {}\n",
        );
        assert!(e[0].contains("invalid value `service_healty`"), "{e:?}");
        assert!(e[0].contains("did you mean `service_healthy`?"), "{e:?}");
    }

    #[test]
    fn required_keys_and_invalid_service_names() {
        let e = errs("services:\n  a:\n    depends_on:\n      b: {required: true}\n  'b c': {}\n");
        assert!(
            e.iter()
                .any(|m| m.contains("missing the required key `condition`")),
            "{e:?}"
        );
        assert!(e.iter().any(|m| m.contains("invalid name `b c`")), "{e:?}");
    }

    #[test]
    fn duplicate_items_in_unique_lists() {
        let e = errs("services:\n  a:\n    cap_add: [NET_ADMIN, NET_ADMIN]\n");
        assert!(
            e[0].contains("contains `NET_ADMIN` more than once"),
            "{e:?}"
        );
    }

    #[test]
    fn every_error_is_collected() {
        let e = errs("services:\n  a:\n    imag: x\n    ports: 3\n  b:\n    tty: [1]\n");
        assert_eq!(e.len(), 3, "{e:?}");
    }

    #[test]
    fn every_spec_service_key_is_known() {
        let keys = service_keys();
        for k in [
            "ports",
            "volumes",
            "develop",
            "post_start",
            "use_api_socket",
            "gpus",
        ] {
            assert!(keys.iter().any(|x| x == k), "{k}");
        }
    }
}
