//! Reading typed values out of located YAML nodes while collecting every error.
//!
//! The schema check already reports wrong shapes; these readers report them too (the project
//! loader drops duplicates by position) so that conversion never has to trust its input.

use std::collections::BTreeMap;

use crate::error::{Error, ErrorKind, Loc};
use crate::path::Seg;
use crate::units::{ByteSize, Duration};
use crate::yaml::{Node, Value};

use super::NormalizeContext;
use super::service::{EnvMapping, Mapping};

/// Conversion state: the normalization context and the errors found so far.
#[derive(Debug)]
pub(crate) struct Conv<'a> {
    pub ctx: &'a NormalizeContext<'a>,
    pub errors: Vec<Error>,
}

/// The text of a non-null scalar of any type.
pub(crate) fn text(n: &Node) -> Option<&str> {
    match &n.value {
        Value::Scalar(s) if !n.is_null() => Some(&s.text),
        _ => None,
    }
}

impl<'a> Conv<'a> {
    pub fn new(ctx: &'a NormalizeContext<'a>) -> Self {
        Conv {
            ctx,
            errors: Vec::new(),
        }
    }

    /// Records an invalid value at `loc`.
    pub fn invalid(&mut self, loc: &Loc, message: impl Into<String>) {
        self.errors
            .push(Error::at(ErrorKind::InvalidValue, loc, message));
    }

    fn shape(&mut self, n: &Node, path: &Seg<'_>, expected: &str) {
        self.invalid(
            &n.loc,
            format!("`{path}` must be {expected}, found {}", n.kind_name()),
        );
    }

    /// The `HOME` of the project environment, for `~` in paths.
    pub fn home(&self) -> Option<&'a str> {
        self.ctx.environment.get("HOME").map(String::as_str)
    }

    /// Resolves a path against the working directory.
    pub fn path(&self, p: &str) -> String {
        super::syntax::resolve_path(p, self.ctx.working_dir, self.home())
    }

    pub fn str(&mut self, n: &Node, path: &Seg<'_>) -> Option<String> {
        match text(n) {
            Some(t) => Some(t.to_string()),
            None => {
                self.shape(n, path, "a string");
                None
            }
        }
    }

    pub fn bool(&mut self, n: &Node, path: &Seg<'_>) -> Option<bool> {
        match text(n) {
            Some("true" | "True" | "TRUE") => Some(true),
            Some("false" | "False" | "FALSE") => Some(false),
            _ => {
                self.shape(n, path, "a boolean");
                None
            }
        }
    }

    pub fn int(&mut self, n: &Node, path: &Seg<'_>) -> Option<i64> {
        match text(n).and_then(|t| t.parse::<i64>().ok().or_else(|| n.as_i64())) {
            Some(v) => Some(v),
            None => {
                self.shape(n, path, "an integer");
                None
            }
        }
    }

    pub fn uint(&mut self, n: &Node, path: &Seg<'_>) -> Option<u64> {
        let v = self.int(n, path)?;
        match u64::try_from(v) {
            Ok(u) => Some(u),
            Err(_) => {
                self.invalid(&n.loc, format!("`{path}` must not be negative, found {v}"));
                None
            }
        }
    }

    pub fn float(&mut self, n: &Node, path: &Seg<'_>) -> Option<f64> {
        match text(n).and_then(|t| t.parse::<f64>().ok()) {
            Some(v) if v.is_finite() => Some(v),
            _ => {
                self.shape(n, path, "a number");
                None
            }
        }
    }

    pub fn duration(&mut self, n: &Node, path: &Seg<'_>) -> Option<Duration> {
        let Some(t) = text(n) else {
            self.shape(n, path, "a string");
            return None;
        };
        match Duration::parse(t) {
            Ok(d) => Some(d),
            Err(e) => {
                self.invalid(&n.loc, format!("`{path}`: {e}"));
                None
            }
        }
    }

    pub fn size(&mut self, n: &Node, path: &Seg<'_>) -> Option<ByteSize> {
        let Some(t) = text(n) else {
            self.shape(n, path, "a string");
            return None;
        };
        match ByteSize::parse(t) {
            Ok(s) => Some(s),
            Err(e) => {
                self.invalid(&n.loc, format!("`{path}`: {e}"));
                None
            }
        }
    }

    /// Microseconds: an integer, or a duration (`400ms`) converted to microseconds.
    pub fn micros(&mut self, n: &Node, path: &Seg<'_>) -> Option<i64> {
        match text(n).map(|t| t.parse::<i64>()) {
            Some(Ok(v)) => Some(v),
            _ => self
                .duration(n, path)
                .map(|d| i64::try_from(d.0 / 1_000).unwrap_or(i64::MAX)),
        }
    }

    /// A size that may be `-1` (unlimited).
    pub fn size_or_unlimited(&mut self, n: &Node, path: &Seg<'_>) -> Option<i64> {
        if text(n) == Some("-1") {
            return Some(-1);
        }
        self.size(n, path)
            .map(|s| i64::try_from(s.0).unwrap_or(i64::MAX))
    }

    /// A string or a sequence of scalars.
    pub fn strings(&mut self, n: &Node, path: &Seg<'_>) -> Vec<String> {
        match &n.value {
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| self.str(item, &path.index(i)))
                .collect(),
            Value::Scalar(_) if !n.is_null() => vec![text(n).unwrap_or_default().to_string()],
            _ => {
                self.shape(n, path, "a string or a sequence");
                Vec::new()
            }
        }
    }

    /// A list (`KEY=VALUE`) or mapping; entries without a value are looked up in the project
    /// environment when `resolve` is set, else left unset.
    pub fn env_map(&mut self, n: &Node, path: &Seg<'_>, resolve: bool) -> EnvMapping {
        let env = self.ctx.environment;
        let lookup = |k: &str| {
            if resolve { env.get(k).cloned() } else { None }
        };
        let mut out = BTreeMap::new();
        match &n.value {
            Value::Map(entries) => {
                for e in entries {
                    let v = match &e.value.value {
                        Value::Scalar(_) if e.value.is_null() => lookup(&e.key),
                        Value::Scalar(s) => Some(s.text.clone()),
                        _ => {
                            self.shape(&e.value, &path.key(&e.key), "a scalar");
                            continue;
                        }
                    };
                    out.insert(e.key.clone(), v);
                }
            }
            Value::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    let Some(t) = self.str(item, &path.index(i)) else {
                        continue;
                    };
                    match t.split_once('=') {
                        Some((k, v)) => out.insert(k.to_string(), Some(v.to_string())),
                        None => {
                            let v = lookup(&t);
                            out.insert(t, v)
                        }
                    };
                }
            }
            Value::Scalar(_) => self.shape(n, path, "a mapping or a sequence"),
        }
        out
    }

    /// A list or mapping of strings (unset values become empty strings).
    pub fn mapping(&mut self, n: &Node, path: &Seg<'_>) -> Mapping {
        self.env_map(n, path, false)
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect()
    }

    /// The entries of a mapping node, or an error.
    pub fn entries<'n>(&mut self, n: &'n Node, path: &Seg<'_>) -> &'n [crate::yaml::Entry] {
        match n.as_map() {
            Some(m) => m,
            None => {
                if !n.is_null() {
                    self.shape(n, path, "a mapping");
                }
                &[]
            }
        }
    }

    /// A command: a string is shell-split the way docker compose does, a list is kept.
    pub fn command(&mut self, n: &Node, path: &Seg<'_>) -> Option<Vec<String>> {
        match &n.value {
            Value::Scalar(_) if n.is_null() => None,
            Value::Scalar(s) => match shlex::split(&s.text) {
                Some(words) => Some(words),
                None => {
                    self.invalid(
                        &n.loc,
                        format!("`{path}`: unbalanced quotes in `{}`", s.text),
                    );
                    None
                }
            },
            _ => Some(self.strings(n, path)),
        }
    }
}

/// Extension entries (`x-…`) of a mapping, as JSON.
pub(crate) fn extensions(entries: &[crate::yaml::Entry]) -> super::service::Extensions {
    entries
        .iter()
        .filter(|e| e.key.starts_with("x-"))
        .map(|e| (e.key.clone(), e.value.to_json()))
        .collect()
}
