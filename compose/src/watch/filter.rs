//! Which host paths a watch rule cares about. Patterns follow `.dockerignore` syntax (Docker's
//! patternmatcher), but the matcher itself lives in the engine's build crate: this module only
//! sees it through the narrow [`PathMatcher`] port, so the compose crate keeps no copy of the
//! pattern rules. On top of the patterns it drops what docker compose drops: `.git`
//! directories and editors' temporary and backup files.

use std::path::{Component, Path, PathBuf};

/// A compiled list of `.dockerignore`-style patterns.
pub trait PathMatcher: Send + Sync + std::fmt::Debug {
    /// Whether the `/`-separated relative path (or one of its parents) matches, the last
    /// matching pattern deciding (`!` exceptions included).
    fn excluded(&self, rel: &str) -> bool;
    /// Whether a matched directory can be skipped whole: no exception can match inside it.
    fn can_skip_dir(&self, rel_dir: &str) -> bool;
}

/// Compiles pattern lists into [`PathMatcher`]s (the CLI passes the build crate's matcher).
pub trait MatcherFactory {
    /// Compiles `patterns`; the error says which pattern is wrong.
    fn compile(&self, patterns: &[String]) -> Result<Box<dyn PathMatcher>, String>;
}

/// Whether `name` (a file name) is an editor's temporary or backup file: Vim swap files and
/// its `4913` probe, Emacs `#x#`/`.#x` and `x~`, JetBrains `___jb_tmp___`/`___jb_old___`,
/// and `.DS_Store`.
pub fn is_ephemeral(name: &str) -> bool {
    name == "4913"
        || name == ".DS_Store"
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with(".swpx")
        || name.starts_with(".#")
        || (name.starts_with('#') && name.ends_with('#') && name.len() > 1)
        || name.ends_with("___jb_tmp___")
        || name.ends_with("___jb_old___")
}

/// `path` relative to `root` with `/` separators (`""` for `root` itself); `None` when it is
/// not inside `root`.
pub fn relative(root: &Path, path: &Path) -> Option<String> {
    let rest = path.strip_prefix(root).ok()?;
    let parts: Vec<String> = rest
        .components()
        .map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Option<_>>()?;
    Some(parts.join("/"))
}

/// The patterns one rule applies: its own `ignore` and `include`, and the `.dockerignore`
/// of the service's build context (relative to the context, not to the rule's path).
#[derive(Debug)]
pub struct RuleFilter {
    /// The watched path (a directory or a single file).
    pub root: PathBuf,
    ignore: Option<Box<dyn PathMatcher>>,
    include: Option<Box<dyn PathMatcher>>,
    dockerignore: Option<(PathBuf, Box<dyn PathMatcher>)>,
}

impl RuleFilter {
    /// A filter for `root` with optional matchers.
    pub fn new(
        root: PathBuf,
        ignore: Option<Box<dyn PathMatcher>>,
        include: Option<Box<dyn PathMatcher>>,
        dockerignore: Option<(PathBuf, Box<dyn PathMatcher>)>,
    ) -> Self {
        RuleFilter {
            root,
            ignore,
            include,
            dockerignore,
        }
    }

    /// Whether a change of `path` concerns this rule.
    pub fn matches(&self, path: &Path) -> bool {
        let Some(rel) = relative(&self.root, path) else {
            return false;
        };
        if rel.split('/').any(|c| c == ".git") {
            return false;
        }
        if path
            .file_name()
            .is_some_and(|n| is_ephemeral(&n.to_string_lossy()))
        {
            return false;
        }
        if let Some((context, m)) = &self.dockerignore
            && let Some(crel) = relative(context, path)
            && !crel.is_empty()
            && m.excluded(&crel)
        {
            return false;
        }
        if rel.is_empty() {
            return true;
        }
        if self.ignore.as_ref().is_some_and(|m| m.excluded(&rel)) {
            return false;
        }
        self.include.as_ref().is_none_or(|m| m.excluded(&rel))
    }

    /// Whether the directory `dir` (inside the root) can be left unwatched and unwalked:
    /// `.git`, or excluded by `ignore` or `.dockerignore` with no exception inside it.
    pub fn skip_dir(&self, dir: &Path) -> bool {
        let Some(rel) = relative(&self.root, dir) else {
            return true;
        };
        if rel.split('/').any(|c| c == ".git") {
            return true;
        }
        if let Some((context, m)) = &self.dockerignore
            && let Some(crel) = relative(context, dir)
            && !crel.is_empty()
            && m.excluded(&crel)
            && m.can_skip_dir(&crel)
        {
            return true;
        }
        !rel.is_empty()
            && self
                .ignore
                .as_ref()
                .is_some_and(|m| m.excluded(&rel) && m.can_skip_dir(&rel))
    }
}
