//! Where a registry is reached: URLs (`http://` or `https://`) and dockerd's rule for which
//! registries may be reached insecurely.
//!
//! HTTPS with verified certificates is the default. A registry is insecure when its
//! `host[:port]` (or its host) is listed in `insecure-registries`, when its address (an IP
//! literal, or what its name resolves to) falls in a CIDR listed there, or when it is on
//! loopback (`localhost`, 127.0.0.0/8, ::1), as dockerd treats those. An insecure registry is
//! spoken to over TLS without certificate checks when it answers TLS, else over plain HTTP.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::registry::{RegistryError, Result};

/// The transport of a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

/// A parsed `http[s]://host[:port]/path` URL; `verify` is false for insecure registries
/// spoken to over TLS (certificates are then not checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url {
    pub(crate) scheme: Scheme,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) path: String,
    pub(crate) verify: bool,
}

impl Url {
    pub(crate) fn parse(s: &str) -> Result<Url> {
        let (scheme, rest) = if let Some(r) = s.strip_prefix("https://") {
            (Scheme::Https, r)
        } else if let Some(r) = s.strip_prefix("http://") {
            (Scheme::Http, r)
        } else {
            return Err(RegistryError::Invalid(format!(
                "{s:?} is not an http:// or https:// URL"
            )));
        };
        let (authority, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        let default_port = match scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
                if h.starts_with('[') && !h.ends_with(']') {
                    (authority.to_owned(), default_port)
                } else {
                    (
                        h.to_owned(),
                        p.parse()
                            .map_err(|_| RegistryError::Invalid(format!("bad port in {s}")))?,
                    )
                }
            }
            _ => (authority.to_owned(), default_port),
        };
        if host.is_empty() {
            return Err(RegistryError::Invalid(format!("no host in {s}")));
        }
        let path = if path.is_empty() {
            "/".to_owned()
        } else if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_owned()
        };
        Ok(Url {
            scheme,
            host,
            port,
            path,
            verify: true,
        })
    }

    /// `host:port`, always with the port (the TCP address and the `Host` header).
    pub(crate) fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// How Docker names the registry in `certs.d`: `host` on the scheme's default port,
    /// `host:port` otherwise.
    pub(crate) fn registry_name(&self) -> String {
        match (self.scheme, self.port) {
            (Scheme::Https, 443) | (Scheme::Http, 80) => self.host.clone(),
            _ => self.authority(),
        }
    }

    /// Resolves `location` (absolute or a path) against this URL; a URL on another host or
    /// scheme is verified normally.
    pub(crate) fn join(&self, location: &str) -> Result<Url> {
        if location.starts_with('/') {
            Ok(Url {
                path: location.to_owned(),
                ..self.clone()
            })
        } else {
            let mut u = Url::parse(location)?;
            if u.scheme == self.scheme && u.host == self.host && u.port == self.port {
                u.verify = self.verify;
            }
            Ok(u)
        }
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        write!(f, "{scheme}://{}:{}{}", self.host, self.port, self.path)
    }
}

/// One `insecure-registries` entry: a CIDR or a registry name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Insecure {
    /// Addresses in this network.
    Net(IpNet),
    /// A `host[:port]` exactly as references spell it.
    Name(String),
}

impl Insecure {
    /// Parses a daemon.json entry (`10.0.0.0/8`, `reg:5000`, `http://reg:5000/` as dockerd
    /// accepts it).
    pub(crate) fn parse(entry: &str) -> Insecure {
        let e = entry
            .trim()
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .trim_end_matches('/');
        match e.parse::<IpNet>() {
            Ok(net) => Insecure::Net(net),
            Err(_) => Insecure::Name(e.to_owned()),
        }
    }
}

fn host_of(domain: &str) -> &str {
    if domain.starts_with('[') {
        return domain
            .find(']')
            .map_or(domain, |end| &domain[..=end])
            .trim_matches(['[', ']']);
    }
    domain.rsplit_once(':').map_or(domain, |(h, _)| h)
}

fn port_of(domain: &str) -> u16 {
    let tail = domain.rsplit_once(']').map_or(domain, |(_, t)| t);
    tail.rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(443)
}

/// Whether `domain` (`host[:port]`) may be reached insecurely under `entries`, resolving the
/// name when a CIDR entry needs it.
pub(crate) async fn is_insecure(entries: &[Insecure], domain: &str) -> bool {
    let host = host_of(domain);
    let literal = host.parse::<IpAddr>().ok();
    if host == "localhost" || literal.is_some_and(|ip| ip.is_loopback()) {
        return true;
    }
    if entries
        .iter()
        .any(|e| matches!(e, Insecure::Name(n) if n == domain || n == host))
    {
        return true;
    }
    let nets: Vec<&IpNet> = entries
        .iter()
        .filter_map(|e| match e {
            Insecure::Net(n) => Some(n),
            Insecure::Name(_) => None,
        })
        .collect();
    if nets.is_empty() {
        return false;
    }
    let addrs: Vec<IpAddr> = match literal {
        Some(ip) => vec![ip],
        None => tokio::net::lookup_host((host, port_of(domain)))
            .await
            .map(|it| it.map(|a| a.ip()).collect())
            .unwrap_or_default(),
    };
    addrs
        .iter()
        .any(|ip| ip.is_loopback() || nets.iter().any(|n| n.contains(ip)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let u = Url::parse("http://127.0.0.1:5000/v2/x?y=1").unwrap();
        assert_eq!(
            (u.scheme, u.host.as_str(), u.port, u.path.as_str()),
            (Scheme::Http, "127.0.0.1", 5000, "/v2/x?y=1")
        );
        assert_eq!(Url::parse("http://reg").unwrap().path, "/");
        let s = Url::parse("https://reg.example/token?x=1").unwrap();
        assert_eq!(
            (s.scheme, s.port, s.path.as_str()),
            (Scheme::Https, 443, "/token?x=1")
        );
        assert_eq!(s.registry_name(), "reg.example");
        assert_eq!(
            Url::parse("https://[::1]:5000/").unwrap().registry_name(),
            "[::1]:5000"
        );
        assert!(Url::parse("ftp://x/").is_err());
        assert!(Url::parse("https:///x").is_err());
        assert_eq!(u.join("/a").unwrap().to_string(), "http://127.0.0.1:5000/a");
        let mut insecure = Url::parse("https://10.0.0.1:5000/").unwrap();
        insecure.verify = false;
        assert!(!insecure.join("/v2/").unwrap().verify);
        assert!(!insecure.join("https://10.0.0.1:5000/b").unwrap().verify);
        assert!(insecure.join("https://cdn.example/b").unwrap().verify);
    }

    #[tokio::test]
    async fn insecure_rules_follow_dockerd() {
        let entries: Vec<Insecure> = ["reg.internal:5000", "10.88.0.0/16", "http://plain:80/"]
            .into_iter()
            .map(Insecure::parse)
            .collect();
        assert_eq!(entries[2], Insecure::Name("plain:80".into()));
        for yes in [
            "127.0.0.1:5000",
            "127.9.9.9",
            "localhost:5000",
            "[::1]:5000",
            "reg.internal:5000",
            "10.88.3.4:5000",
            "10.88.3.4",
            "plain:80",
        ] {
            assert!(is_insecure(&entries, yes).await, "{yes}");
        }
        // Names are not resolved here (no CIDR entry), so nothing leaves the machine.
        let names = [Insecure::parse("reg.internal:5000")];
        for no in ["reg.internal:6000", "docker.io", "ghcr.io"] {
            assert!(!is_insecure(&names, no).await, "{no}");
        }
        assert!(!is_insecure(&entries, "10.89.0.1:5000").await);
        assert!(!is_insecure(&[], "10.88.3.4:5000").await);
    }
}
