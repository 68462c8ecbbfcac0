//! Environment files (`.env`, `--env-file`, service `env_file`) in the dotenv format Compose uses.
//!
//! Parsing is pure (`parse_dotenv` on text); `read_env_file` is the thin I/O shell around it.

use std::path::Path;

use crate::error::{Error, ErrorKind, Loc, Result};

/// Parses dotenv text: `KEY=VALUE` lines, `export KEY=VALUE`, `#` comments, single-quoted
/// (literal) and double-quoted (escapes) values, and bare `KEY` (which takes no value).
pub fn parse_dotenv(text: &str, file: &Path) -> Result<Vec<(String, Option<String>)>> {
    let file: std::sync::Arc<Path> = std::sync::Arc::from(file);
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line
            .strip_prefix("export ")
            .map(str::trim_start)
            .unwrap_or(line);
        let loc = Loc::new(file.clone(), i as u32 + 1, 1);
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), Some(parse_value(v.trim_start(), &loc)?)),
            None => (line.trim(), None),
        };
        if key.is_empty() || key.chars().any(|c| c.is_whitespace()) {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                &loc,
                format!("invalid variable name `{key}` in env file"),
            ));
        }
        out.push((key.to_string(), value));
    }
    Ok(out)
}

fn parse_value(v: &str, loc: &Loc) -> Result<String> {
    if let Some(rest) = v.strip_prefix('\'') {
        return match rest.find('\'') {
            Some(end) => Ok(rest[..end].to_string()),
            None => Err(Error::at(
                ErrorKind::InvalidValue,
                loc,
                "unterminated single quote",
            )),
        };
    }
    if let Some(rest) = v.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Ok(out),
                '\\' => match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some('r') => out.push('\r'),
                    Some(o) => out.push(o),
                    None => break,
                },
                o => out.push(o),
            }
        }
        return Err(Error::at(
            ErrorKind::InvalidValue,
            loc,
            "unterminated double quote",
        ));
    }
    // unquoted: an inline comment starts at " #"
    let v = match v.find(" #") {
        Some(i) => &v[..i],
        None => v,
    };
    Ok(v.trim_end().to_string())
}

/// Reads and parses an env file.
pub fn read_env_file(path: &Path) -> Result<Vec<(String, Option<String>)>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_dotenv(&text, path)
}
