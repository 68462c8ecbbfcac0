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
use crate::yaml::{Node, Value};

/// The Compose Specification schema, as published by the compose-spec project.
pub const SCHEMA_TEXT: &str = include_str!("../schema/compose-spec.json");

struct Schema {
    root: J,
    patterns: HashMap<String, Regex>,
}

static SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    let root: J = serde_json::from_str(SCHEMA_TEXT).expect("embedded schema is valid JSON");
    let mut patterns = HashMap::new();
    collect_patterns(&root, &mut patterns);
    Schema { root, patterns }
});

fn collect_patterns(s: &J, out: &mut HashMap<String, Regex>) {
    match s {
        J::Object(m) => {
            if let Some(J::String(p)) = m.get("pattern") {
                out.entry(p.clone())
                    .or_insert_with(|| Regex::new(p).expect("schema pattern compiles"));
            }
            if let Some(J::Object(pp)) = m.get("patternProperties") {
                for k in pp.keys() {
                    out.entry(k.clone())
                        .or_insert_with(|| Regex::new(k).expect("schema pattern compiles"));
                }
            }
            for v in m.values() {
                collect_patterns(v, out);
            }
        }
        J::Array(a) => a.iter().for_each(|v| collect_patterns(v, out)),
        _ => {}
    }
}

/// Validates a whole compose document; returns every problem found.
pub fn check_document(doc: &Node) -> Vec<Error> {
    let mut errors = Vec::new();
    let s = &*SCHEMA;
    s.check(doc, &s.root, "", &mut errors);
    errors
}

fn type_name(t: &str) -> &'static str {
    match t {
        "object" => "a mapping",
        "array" => "a sequence",
        "string" => "a string",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "a boolean",
        "null" => "null",
        _ => "a value",
    }
}

fn scalar_is(node: &Node, t: &str) -> bool {
    let Value::Scalar(s) = &node.value else {
        return false;
    };
    let null = node.is_null();
    let text = s.text.as_str();
    match t {
        "null" => null,
        "string" => !null,
        "boolean" => matches!(text, "true" | "True" | "TRUE" | "false" | "False" | "FALSE"),
        "integer" => text.parse::<i64>().is_ok(),
        "number" => !text.is_empty() && text.parse::<f64>().is_ok(),
        _ => false,
    }
}

fn node_is(node: &Node, t: &str) -> bool {
    match (&node.value, t) {
        (Value::Map(_), "object") | (Value::Seq(_), "array") => true,
        (Value::Scalar(_), _) => scalar_is(node, t),
        _ => false,
    }
}

fn types_of(s: &J) -> Vec<&str> {
    match s.get("type") {
        Some(J::String(t)) => vec![t.as_str()],
        Some(J::Array(a)) => a.iter().filter_map(J::as_str).collect(),
        _ => Vec::new(),
    }
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

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl Schema {
    fn resolve<'a>(&'a self, mut s: &'a J) -> &'a J {
        while let Some(r) = s.get("$ref").and_then(J::as_str) {
            let name = r.trim_start_matches("#/definitions/");
            s = &self.root["definitions"][name];
        }
        s
    }

    /// True when `node` could be an instance of `s` judging by type alone.
    fn type_fits(&self, node: &Node, s: &J) -> bool {
        let s = self.resolve(s);
        if let Some(alts) = s.get("oneOf").or_else(|| s.get("anyOf")) {
            return alts
                .as_array()
                .is_some_and(|a| a.iter().any(|b| self.type_fits(node, b)));
        }
        let types = types_of(s);
        types.is_empty() || types.iter().any(|t| node_is(node, t))
    }

    fn expected(&self, s: &J, out: &mut Vec<&'static str>) {
        let s = self.resolve(s);
        if let Some(alts) = s.get("oneOf").or_else(|| s.get("anyOf")) {
            for b in alts.as_array().into_iter().flatten() {
                self.expected(b, out);
            }
        }
        out.extend(types_of(s).into_iter().map(type_name));
    }

    fn check(&self, node: &Node, s: &J, path: &str, errors: &mut Vec<Error>) {
        let s = self.resolve(s);
        if let Some(alts) = s.get("oneOf").or_else(|| s.get("anyOf")) {
            let alts = alts.as_array().map(Vec::as_slice).unwrap_or_default();
            match alts.iter().find(|b| self.type_fits(node, b)) {
                Some(b) => self.check(node, b, path, errors),
                None => {
                    let mut exp = Vec::new();
                    self.expected(s, &mut exp);
                    errors.push(self.type_error(node, path, &exp));
                }
            }
            return;
        }
        let types = types_of(s);
        if !types.is_empty() && !types.iter().any(|t| node_is(node, t)) {
            let exp: Vec<&str> = types.iter().map(|t| type_name(t)).collect();
            errors.push(self.type_error(node, path, &exp));
            return;
        }
        match &node.value {
            Value::Map(entries) => self.check_map(node, entries, s, path, errors),
            Value::Seq(items) => self.check_seq(items, s, path, errors),
            Value::Scalar(sc) => self.check_scalar(node, &sc.text, s, path, errors),
        }
    }

    fn type_error(&self, node: &Node, path: &str, expected: &[&str]) -> Error {
        Error::at(
            ErrorKind::InvalidValue,
            &node.loc,
            format!(
                "`{path}` must be {}, found {}",
                join_alternatives(expected),
                node.kind_name()
            ),
        )
    }

    fn check_map(
        &self,
        node: &Node,
        entries: &[crate::yaml::Entry],
        s: &J,
        path: &str,
        errors: &mut Vec<Error>,
    ) {
        let props = s.get("properties").and_then(J::as_object);
        let pattern_props = s.get("patternProperties").and_then(J::as_object);
        let closed = s.get("additionalProperties") == Some(&J::Bool(false));
        for e in entries {
            let sub = child(path, &e.key);
            if let Some(p) = props.and_then(|p| p.get(&e.key)) {
                self.check(&e.value, p, &sub, errors);
                continue;
            }
            let matched = pattern_props.and_then(|pp| {
                pp.iter()
                    .find(|(pat, _)| self.patterns[pat.as_str()].is_match(&e.key))
            });
            if let Some((_, p)) = matched {
                self.check(&e.value, p, &sub, errors);
                continue;
            }
            if !closed {
                continue;
            }
            let where_ = if path.is_empty() {
                "at the top level".to_string()
            } else {
                format!("in `{path}`")
            };
            let name_pattern = pattern_props
                .and_then(|pp| pp.keys().find(|k| k.as_str() != "^x-"))
                .filter(|_| props.is_none());
            let err = match name_pattern {
                Some(pat) => Error::at(
                    ErrorKind::InvalidValue,
                    &e.key_loc,
                    format!(
                        "invalid name `{}` {where_}: names must match `{pat}`",
                        e.key
                    ),
                ),
                None => {
                    let known = props.into_iter().flat_map(|p| p.keys().map(String::as_str));
                    let message = format!("unknown key `{}` {where_}", e.key);
                    match did_you_mean(&e.key, known) {
                        Some(k) => Error::at_hint(
                            ErrorKind::UnknownKey,
                            &e.key_loc,
                            message,
                            format!("did you mean `{k}`?"),
                        ),
                        None => Error::at_hint(
                            ErrorKind::UnknownKey,
                            &e.key_loc,
                            message,
                            "extension keys must start with `x-`",
                        ),
                    }
                }
            };
            errors.push(err);
        }
        for r in s
            .get("required")
            .and_then(J::as_array)
            .into_iter()
            .flatten()
        {
            let Some(r) = r.as_str() else { continue };
            if !entries.iter().any(|e| e.key == r) {
                errors.push(Error::at(
                    ErrorKind::InvalidValue,
                    &node.loc,
                    format!("`{path}` is missing the required key `{r}`"),
                ));
            }
        }
    }

    fn check_seq(&self, items: &[Node], s: &J, path: &str, errors: &mut Vec<Error>) {
        if let Some(item_schema) = s.get("items") {
            for (i, item) in items.iter().enumerate() {
                self.check(item, item_schema, &format!("{path}[{i}]"), errors);
            }
        }
        if s.get("uniqueItems") == Some(&J::Bool(true)) {
            let mut seen = HashSet::new();
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

    fn check_scalar(&self, node: &Node, text: &str, s: &J, path: &str, errors: &mut Vec<Error>) {
        if let Some(J::Array(allowed)) = s.get("enum") {
            let allowed: Vec<&str> = allowed.iter().filter_map(J::as_str).collect();
            if !allowed.contains(&text) {
                let message = format!(
                    "invalid value `{text}` for `{path}`: expected one of {}",
                    allowed
                        .iter()
                        .map(|a| format!("`{a}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                errors.push(match did_you_mean(text, allowed.iter().copied()) {
                    Some(h) => Error::at_hint(
                        ErrorKind::InvalidValue,
                        &node.loc,
                        message,
                        format!("did you mean `{h}`?"),
                    ),
                    None => Error::at(ErrorKind::InvalidValue, &node.loc, message),
                });
            }
        }
        if let Some(J::String(p)) = s.get("pattern")
            && !self.patterns[p.as_str()].is_match(text)
        {
            errors.push(Error::at(
                ErrorKind::InvalidValue,
                &node.loc,
                format!("invalid value `{text}` for `{path}`: must match `{p}`"),
            ));
        }
        if let Ok(v) = text.parse::<f64>() {
            let min = s.get("minimum").and_then(J::as_f64);
            let max = s.get("maximum").and_then(J::as_f64);
            if min.is_some_and(|m| v < m) || max.is_some_and(|m| v > m) {
                errors.push(Error::at(
                    ErrorKind::InvalidValue,
                    &node.loc,
                    format!(
                        "`{path}` must be between {} and {}, found {text}",
                        min.map_or("-inf".into(), |m| m.to_string()),
                        max.map_or("inf".into(), |m| m.to_string())
                    ),
                ));
            }
        }
    }
}

/// Every key the schema defines for a service (for tests and tooling).
pub fn service_keys() -> Vec<String> {
    SCHEMA.root["definitions"]["service"]["properties"]
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
