//! Environment files (`.env`, `--env-file`, service `env_file`) in the dotenv format Compose uses,
//! and the project environment built from them.
//!
//! The syntax follows compose-go's dotenv parser: `KEY=VALUE` (or `KEY: VALUE`), `export KEY=…`,
//! `#` comments (inline ones need a space before `#` in unquoted values), single-quoted literal
//! values, double-quoted values with escapes that may span lines, and interpolation of earlier
//! variables (`${A:-x}` …) in unquoted and double-quoted values. A bare `KEY` takes its value
//! from the lookup (the OS environment) when set.
//!
//! Parsing is pure (`parse_dotenv*` on text); `read_env_file` and [`project_env`] are the thin I/O
//! shell around it. The OS environment is always a parameter, never read here.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;

use crate::error::{Error, ErrorKind, Loc, Result};
use crate::interpolate::substitute;

/// Parses dotenv text, interpolating values with earlier variables of the same text only.
pub fn parse_dotenv(text: &str, file: &Path) -> Result<Vec<(String, Option<String>)>> {
    parse_dotenv_with(text, file, &|_| None)
}

/// Parses dotenv text; `lookup` resolves variables not defined earlier in the text (and bare
/// `KEY` lines). A variable defined earlier in the text is used before `lookup`.
///
/// A bare `KEY` whose lookup fails yields `(KEY, None)`.
pub fn parse_dotenv_with(
    text: &str,
    file: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, Option<String>)>> {
    let file: Arc<Path> = Arc::from(file);
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    let mut p = Cursor {
        s: text,
        i: 0,
        line: 1,
    };
    loop {
        p.skip_blank_lines();
        if p.eof() {
            break;
        }
        let loc = Loc::new(file.clone(), p.line, 1);
        if p.peek() == Some('#') {
            p.skip_line();
            continue;
        }
        let line_rest = p.rest_of_line();
        let body = line_rest.trim_start();
        let body = body
            .strip_prefix("export ")
            .map(str::trim_start)
            .unwrap_or(body);
        let key_end = body.find(['=', ':']).unwrap_or(body.len());
        let key = body[..key_end].trim();
        if key.is_empty() || !key.chars().all(is_key_char) {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                &loc,
                format!("invalid variable name `{key}` in env file"),
            ));
        }
        if key_end == body.len() {
            p.skip_line();
            let lookup_value = lookup(key);
            out.push((key.to_string(), lookup_value));
            continue;
        }
        // position the cursor right after the separator
        let consumed = line_rest.len() - body.len() + key_end + 1;
        p.i += consumed;
        let earlier = |name: &str| -> Option<String> {
            out.iter()
                .rev()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.clone())
                .or_else(|| lookup(name))
        };
        let value = p.value(&loc, &earlier)?;
        out.push((key.to_string(), Some(value)));
    }
    Ok(out)
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '[' | ']')
}

struct Cursor<'a> {
    s: &'a str,
    i: usize,
    line: u32,
}

impl<'a> Cursor<'a> {
    fn eof(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<char> {
        self.s[self.i..].chars().next()
    }

    fn rest_of_line(&self) -> &'a str {
        let r: &'a str = &self.s[self.i..];
        &r[..r.find('\n').unwrap_or(r.len())]
    }

    fn skip_line(&mut self) {
        let n = self.rest_of_line().len();
        self.i += n;
        if self.i < self.s.len() {
            self.i += 1;
            self.line += 1;
        }
    }

    fn skip_blank_lines(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                '\n' => {
                    self.i += 1;
                    self.line += 1;
                }
                c if c.is_whitespace() => self.i += c.len_utf8(),
                _ => break,
            }
        }
    }

    /// Reads a value starting at the cursor (just after `=`) and moves past its line.
    fn value(&mut self, loc: &Loc, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String> {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.i += 1;
        }
        let interp = |t: &str| {
            substitute(t, lookup, &mut Vec::new())
                .map_err(|e| Error::at(ErrorKind::Interpolation, loc, format!("in env file: {e}")))
        };
        match self.peek() {
            Some(q @ ('\'' | '"')) => {
                let body_start = self.i + 1;
                let bytes = self.s.as_bytes();
                let mut j = body_start;
                while j < bytes.len() {
                    if bytes[j] == b'\\' && q == '"' {
                        j += 2;
                        continue;
                    }
                    if bytes[j] == q as u8 {
                        break;
                    }
                    j += 1;
                }
                if j >= bytes.len() {
                    return Err(Error::at(
                        ErrorKind::InvalidValue,
                        loc,
                        format!("unterminated quoted value (missing closing {q})"),
                    ));
                }
                let raw = &self.s[body_start..j];
                self.line += raw.matches('\n').count() as u32;
                self.i = j + 1;
                self.skip_line();
                if q == '\'' {
                    Ok(raw.to_string())
                } else {
                    interp(&unescape(raw))
                }
            }
            _ => {
                let line = self.rest_of_line();
                let cut = line
                    .char_indices()
                    .find(|&(k, c)| c == '#' && line[..k].ends_with([' ', '\t']))
                    .map_or(line.len(), |(k, _)| k);
                let v = line[..cut].trim().to_string();
                self.skip_line();
                interp(&v)
            }
        }
    }
}

/// Expands backslash escapes of a double-quoted value; `\$` becomes `$$` so that it survives
/// interpolation as a literal dollar.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('$') => out.push_str("$$"),
            Some(o @ ('"' | '\\' | '\'')) => out.push(o),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Reads and parses an env file (no outside lookup).
pub fn read_env_file(path: &Path) -> Result<Vec<(String, Option<String>)>> {
    read_env_file_with(path, &|_| None)
}

/// Reads and parses an env file, resolving outside variables (and bare `KEY` lines) with
/// `lookup`, typically the project environment for a service's `env_file`.
pub fn read_env_file_with(
    path: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, Option<String>)>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_dotenv_with(&text, path, lookup)
}

/// The environment of a project: the env files read in order (later wins, each may refer to
/// variables of earlier ones and of the OS environment), then the OS environment on top.
///
/// `inherited` is an environment below the files (the including project's, for `include`).
pub fn project_env(
    os_env: &IndexMap<String, String>,
    files: &[PathBuf],
    inherited: Option<&IndexMap<String, String>>,
) -> Result<IndexMap<String, String>> {
    let mut env: IndexMap<String, String> = inherited.cloned().unwrap_or_default();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|e| Error::io(file, e))?;
        let vars = {
            let lookup = |name: &str| os_env.get(name).or_else(|| env.get(name)).cloned();
            parse_dotenv_with(&text, file, &lookup)?
        };
        for (k, v) in vars {
            if let Some(v) = v {
                env.insert(k, v);
            }
        }
    }
    for (k, v) in os_env {
        env.insert(k.clone(), v.clone());
    }
    Ok(env)
}

/// The active profiles: the `--profile` flags when any are given, otherwise `COMPOSE_PROFILES`
/// (comma list) from `env`; trimmed and deduplicated. As with `docker compose`, flags replace
/// the variable rather than add to it.
pub fn active_profiles(env: &IndexMap<String, String>, flags: &[String]) -> Vec<String> {
    let from_env = env
        .get("COMPOSE_PROFILES")
        .map(String::as_str)
        .unwrap_or("");
    let chosen: Vec<&str> = if flags.is_empty() {
        from_env.split(',').collect()
    } else {
        flags.iter().map(String::as_str).collect()
    };
    let mut out: Vec<String> = Vec::new();
    for p in chosen.into_iter().map(str::trim) {
        if !p.is_empty() && !out.iter().any(|o| o == p) {
            out.push(p.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<(String, Option<String>)> {
        let os = |n: &str| (n == "HOME").then(|| "/root".to_string());
        parse_dotenv_with(text, Path::new(".env"), &os).unwrap()
    }

    fn one(text: &str) -> String {
        let v = parse(text);
        assert_eq!(v.len(), 1, "{text:?} gave {v:?}");
        v[0].1.clone().unwrap()
    }

    #[test]
    fn value_forms() {
        let cases = [
            ("A=1", "1"),
            ("A = spaced  ", "spaced"),
            ("export A=x", "x"),
            ("A: yaml-style", "yaml-style"),
            ("A=x # comment", "x"),
            ("A=x#not-comment", "x#not-comment"),
            ("A='lit $HOME \\n'", "lit $HOME \\n"),
            ("A=\"tab\\there\"", "tab\there"),
            ("A=\"line\\nbreak\"", "line\nbreak"),
            ("A=\"quote \\\" in\"", "quote \" in"),
            ("A=\"$HOME/x\"", "/root/x"),
            ("A=$HOME", "/root"),
            ("A=${NOPE:-def}", "def"),
            ("A=\"\\$HOME\"", "$HOME"),
            ("A=\"x\" # trailing comment", "x"),
            ("A=", ""),
            ("A=''", ""),
        ];
        for (text, want) in cases {
            assert_eq!(one(text), want, "{text}");
        }
    }

    #[test]
    fn comments_blank_lines_and_order() {
        let v = parse("# c\n\nA=1\n  # indented comment\nB=2\nA=3\n");
        assert_eq!(
            v,
            [
                ("A".into(), Some("1".into())),
                ("B".into(), Some("2".into())),
                ("A".into(), Some("3".into()))
            ]
        );
    }

    #[test]
    fn crlf_line_endings() {
        let v = parse("A=1\r\n# c\r\nB=\"two\"\r\nC\r\n");
        assert_eq!(v[0], ("A".into(), Some("1".into())));
        assert_eq!(v[1], ("B".into(), Some("two".into())));
        assert_eq!(v[2], ("C".into(), None));
    }

    #[test]
    fn multi_line_double_quoted() {
        let v = parse("A=\"first\nsecond\"\nB=after\n");
        assert_eq!(v[0].1.as_deref(), Some("first\nsecond"));
        assert_eq!(v[1].1.as_deref(), Some("after"));
    }

    #[test]
    fn earlier_variables_interpolate() {
        let v = parse("A=hello\nB=${A} world\nC=\"$B!\"\nD='$A'\n");
        assert_eq!(v[1].1.as_deref(), Some("hello world"));
        assert_eq!(v[2].1.as_deref(), Some("hello world!"));
        assert_eq!(v[3].1.as_deref(), Some("$A"));
    }

    #[test]
    fn bare_keys_inherit() {
        let v = parse("HOME\nMISSING\n");
        assert_eq!(v[0], ("HOME".into(), Some("/root".into())));
        assert_eq!(v[1], ("MISSING".into(), None));
    }

    #[test]
    fn errors_are_located() {
        let e = parse_dotenv("A=1\nB=\"open\n", Path::new(".env"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with(".env:2:1: unterminated quoted value"), "{e}");
        let e = parse_dotenv("OK=1\nBAD KEY=1\n", Path::new(".env"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(".env:2:1: invalid variable name"), "{e}");
    }

    #[test]
    fn os_env_beats_files_and_later_files_win() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.env");
        let b = dir.path().join("b.env");
        std::fs::write(&a, "X=a\nY=a\nZ=a\n").unwrap();
        std::fs::write(&b, "Y=b\nW=${X}-b\n").unwrap();
        let mut os = IndexMap::new();
        os.insert("Z".to_string(), "os".to_string());
        let env = project_env(&os, &[a, b], None).unwrap();
        assert_eq!(env["X"], "a");
        assert_eq!(env["Y"], "b");
        assert_eq!(env["Z"], "os");
        assert_eq!(env["W"], "a-b");
    }

    #[test]
    fn env_file_reader_uses_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("svc.env");
        std::fs::write(&f, "A=${BASE}/a\nBASE\n").unwrap();
        let lookup = |n: &str| (n == "BASE").then(|| "/srv".to_string());
        let v = read_env_file_with(&f, &lookup).unwrap();
        assert_eq!(v[0], ("A".into(), Some("/srv/a".into())));
        assert_eq!(v[1], ("BASE".into(), Some("/srv".into())));
        let e = read_env_file(&dir.path().join("missing.env")).unwrap_err();
        assert!(matches!(e, Error::Io { .. }));
    }

    /// Random dotenv text (quotes, escapes, newlines, multi-byte characters) never panics.
    #[test]
    fn random_dotenv_never_panics() {
        let texts = crate::testutil::random_strings(
            "AB=#'\" \\\n$:{}é€x",
            0x2545_f491_4f6c_dd1d,
            20_000,
            16,
        );
        for text in texts {
            let _ = parse_dotenv(&text, Path::new(".env"));
        }
    }

    #[test]
    fn profiles_merge_env_and_flags() {
        let mut env = IndexMap::new();
        env.insert("COMPOSE_PROFILES".to_string(), "a, b,,".to_string());
        assert_eq!(active_profiles(&env, &[]), ["a", "b"]);
        assert_eq!(
            active_profiles(&env, &["c".into(), "c".into()]),
            ["c"],
            "--profile replaces COMPOSE_PROFILES"
        );
        assert!(active_profiles(&IndexMap::new(), &[]).is_empty());
    }
}
