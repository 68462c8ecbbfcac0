//! Docker image references: parsing, normalization and the familiar display form.
//!
//! Users write `nginx`, `me/app:1.2`, `localhost:5000/x@sha256:…`; the store keys images by the
//! fully normalized form (`docker.io/library/nginx:latest`). The grammar follows
//! `distribution/reference` so the same strings are accepted and refused as with Docker.

use std::fmt;
use std::str::FromStr;

use crate::digest::{Digest, DigestError};

/// Registry used when a reference names none.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// Repository namespace for single-component names on the default registry.
pub const OFFICIAL_NAMESPACE: &str = "library";
/// Tag used when a reference has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// Why a reference was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    /// Empty input.
    #[error("invalid reference: empty string")]
    Empty,
    /// A repository path with uppercase letters.
    #[error("invalid reference {0:?}: repository name must be lowercase")]
    Uppercase(String),
    /// A path component outside the grammar.
    #[error("invalid reference {reference:?}: bad repository path component {component:?}")]
    Component {
        /// Whole input.
        reference: String,
        /// Offending component.
        component: String,
    },
    /// A registry host or port outside the grammar.
    #[error("invalid reference {reference:?}: bad registry domain {domain:?}")]
    Domain {
        /// Whole input.
        reference: String,
        /// Offending domain.
        domain: String,
    },
    /// A tag outside `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    #[error("invalid reference {reference:?}: bad tag {tag:?}")]
    Tag {
        /// Whole input.
        reference: String,
        /// Offending tag.
        tag: String,
    },
    /// A malformed digest.
    #[error("invalid reference {reference:?}: {source}")]
    Digest {
        /// Whole input.
        reference: String,
        /// Digest parse error.
        source: DigestError,
    },
    /// Repository name longer than 255 characters.
    #[error("invalid reference: repository name longer than {MAX_NAME_LEN} characters")]
    NameTooLong,
    /// A bare 64-hex name, which Docker reserves for image ids.
    #[error("invalid reference {0:?}: cannot use a 64-character hex string as a repository name")]
    HexName(String),
}

/// A parsed, normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses and normalizes `s` (adds `docker.io`, `library/`; no default tag).
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                let digest = d
                    .parse::<Digest>()
                    .map_err(|source| ReferenceError::Digest {
                        reference: s.to_owned(),
                        source,
                    })?;
                (r, Some(digest))
            }
            None => (s, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag
            && !valid_tag(tag)
        {
            return Err(ReferenceError::Tag {
                reference: s.to_owned(),
                tag: tag.to_owned(),
            });
        }
        if name.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ReferenceError::HexName(s.to_owned()));
        }
        let (domain, path) = split_domain(name);
        if domain != DEFAULT_DOMAIN && !valid_domain(domain) {
            return Err(ReferenceError::Domain {
                reference: s.to_owned(),
                domain: domain.to_owned(),
            });
        }
        if path.is_empty() {
            return Err(ReferenceError::Component {
                reference: s.to_owned(),
                component: String::new(),
            });
        }
        for component in path.split('/') {
            if component.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err(ReferenceError::Uppercase(s.to_owned()));
            }
            if !valid_component(component) {
                return Err(ReferenceError::Component {
                    reference: s.to_owned(),
                    component: component.to_owned(),
                });
            }
        }
        let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
            format!("{OFFICIAL_NAMESPACE}/{path}")
        } else {
            path.to_owned()
        };
        if domain.len() + 1 + path.len() > MAX_NAME_LEN {
            return Err(ReferenceError::NameTooLong);
        }
        Ok(Reference {
            domain: domain.to_owned(),
            path,
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// Parses and, when neither tag nor digest is given, adds `:latest` (Docker's behaviour for
    /// pull, run and tag).
    pub fn parse_normalized(s: &str) -> Result<Reference, ReferenceError> {
        let mut r = Reference::parse(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.to_owned());
        }
        Ok(r)
    }

    /// Registry domain (`docker.io`, `localhost:5000`, …).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Repository path within the registry (`library/nginx`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// Digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `domain/path` without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// A copy with a different tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        if !valid_tag(tag) {
            return Err(ReferenceError::Tag {
                reference: self.to_string(),
                tag: tag.to_owned(),
            });
        }
        Ok(Reference {
            tag: Some(tag.to_owned()),
            digest: None,
            ..self.clone()
        })
    }

    /// The short form Docker shows (`nginx:latest`, `me/app:1`, `localhost:5000/x:y`).
    pub fn familiar(&self) -> String {
        let mut out = self.familiar_name();
        self.push_suffix(&mut out);
        out
    }

    /// The short repository name without tag or digest (`nginx`, `me/app`).
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix("library/") {
                Some(p) if !p.contains('/') => p.to_owned(),
                _ => self.path.clone(),
            }
        } else {
            self.name()
        }
    }

    fn push_suffix(&self, out: &mut String) {
        if let Some(t) = &self.tag {
            out.push(':');
            out.push_str(t);
        }
        if let Some(d) = &self.digest {
            out.push('@');
            out.push_str(&d.to_string());
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = self.name();
        self.push_suffix(&mut out);
        f.write_str(&out)
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

fn split_domain(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            if first == "index.docker.io" {
                (DEFAULT_DOMAIN, rest)
            } else {
                (first, rest)
            }
        }
        _ => (DEFAULT_DOMAIN, name),
    }
}

fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_TAG_LEN
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn valid_domain(d: &str) -> bool {
    let valid_port = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = d.strip_prefix('[') {
        let Some((ip6, tail)) = rest.split_once(']') else {
            return false;
        };
        if ip6.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        return tail.is_empty() || tail.strip_prefix(':').is_some_and(valid_port);
    }
    let (host, port) = match d.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    if port.is_some_and(|p| !valid_port(p)) {
        return false;
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn normalizes_valid_references() {
        let cases: &[(&str, &str, &str)] = &[
            ("nginx", "docker.io/library/nginx:latest", "nginx:latest"),
            ("nginx:1.25", "docker.io/library/nginx:1.25", "nginx:1.25"),
            (
                "library/nginx",
                "docker.io/library/nginx:latest",
                "nginx:latest",
            ),
            (
                "docker.io/nginx",
                "docker.io/library/nginx:latest",
                "nginx:latest",
            ),
            (
                "index.docker.io/nginx",
                "docker.io/library/nginx:latest",
                "nginx:latest",
            ),
            ("me/app", "docker.io/me/app:latest", "me/app:latest"),
            ("me/app:v1", "docker.io/me/app:v1", "me/app:v1"),
            ("a/b/c", "docker.io/a/b/c:latest", "a/b/c:latest"),
            (
                "docker.io/library/a/b",
                "docker.io/library/a/b:latest",
                "library/a/b:latest",
            ),
            ("localhost/x", "localhost/x:latest", "localhost/x:latest"),
            (
                "localhost:5000/x:y",
                "localhost:5000/x:y",
                "localhost:5000/x:y",
            ),
            (
                "host:5000/repo:tag",
                "host:5000/repo:tag",
                "host:5000/repo:tag",
            ),
            (
                "quay.io/org/img:1",
                "quay.io/org/img:1",
                "quay.io/org/img:1",
            ),
            (
                "ghcr.io/a-b/c_d.e:x-1.2_3",
                "ghcr.io/a-b/c_d.e:x-1.2_3",
                "ghcr.io/a-b/c_d.e:x-1.2_3",
            ),
            ("[::1]:5000/x", "[::1]:5000/x:latest", "[::1]:5000/x:latest"),
            (
                "10.0.0.1:5000/x",
                "10.0.0.1:5000/x:latest",
                "10.0.0.1:5000/x:latest",
            ),
            (
                "a__b/c--d",
                "docker.io/a__b/c--d:latest",
                "a__b/c--d:latest",
            ),
            (
                "x:LATEST_Tag",
                "docker.io/library/x:LATEST_Tag",
                "x:LATEST_Tag",
            ),
            (
                "Example.com/x",
                "Example.com/x:latest",
                "Example.com/x:latest",
            ),
        ];
        for (input, normalized, familiar) in cases {
            let r = Reference::parse_normalized(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.to_string(), *normalized, "{input}");
            assert_eq!(r.familiar(), *familiar, "{input}");
            assert_eq!(
                Reference::parse_normalized(normalized).unwrap(),
                r,
                "{input} round trip"
            );
        }
    }

    #[test]
    fn digests_and_tag_plus_digest() {
        let cases: &[(String, String, Option<&str>)] = &[
            (
                format!("nginx@{D}"),
                format!("docker.io/library/nginx@{D}"),
                None,
            ),
            (
                format!("nginx:1@{D}"),
                format!("docker.io/library/nginx:1@{D}"),
                Some("1"),
            ),
            (
                format!("localhost:5000/x@{D}"),
                format!("localhost:5000/x@{D}"),
                None,
            ),
            (
                format!("localhost:5000/x:t@{D}"),
                format!("localhost:5000/x:t@{D}"),
                Some("t"),
            ),
        ];
        for (input, normalized, tag) in cases {
            let r = Reference::parse_normalized(input).unwrap();
            assert_eq!(&r.to_string(), normalized);
            assert_eq!(r.tag(), *tag);
            assert_eq!(r.digest().unwrap().to_string(), D);
        }
    }

    #[test]
    fn parse_without_default_tag_and_accessors() {
        let r = Reference::parse("localhost:5000/a/b").unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.domain(), "localhost:5000");
        assert_eq!(r.path(), "a/b");
        assert_eq!(r.name(), "localhost:5000/a/b");
        assert_eq!(r.familiar_name(), "localhost:5000/a/b");
        let t = r.with_tag("v2").unwrap();
        assert_eq!(t.to_string(), "localhost:5000/a/b:v2");
        assert!(r.with_tag("-bad").is_err());
    }

    #[test]
    fn refuses_invalid_references() {
        use ReferenceError as E;
        let long_tag = format!("x:{}", "a".repeat(129));
        let long_name = format!("{}/x", "a".repeat(260));
        let hex = "a".repeat(64);
        type Check = fn(&ReferenceError) -> bool;
        let cases: Vec<(&str, Check)> = vec![
            ("", |e| matches!(e, E::Empty)),
            ("Nginx", |e| matches!(e, E::Uppercase(_))),
            ("me/App", |e| matches!(e, E::Uppercase(_))),
            ("docker.io/Me/app", |e| matches!(e, E::Uppercase(_))),
            ("nginx:", |e| matches!(e, E::Tag { .. })),
            ("nginx:-x", |e| matches!(e, E::Tag { .. })),
            ("nginx:.x", |e| matches!(e, E::Tag { .. })),
            ("nginx:a+b", |e| matches!(e, E::Tag { .. })),
            (&long_tag, |e| matches!(e, E::Tag { .. })),
            ("nginx@sha256:abc", |e| matches!(e, E::Digest { .. })),
            ("nginx@md5:abc", |e| matches!(e, E::Digest { .. })),
            ("nginx@", |e| matches!(e, E::Digest { .. })),
            ("-nginx", |e| matches!(e, E::Component { .. })),
            ("nginx-", |e| matches!(e, E::Component { .. })),
            ("a//b", |e| matches!(e, E::Component { .. })),
            ("a/b/", |e| matches!(e, E::Component { .. })),
            ("a___b", |e| matches!(e, E::Component { .. })),
            ("a.-b", |e| matches!(e, E::Component { .. })),
            ("a b", |e| matches!(e, E::Component { .. })),
            ("localhost:port/x", |e| matches!(e, E::Domain { .. })),
            ("-host.io/x", |e| matches!(e, E::Domain { .. })),
            ("[zz::1]:5000/x", |e| matches!(e, E::Domain { .. })),
            ("host.io:/x", |e| matches!(e, E::Domain { .. })),
            ("host..io/x", |e| matches!(e, E::Domain { .. })),
            (&long_name, |e| matches!(e, E::NameTooLong)),
            (&hex, |e| matches!(e, E::HexName(_))),
            ("localhost/", |e| matches!(e, E::Component { .. })),
            (":tag", |e| matches!(e, E::Empty)),
        ];
        for (input, check) in cases {
            let e = Reference::parse(input).expect_err(input);
            assert!(check(&e), "{input}: unexpected error {e:?}");
            assert!(!e.to_string().is_empty());
        }
    }
}
