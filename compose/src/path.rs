//! A dotted path into the compose document (`services.web.ports[0]`) built lazily.
//!
//! Validation walks tens of thousands of nodes and needs the path only for the few that are
//! wrong, so the path is a chain of borrowed segments on the stack and is formatted only
//! when an error message is written.

use std::fmt;

/// One step of a path; the root is empty.
#[derive(Debug, Clone, Copy)]
pub enum Seg<'a> {
    /// The document itself.
    Root,
    /// A mapping key under a parent.
    Key(&'a Seg<'a>, &'a str),
    /// A sequence index under a parent.
    Index(&'a Seg<'a>, usize),
}

impl<'a> Seg<'a> {
    /// The child path at mapping key `k`.
    pub fn key(&'a self, k: &'a str) -> Seg<'a> {
        Seg::Key(self, k)
    }

    /// The child path at sequence index `i`.
    pub fn index(&'a self, i: usize) -> Seg<'a> {
        Seg::Index(self, i)
    }

    /// True for the document root.
    pub fn is_root(&self) -> bool {
        matches!(self, Seg::Root)
    }
}

impl fmt::Display for Seg<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Seg::Root => Ok(()),
            Seg::Key(parent, k) if parent.is_root() => f.write_str(k),
            Seg::Key(parent, k) => write!(f, "{parent}.{k}"),
            Seg::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_dotted_paths() {
        let root = Seg::Root;
        let s = root.key("services");
        let w = s.key("web");
        let p = w.key("ports");
        assert_eq!(p.index(2).to_string(), "services.web.ports[2]");
        assert_eq!(root.to_string(), "");
    }
}
