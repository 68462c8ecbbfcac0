//! Variable interpolation in compose files, as `docker compose` v2 does it.
//!
//! Compose substitutes `$VAR`, `${VAR}` and the shell-like forms `${VAR:-default}`,
//! `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `${VAR:+replacement}`, `${VAR+replacement}`
//! (defaults may nest further expressions) in every scalar value of a file before files are
//! merged; `$$` is a literal `$`. Keys are never interpolated. A scalar keeps its plain/quoted
//! flag, so `ports: ${P}` still reads as a number once substituted.
//!
//! The string engine ([`substitute`]) is shared with the dotenv parser, which interpolates values
//! from earlier lines.

use crate::error::{Error, ErrorKind, Loc, Result};
use crate::yaml::{Node, Value};

/// Why a template could not be substituted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template is malformed (`${VAR`, `${}`, `${VAR!x}`).
    #[error("invalid interpolation format: {0}")]
    Syntax(String),
    /// `${VAR:?message}` / `${VAR?message}` with the variable missing.
    #[error("required variable {name} is missing a value{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Required {
        /// The variable.
        name: String,
        /// The message written after `?`.
        message: String,
    },
}

/// Substitutes variables in `text`; `lookup` gives a variable's value (`None` when unset).
///
/// Names of variables used without a default while unset are pushed to `unset`.
pub fn substitute(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> Result<String, TemplateError> {
    if !text.contains('$') {
        return Ok(text.to_string());
    }
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut lit = 0;
    while i < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        out.push_str(&text[lit..i]);
        match b.get(i + 1) {
            Some(b'$') => {
                out.push('$');
                i += 2;
            }
            Some(b'{') => {
                let end = closing_brace(text, i + 2).ok_or_else(|| {
                    TemplateError::Syntax(format!("missing closing brace in \"{}\"", &text[i..]))
                })?;
                out.push_str(&braced(&text[i + 2..end], lookup, unset)?);
                i = end + 1;
            }
            Some(&c) if is_name_start(c) => {
                let n = name_len(&b[i + 1..]);
                let name = &text[i + 1..i + 1 + n];
                match lookup(name) {
                    Some(v) => out.push_str(&v),
                    None => unset.push(name.to_string()),
                }
                i += 1 + n;
            }
            _ => {
                out.push('$');
                i += 1;
            }
        }
        lit = i;
    }
    out.push_str(&text[lit..]);
    Ok(out)
}

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn name_len(b: &[u8]) -> usize {
    if b.first().is_none_or(|c| !is_name_start(*c)) {
        return 0;
    }
    b.iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
        .count()
}

/// Index of the `}` closing an expression whose body starts at `start`, skipping nested `${…}`.
fn closing_brace(text: &str, start: usize) -> Option<usize> {
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut i = start;
    while i < b.len() {
        match b[i] {
            b'$' if matches!(b.get(i + 1), Some(b'$')) => i += 1,
            b'$' if matches!(b.get(i + 1), Some(b'{')) => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// Evaluates the body of `${…}`.
fn braced(
    body: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> Result<String, TemplateError> {
    let n = name_len(body.as_bytes());
    if n == 0 {
        return Err(TemplateError::Syntax(format!(
            "\"${{{body}}}\" does not start with a variable name"
        )));
    }
    let (name, rest) = body.split_at(n);
    let value = lookup(name);
    if rest.is_empty() {
        return Ok(value.unwrap_or_else(|| {
            unset.push(name.to_string());
            String::new()
        }));
    }
    let (op, arg) = [":-", ":?", ":+", "-", "?", "+"]
        .iter()
        .find_map(|op| rest.strip_prefix(op).map(|arg| (*op, arg)))
        .ok_or_else(|| {
            TemplateError::Syntax(format!(
                "unexpected \"{rest}\" after the variable name in \"${{{body}}}\""
            ))
        })?;
    let set = value.is_some();
    let non_empty = value.as_deref().is_some_and(|v| !v.is_empty());
    match op {
        ":-" if !non_empty => substitute(arg, lookup, unset),
        "-" if !set => substitute(arg, lookup, unset),
        ":?" if !non_empty => Err(required(name, arg, lookup)),
        "?" if !set => Err(required(name, arg, lookup)),
        ":+" if non_empty => substitute(arg, lookup, unset),
        "+" if set => substitute(arg, lookup, unset),
        ":+" | "+" => Ok(String::new()),
        _ => Ok(value.unwrap_or_default()),
    }
}

fn required(name: &str, msg: &str, lookup: &dyn Fn(&str) -> Option<String>) -> TemplateError {
    let message = substitute(msg, lookup, &mut Vec::new()).unwrap_or_else(|_| msg.to_string());
    TemplateError::Required {
        name: name.to_string(),
        message,
    }
}

/// The warning docker compose prints for a variable that is used but not set.
pub fn unset_warning(name: &str) -> String {
    format!("The \"{name}\" variable is not set. Defaulting to a blank string.")
}

/// Interpolates every scalar value (not keys) of `node` in place.
///
/// Warnings for unset variables are appended to `warnings` once per variable. Errors carry the
/// location of the scalar.
pub fn interpolate_node(
    node: &mut Node,
    lookup: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let mut unset = Vec::new();
    walk(node, lookup, &mut unset)?;
    for name in unset {
        let w = unset_warning(&name);
        if !warnings.contains(&w) {
            warnings.push(w);
        }
    }
    Ok(())
}

fn walk(
    node: &mut Node,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> Result<()> {
    match &mut node.value {
        Value::Scalar(s) => {
            if s.text.contains('$') {
                s.text = substitute(&s.text, lookup, unset)
                    .map_err(|e| located(e, &node.loc, &s.text))?;
                // the source text was a string (it held a `$`): an empty or `null`-looking
                // result stays a string, as with `docker compose` (`A: ${UNSET}` is `A: ""`)
                if matches!(s.text.as_str(), "" | "~" | "null" | "Null" | "NULL") {
                    s.quoted = true;
                }
            }
        }
        Value::Seq(items) => {
            for item in items {
                walk(item, lookup, unset)?;
            }
        }
        Value::Map(entries) => {
            for e in entries {
                walk(&mut e.value, lookup, unset)?;
            }
        }
    }
    Ok(())
}

fn located(e: TemplateError, loc: &Loc, text: &str) -> Error {
    match e {
        TemplateError::Syntax(why) => Error::at_hint(
            ErrorKind::Interpolation,
            loc,
            format!("invalid interpolation format for \"{text}\": {why}"),
            "you may need to escape any $ with another $ ($$)",
        ),
        e @ TemplateError::Required { .. } => {
            Error::at(ErrorKind::Interpolation, loc, e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn env(name: &str) -> Option<String> {
        match name {
            "A" => Some("a".into()),
            "B" => Some("b".into()),
            "EMPTY" => Some(String::new()),
            "PORT" => Some("8080".into()),
            _ => None,
        }
    }

    fn sub(t: &str) -> Result<String, TemplateError> {
        substitute(t, &env, &mut Vec::new())
    }

    #[test]
    fn table_of_forms() {
        let cases = [
            ("plain", "plain"),
            ("$A", "a"),
            ("${A}", "a"),
            ("x${A}y$B-z", "xayb-z"),
            ("$$A", "$A"),
            ("$${A}", "${A}"),
            ("${UNSET}", ""),
            ("${UNSET:-d}", "d"),
            ("${UNSET-d}", "d"),
            ("${EMPTY:-d}", "d"),
            ("${EMPTY-d}", ""),
            ("${A:-d}", "a"),
            ("${A:+r}", "r"),
            ("${A+r}", "r"),
            ("${EMPTY:+r}", ""),
            ("${EMPTY+r}", "r"),
            ("${UNSET+r}", ""),
            ("${UNSET:-${B}}", "b"),
            ("${UNSET:-${UNSET2:-x}}", "x"),
            ("${UNSET:-${UNSET2:-${A}}}/p", "a/p"),
            ("${UNSET:-a b c}", "a b c"),
            ("$1 and $ alone", "$1 and $ alone"),
            ("price: 5$", "price: 5$"),
            ("${UNSET:-$$}", "$"),
            ("${A}${B}", "ab"),
        ];
        for (input, want) in cases {
            assert_eq!(sub(input).unwrap(), want, "input {input}");
        }
    }

    #[test]
    fn unset_names_are_reported_only_without_default() {
        let mut unset = Vec::new();
        substitute("$X ${Y} ${Z:-d} ${W-d} ${V:+r}", &env, &mut unset).unwrap();
        assert_eq!(unset, ["X", "Y"]);
    }

    #[test]
    fn required_variables() {
        assert_eq!(
            sub("${DB:?db password required}").unwrap_err().to_string(),
            "required variable DB is missing a value: db password required"
        );
        assert_eq!(
            sub("${DB?}").unwrap_err().to_string(),
            "required variable DB is missing a value"
        );
        assert!(sub("${EMPTY:?x}").is_err());
        assert_eq!(sub("${EMPTY?x}").unwrap(), "");
        assert_eq!(sub("${A:?x}").unwrap(), "a");
    }

    #[test]
    fn bad_syntax() {
        for bad in ["${A", "${}", "${-x}", "${A!x}", "${A:-${B}", "${ A}"] {
            assert!(
                matches!(sub(bad), Err(TemplateError::Syntax(_))),
                "{bad} should be a syntax error"
            );
        }
    }

    #[test]
    fn node_interpolation_keeps_quoting_and_locates_errors() {
        let text = "services:\n  web:\n    ports: ${PORT}\n    image: \"${A}:${UNSET}\"\n";
        let mut doc = crate::yaml::parse(text, Path::new("compose.yaml"))
            .unwrap()
            .remove(0);
        let mut warnings = Vec::new();
        interpolate_node(&mut doc, &env, &mut warnings).unwrap();
        let web = doc.get("services").unwrap().get("web").unwrap();
        assert_eq!(web.get("ports").unwrap().as_i64(), Some(8080));
        let image = web.get("image").unwrap();
        assert_eq!(image.as_str(), Some("a:"));
        assert!(image.as_scalar().unwrap().quoted);
        assert_eq!(
            warnings,
            ["The \"UNSET\" variable is not set. Defaulting to a blank string."]
        );

        let text = "services:\n  db:\n    environment:\n      PASS: ${DB_PASS:?database password required}\n";
        let mut doc = crate::yaml::parse(text, Path::new("compose.yaml"))
            .unwrap()
            .remove(0);
        let e = interpolate_node(&mut doc, &env, &mut warnings).unwrap_err();
        assert_eq!(
            e.to_string(),
            "compose.yaml:4:13: required variable DB_PASS is missing a value: database password required"
        );
        assert_eq!(e.kind(), Some(ErrorKind::Interpolation));
    }

    #[test]
    fn keys_are_not_interpolated() {
        let mut doc = crate::yaml::parse("$A: $A\n", Path::new("c.yaml"))
            .unwrap()
            .remove(0);
        interpolate_node(&mut doc, &env, &mut Vec::new()).unwrap();
        assert_eq!(doc.get("$A").unwrap().as_str(), Some("a"));
    }

    /// Random strings over the template alphabet (including multi-byte characters) never panic.
    #[test]
    fn random_templates_never_panic() {
        let texts =
            crate::testutil::random_strings("${}:-?+AB_x é€\\", 0x9e37_79b9_7f4a_7c15, 20_000, 12);
        for text in texts {
            let _ = substitute(&text, &env, &mut Vec::new());
        }
    }

    #[test]
    fn syntax_error_is_located() {
        let mut doc = crate::yaml::parse("a:\n  b: ${X\n", Path::new("c.yaml"))
            .unwrap()
            .remove(0);
        let e = interpolate_node(&mut doc, &env, &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("c.yaml:2:6: invalid interpolation format"),
            "{e}"
        );
    }

    #[test]
    fn empty_result_is_a_string_not_null() {
        let mut doc = crate::yaml::parse("a: ${UNSET}\nb: ${A}\n", Path::new("c.yaml"))
            .unwrap()
            .remove(0);
        interpolate_node(&mut doc, &env, &mut Vec::new()).unwrap();
        let a = doc.get("a").unwrap();
        assert!(!a.is_null());
        assert_eq!(a.as_str(), Some(""));
        assert_eq!(doc.get("b").unwrap().as_str(), Some("a"));
    }
}
