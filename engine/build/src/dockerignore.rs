//! `.dockerignore` with Docker's rules (moby/patternmatcher and its `ignorefile` reader):
//! `*`, `?`, `**`, character classes, `!` exceptions where the last match wins, leading `/`
//! and `./` cleaned, comments, a pattern matching a directory excluding everything in it, and
//! an excluded directory still walked when an exception may match inside it.

use std::fs;
use std::path::{Path, PathBuf};

use regex::Regex;

#[derive(Debug, thiserror::Error)]
pub enum IgnoreError {
    #[error("illegal exclusion pattern: \"!\" (line {line})")]
    EmptyExclusion { line: usize },
    #[error("syntax error in pattern {pattern:?}: {source}")]
    BadPattern {
        pattern: String,
        source: Box<regex::Error>,
    },
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Go's `filepath.Clean` for `/`-separated paths.
pub fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            p => out.push(p),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Reads `.dockerignore` text into patterns as Docker's `ignorefile.ReadAll` does.
pub fn read_patterns(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for raw in text.lines() {
        if raw.starts_with('#') {
            continue;
        }
        let mut pattern = raw.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut p = String::new();
        if !pattern.is_empty() {
            p = clean(pattern);
            if p.len() > 1 && p.starts_with('/') {
                p.remove(0);
            }
        }
        out.push(if invert { format!("!{p}") } else { p });
    }
    out
}

#[derive(Debug, Clone)]
struct Pattern {
    text: String,
    exclusion: bool,
    regex: Regex,
    components: Vec<(String, Regex)>,
}

/// Compiles a pattern like moby's `Pattern.compile` (with `/` as separator).
pub(crate) fn compile(pattern: &str) -> Result<Regex, IgnoreError> {
    let mut re = String::from("^");
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i >= chars.len() {
                    re.push_str(".*");
                } else {
                    re.push_str("(.*/)?");
                }
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '\\' => match chars.get(i) {
                Some(n) => {
                    re.push_str(&regex::escape(&n.to_string()));
                    i += 1;
                }
                None => re.push_str(r"\\"),
            },
            '[' => {
                re.push('[');
                if chars.get(i) == Some(&'^') {
                    re.push_str("^/");
                    i += 1;
                }
                while let Some(&n) = chars.get(i) {
                    i += 1;
                    match n {
                        ']' => break,
                        '\\' => {
                            re.push('\\');
                            re.extend(chars.get(i));
                            i += 1;
                        }
                        '[' => re.push_str("\\["),
                        n => re.push(n),
                    }
                }
                re.push(']');
            }
            ']' => re.push_str("\\]"),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    Regex::new(&re).map_err(|e| IgnoreError::BadPattern {
        pattern: pattern.to_string(),
        source: Box::new(e),
    })
}

/// Decides which context paths are excluded.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    patterns: Vec<Pattern>,
}

impl Matcher {
    /// From cleaned patterns (as [`read_patterns`] returns), in order.
    pub fn new(patterns: &[String]) -> Result<Self, IgnoreError> {
        let mut out = Vec::new();
        for (n, p) in patterns.iter().enumerate() {
            let (exclusion, body) = match p.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, p.as_str()),
            };
            if body.is_empty() {
                if exclusion {
                    return Err(IgnoreError::EmptyExclusion { line: n + 1 });
                }
                continue;
            }
            let text = clean(body);
            let components = text
                .split('/')
                .map(|c| compile(c).map(|re| (c.to_string(), re)))
                .collect::<Result<Vec<_>, _>>()?;
            out.push(Pattern {
                regex: compile(&text)?,
                text,
                exclusion,
                components,
            });
        }
        Ok(Matcher { patterns: out })
    }

    /// Parses `.dockerignore` text.
    pub fn parse(text: &str) -> Result<Self, IgnoreError> {
        Matcher::new(&read_patterns(text))
    }

    /// The cleaned patterns, exceptions prefixed with `!`.
    pub fn patterns(&self) -> Vec<String> {
        self.patterns
            .iter()
            .map(|p| format!("{}{}", if p.exclusion { "!" } else { "" }, p.text))
            .collect()
    }

    /// Whether a context-relative `/`-separated path is excluded (`MatchesOrParentMatches`):
    /// each pattern is tried on the path and on each of its parent directories; the last
    /// pattern that matches decides.
    pub fn excluded(&self, rel: &str) -> bool {
        let file = clean(rel);
        let parents: Vec<&str> = match file.rfind('/') {
            Some(i) => file[..i].split('/').collect(),
            None => Vec::new(),
        };
        let mut matched = false;
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            let mut hit = p.regex.is_match(&file);
            if !hit {
                hit = (1..=parents.len()).any(|n| p.regex.is_match(&parents[..n].join("/")));
            }
            if hit {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// Whether an excluded directory can be skipped: no exception could match inside it.
    pub fn can_skip_dir(&self, rel_dir: &str) -> bool {
        let dir = clean(rel_dir);
        let comps: Vec<&str> = dir.split('/').collect();
        !self.patterns.iter().filter(|p| p.exclusion).any(|p| {
            for (i, (text, re)) in p.components.iter().enumerate() {
                if text.contains("**") {
                    return true;
                }
                match comps.get(i) {
                    Some(c) if re.is_match(c) => {}
                    Some(_) => return false,
                    None => return true,
                }
            }
            false
        })
    }
}

/// Lists the files of the build context that are not excluded, relative to `root`, sorted.
/// Symlinks are listed, not followed; directories are walked, not listed.
pub fn walk_context(root: &Path, matcher: &Matcher) -> Result<Vec<PathBuf>, IgnoreError> {
    let mut out = Vec::new();
    walk(root, "", matcher, &mut out)?;
    out.sort();
    Ok(out)
}

fn walk(
    dir: &Path,
    rel: &str,
    matcher: &Matcher,
    out: &mut Vec<PathBuf>,
) -> Result<(), IgnoreError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| IgnoreError::Io { path, source }
    };
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let child_rel = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let kind = entry.file_type().map_err(io(&entry.path()))?;
        let excluded = matcher.excluded(&child_rel);
        if kind.is_dir() {
            if excluded && matcher.can_skip_dir(&child_rel) {
                continue;
            }
            walk(&entry.path(), &child_rel, matcher, out)?;
        } else if !excluded {
            out.push(PathBuf::from(child_rel));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "dockerignore_tests.rs"]
mod tests;
