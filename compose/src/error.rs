//! Errors of the compose front end, each tied to the place in a compose file that caused it.
//!
//! Every user-facing error names `file:line:col` when it comes from a file, says what is wrong,
//! and carries a hint when there is an obvious fix (for example "did you mean `ports`?").

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A position in a source file: 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Loc {
    /// The file the node came from (`-` for standard input).
    pub file: Arc<Path>,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub col: u32,
}

impl Loc {
    /// A location in `file` at `line`:`col` (both 1-based).
    pub fn new(file: Arc<Path>, line: u32, col: u32) -> Self {
        Self { file, line, col }
    }

    /// A location for values that come from no file (command-line flags, defaults).
    pub fn synthetic(what: &str) -> Self {
        Self {
            file: Arc::from(Path::new(what)),
            line: 0,
            col: 0,
        }
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file.display())
        } else {
            write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
        }
    }
}

/// What went wrong, by category; the CLI maps every category to a non-zero exit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file is not well-formed YAML.
    Syntax,
    /// A YAML feature is used beyond berth's safety limits (alias bombs, nesting depth).
    Limit,
    /// A key that the Compose Specification does not define.
    UnknownKey,
    /// A value of the wrong type or shape.
    InvalidValue,
    /// Interpolation failed (`${VAR:?message}`, bad syntax).
    Interpolation,
    /// A reference to something that is not defined (service, network, volume, secret, config).
    UndefinedReference,
    /// A dependency cycle between services, includes or extends.
    Cycle,
    /// A project-level rule is broken (names, replicas with container_name, …).
    Project,
}

/// An error of the compose front end.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A problem located in a compose file.
    #[error("{loc}: {message}{}", hint.as_ref().map(|h| format!("\n  hint: {h}")).unwrap_or_default())]
    At {
        /// Category of the problem.
        kind: ErrorKind,
        /// Where it is.
        loc: Loc,
        /// What is wrong.
        message: String,
        /// How to fix it, when that is obvious.
        hint: Option<String>,
    },
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A problem with the project as a whole that no single node carries.
    #[error("{message}{}", hint.as_ref().map(|h| format!("\n  hint: {h}")).unwrap_or_default())]
    Project {
        /// What is wrong.
        message: String,
        /// How to fix it.
        hint: Option<String>,
    },
    /// Several independent problems, reported together.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Many(Vec<Error>),
}

impl Error {
    /// A located error without a hint.
    pub fn at(kind: ErrorKind, loc: &Loc, message: impl Into<String>) -> Self {
        Error::At {
            kind,
            loc: loc.clone(),
            message: message.into(),
            hint: None,
        }
    }

    /// A located error with a hint.
    pub fn at_hint(
        kind: ErrorKind,
        loc: &Loc,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Error::At {
            kind,
            loc: loc.clone(),
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// The category of a located error (`None` for I/O, project-level and grouped errors).
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            Error::At { kind, .. } => Some(*kind),
            Error::Many(v) => v.first().and_then(Error::kind),
            _ => None,
        }
    }

    /// Folds a list of errors into one: `Ok` when empty, the error itself when alone.
    pub fn collect(mut errors: Vec<Error>) -> Result<(), Error> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(Error::Many(errors)),
        }
    }
}

/// Result of the compose front end.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The closest candidate to `word` among `candidates` by edit distance, for "did you mean" hints.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.len() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (levenshtein(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys() {
        let keys = ["ports", "image", "environment", "volumes"];
        assert_eq!(did_you_mean("prots", keys), Some("ports"));
        assert_eq!(did_you_mean("enviroment", keys), Some("environment"));
        assert_eq!(did_you_mean("zzzzzz", keys), None);
    }

    #[test]
    fn located_error_shows_position_and_hint() {
        let loc = Loc::new(Arc::from(Path::new("compose.yaml")), 3, 5);
        let e = Error::at_hint(
            ErrorKind::UnknownKey,
            &loc,
            "unknown key `prots`",
            "did you mean `ports`?",
        );
        assert_eq!(
            e.to_string(),
            "compose.yaml:3:5: unknown key `prots`\n  hint: did you mean `ports`?"
        );
    }
}
