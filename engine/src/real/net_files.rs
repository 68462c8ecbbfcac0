//! Pure rendering of what a container's network configuration looks like as data: its
//! `/etc/hosts`, its `/etc/resolv.conf`, the published ports it asks for and their Docker views.
//! Nothing here touches the kernel or the disk, so every rule is unit-tested.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use berth_network::firewall::Proto;
use berth_network::manager::PortSpec;

use crate::api::models::{HostConfig, PortBinding};

/// Docker's fixed head of `/etc/hosts`.
const HOSTS_HEAD: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// A failure to understand a network setting of the create request.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NetFileError {
    /// An `ExtraHosts` entry is not `name:ip`.
    #[error("invalid extra host {0:?}: expected name:ip (for example db:10.203.0.5)")]
    ExtraHost(String),
    /// A port key or binding is malformed.
    #[error("invalid port {0:?}: expected PORT[/tcp|/udp] with a numeric host port or range")]
    Port(String),
    /// A `Dns` entry is not an IP address.
    #[error("invalid DNS server {0:?}: expected an IP address (for example 10.203.0.53)")]
    DnsServer(String),
}

/// `/etc/hosts` of a container: Docker's head, `extra_hosts`, link aliases, then its own names.
/// `host-gateway` in an extra host stands for `gateway`. On an IPv6-only network the own
/// address and the gateway are IPv6 ones.
pub fn render_hosts(
    own: Option<(IpAddr, &[String])>,
    extra_hosts: &[String],
    links: &[(IpAddr, Vec<String>)],
    gateway: Option<IpAddr>,
) -> Result<String, NetFileError> {
    let mut out = HOSTS_HEAD.to_owned();
    for entry in extra_hosts {
        let (name, ip) = entry
            .split_once(['=', ':'])
            .filter(|(n, i)| !n.is_empty() && !i.is_empty())
            .ok_or_else(|| NetFileError::ExtraHost(entry.clone()))?;
        let ip = match (ip, gateway) {
            ("host-gateway", Some(gw)) => gw.to_string(),
            _ => {
                let ip = ip.trim_start_matches('[').trim_end_matches(']');
                ip.parse::<IpAddr>()
                    .map_err(|_| NetFileError::ExtraHost(entry.clone()))?
                    .to_string()
            }
        };
        out.push_str(&format!("{ip}\t{name}\n"));
    }
    for (ip, names) in links {
        out.push_str(&format!("{ip}\t{}\n", names.join(" ")));
    }
    if let Some((ip, names)) = own.filter(|(_, n)| !n.is_empty()) {
        out.push_str(&format!("{ip}\t{}\n", names.join(" ")));
    }
    Ok(out)
}

/// The container's own DNS servers (`HostConfig.Dns`) as port-53 addresses for the embedded
/// server to forward to; an entry that is not an IP address is refused, as Docker does.
pub fn dns_servers(dns: &[String]) -> Result<Vec<SocketAddr>, NetFileError> {
    dns.iter()
        .map(|s| {
            s.parse::<IpAddr>()
                .map(|ip| SocketAddr::new(ip, 53))
                .map_err(|_| NetFileError::DnsServer(s.clone()))
        })
        .collect()
}

/// `/etc/resolv.conf` of a container. `embedded` are the addresses of the network's DNS server
/// (user networks: its IPv4 gateway, then its IPv6 one); without them `dns` (`HostConfig.Dns`),
/// else the host's non-loopback nameservers are used (the default bridge, as Docker). On a user
/// network the container's `dns` servers stay behind the embedded server, which forwards the
/// names it does not know to them (see [`dns_servers`]), so service names keep resolving.
/// `DnsSearch` and `DnsOptions` replace the respective lines.
pub fn render_resolv(
    host: &str,
    embedded: &[IpAddr],
    dns: &[String],
    search: &[String],
    options: &[String],
) -> String {
    let words = |key: &str| -> Vec<String> {
        host.lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some(key)).then(|| w.map(str::to_owned).collect::<Vec<_>>())
            })
            .flatten()
            .collect()
    };
    let servers: Vec<String> = if !embedded.is_empty() {
        embedded.iter().map(IpAddr::to_string).collect()
    } else if !dns.is_empty() {
        dns.to_vec()
    } else {
        words("nameserver")
            .into_iter()
            .filter(|s| {
                s.split('%')
                    .next()
                    .and_then(|a| a.parse::<IpAddr>().ok())
                    .is_some_and(|a| !a.is_loopback())
            })
            .collect()
    };
    let mut out = String::new();
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    let search = if search.is_empty() {
        words("search")
    } else {
        search.to_vec()
    };
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    let options = if options.is_empty() {
        words("options")
    } else {
        options.to_vec()
    };
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

/// A port the container asks to publish; `host_ports` is a range, `None` for a random port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRequest {
    /// Protocol.
    pub proto: Proto,
    /// Host address (`None`: all of both families; `::` all IPv6 ones).
    pub host_ip: Option<IpAddr>,
    /// Inclusive range of acceptable host ports; `None` for any free port.
    pub host_ports: Option<(u16, u16)>,
    /// Container port.
    pub container_port: u16,
}

fn parse_key(key: &str) -> Result<(u16, Proto), NetFileError> {
    let bad = || NetFileError::Port(key.to_owned());
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let proto = match proto {
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        _ => return Err(bad()),
    };
    Ok((port.parse().ok().filter(|p| *p > 0).ok_or_else(bad)?, proto))
}

/// The ports to publish: `PortBindings`, plus every exposed port with `PublishAllPorts`.
/// An IPv6 host address (`::`, `::1`…) publishes over IPv6 only, which needs the container's
/// network to have IPv6.
pub fn port_requests(
    host: &HostConfig,
    exposed: impl IntoIterator<Item = String>,
) -> Result<Vec<PortRequest>, NetFileError> {
    let mut out = Vec::new();
    for (key, bindings) in &host.port_bindings {
        let (container_port, proto) = parse_key(key)?;
        let defaults = [PortBinding::default()];
        let bindings = if bindings.is_empty() {
            &defaults[..]
        } else {
            &bindings[..]
        };
        for b in bindings {
            let host_ip = match b.host_ip.as_str() {
                "" | "0.0.0.0" => None,
                ip => match ip
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                {
                    Ok(ip) => Some(ip),
                    Err(_) => return Err(NetFileError::Port(format!("{}:{key}", b.host_ip))),
                },
            };
            let host_ports = if b.host_port.is_empty() {
                None
            } else {
                let bad = || NetFileError::Port(format!("{}:{key}", b.host_port));
                let (lo, hi) = b
                    .host_port
                    .split_once('-')
                    .unwrap_or((&b.host_port, &b.host_port));
                let lo: u16 = lo.parse().ok().filter(|p| *p > 0).ok_or_else(bad)?;
                let hi: u16 = hi.parse().ok().filter(|p| *p >= lo).ok_or_else(bad)?;
                Some((lo, hi))
            };
            out.push(PortRequest {
                proto,
                host_ip,
                host_ports,
                container_port,
            });
        }
    }
    if host.publish_all_ports {
        for key in exposed {
            let (container_port, proto) = parse_key(&key)?;
            let already = out
                .iter()
                .any(|r| r.container_port == container_port && r.proto == proto);
            if !already {
                out.push(PortRequest {
                    proto,
                    host_ip: None,
                    host_ports: None,
                    container_port,
                });
            }
        }
    }
    Ok(out)
}

/// Picks host ports for `wanted`: a fixed port as asked, else the first port of the range (or
/// of `random`) that no other publication uses and that `free` accepts.
pub fn assign_ports(
    wanted: &[PortRequest],
    taken: &[PortSpec],
    random: (u16, u16),
    free: impl Fn(Proto, u16) -> bool,
) -> Option<Vec<PortSpec>> {
    let mut out: Vec<PortSpec> = Vec::new();
    for w in wanted {
        let fixed = matches!(w.host_ports, Some((lo, hi)) if lo == hi);
        let (lo, hi) = w.host_ports.unwrap_or(random);
        let used = |p: u16| {
            taken
                .iter()
                .chain(out.iter())
                .any(|t| t.proto == w.proto && t.host_port == p)
        };
        let port = if fixed {
            lo
        } else {
            (lo..=hi).find(|p| !used(*p) && free(w.proto, *p))?
        };
        out.push(PortSpec {
            proto: w.proto,
            host_ip: w.host_ip,
            host_port: port,
            container_port: w.container_port,
        });
    }
    Some(out)
}

/// `NetworkSettings.Ports`: each published port, and `None` for exposed ports not published.
pub fn ports_view(
    published: &[PortSpec],
    exposed: impl IntoIterator<Item = String>,
) -> BTreeMap<String, Option<Vec<PortBinding>>> {
    let mut out: BTreeMap<String, Option<Vec<PortBinding>>> = BTreeMap::new();
    for key in exposed {
        let key = if key.contains('/') {
            key
        } else {
            format!("{key}/tcp")
        };
        out.entry(key).or_insert(None);
    }
    for p in published {
        let key = format!("{}/{}", p.container_port, p.proto.as_str());
        out.entry(key)
            .or_insert(None)
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: p
                    .host_ip
                    .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
                    .to_string(),
                host_port: p.host_port.to_string(),
            });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_carry_extra_hosts_links_and_own_names() {
        let names = vec!["web".to_owned(), "abc123".to_owned()];
        let text = render_hosts(
            Some(("10.203.1.2".parse().unwrap(), &names)),
            &["db:10.203.1.9".to_owned(), "gw:host-gateway".to_owned()],
            &[(
                "10.203.1.3".parse().unwrap(),
                vec!["cache".into(), "redis".into()],
            )],
            Some("10.203.1.1".parse().unwrap()),
        )
        .unwrap();
        assert!(text.starts_with("127.0.0.1\tlocalhost\n"), "{text}");
        assert!(text.contains("10.203.1.9\tdb\n"), "{text}");
        assert!(text.contains("10.203.1.1\tgw\n"), "{text}");
        assert!(text.contains("10.203.1.3\tcache redis\n"), "{text}");
        assert!(text.ends_with("10.203.1.2\tweb abc123\n"), "{text}");
        let err = render_hosts(None, &["nocolon".into()], &[], None).unwrap_err();
        assert!(err.to_string().contains("name:ip"));
        assert!(render_hosts(None, &["x:not-an-ip".into()], &[], None).is_err());
        let v6 = render_hosts(
            Some(("fd00:b37::2".parse().unwrap(), &names)),
            &["gw:host-gateway".to_owned()],
            &[],
            Some("fd00:b37::1".parse().unwrap()),
        )
        .unwrap();
        assert!(v6.contains("fd00:b37::1\tgw\n"), "{v6}");
        assert!(v6.ends_with("fd00:b37::2\tweb abc123\n"), "{v6}");
    }

    #[test]
    fn resolv_conf_uses_embedded_dns_or_host_servers_and_overrides() {
        let host =
            "nameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch corp.example\noptions edns0\n";
        let user = render_resolv(host, &["10.203.1.1".parse().unwrap()], &[], &[], &[]);
        assert_eq!(
            user,
            "nameserver 10.203.1.1\nsearch corp.example\noptions edns0\n"
        );
        let dual = ["10.203.1.1".parse().unwrap(), "fd00:1::1".parse().unwrap()];
        assert_eq!(
            render_resolv(host, &dual, &[], &[], &[]),
            "nameserver 10.203.1.1\nnameserver fd00:1::1\nsearch corp.example\noptions edns0\n"
        );
        let default = render_resolv(host, &[], &[], &[], &[]);
        assert!(default.starts_with("nameserver 192.0.2.53\n"), "{default}");
        assert!(
            !default.contains("127.0.0.53"),
            "loopback servers are useless inside"
        );
        let own = render_resolv(
            host,
            &[],
            &["10.203.9.9".into()],
            &["a.test".into(), "b.test".into()],
            &["ndots:2".into()],
        );
        assert_eq!(
            own,
            "nameserver 10.203.9.9\nsearch a.test b.test\noptions ndots:2\n"
        );
        // On a user network the own servers stay behind the embedded one (it forwards to them).
        let behind = render_resolv(
            host,
            &["10.203.1.1".parse().unwrap()],
            &["10.203.9.9".into()],
            &[],
            &[],
        );
        assert!(
            behind.starts_with("nameserver 10.203.1.1\nsearch"),
            "{behind}"
        );
    }

    #[test]
    fn dns_servers_are_addresses_on_port_53() {
        assert_eq!(
            dns_servers(&["10.203.9.9".into(), "fd00::53".into()]).unwrap(),
            [
                "10.203.9.9:53".parse::<SocketAddr>().unwrap(),
                "[fd00::53]:53".parse().unwrap()
            ]
        );
        let err = dns_servers(&["dns.example".into()]).unwrap_err();
        assert!(
            err.to_string()
                .contains("invalid DNS server \"dns.example\""),
            "{err}"
        );
    }

    fn host_config(json: &str) -> HostConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn port_bindings_become_requests() {
        let h = host_config(
            r#"{"PortBindings":{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"}],
                "53/udp":[{"HostIp":"","HostPort":""}],
                "81/tcp":[{"HostIp":"::","HostPort":"9000"},{"HostIp":"","HostPort":"9000-9010"}]}}"#,
        );
        let mut r = port_requests(&h, Vec::new()).unwrap();
        r.sort_by_key(|r| r.container_port);
        assert_eq!(r.len(), 4, "{r:?}");
        assert_eq!(r[0].proto, Proto::Udp);
        assert_eq!(r[0].host_ports, None);
        assert_eq!(r[1].host_ip, Some(Ipv4Addr::LOCALHOST.into()));
        assert_eq!(r[1].host_ports, Some((8080, 8080)));
        assert_eq!(r[2].host_ip, Some("::".parse().unwrap()));
        assert_eq!(r[2].host_ports, Some((9000, 9000)));
        assert_eq!(r[3].host_ports, Some((9000, 9010)));
        let v6 =
            host_config(r#"{"PortBindings":{"5000/udp":[{"HostIp":"[::1]","HostPort":"5000"}]}}"#);
        assert_eq!(
            port_requests(&v6, Vec::new()).unwrap()[0].host_ip,
            Some("::1".parse().unwrap())
        );
        let bad = host_config(r#"{"PortBindings":{"80/sctp":[]}}"#);
        assert!(port_requests(&bad, Vec::new()).is_err());
        let bad = host_config(r#"{"PortBindings":{"80/tcp":[{"HostPort":"x"}]}}"#);
        assert!(port_requests(&bad, Vec::new()).is_err());
    }

    #[test]
    fn publish_all_adds_exposed_ports_once() {
        let h = host_config(
            r#"{"PublishAllPorts":true,"PortBindings":{"80/tcp":[{"HostPort":"8080"}]}}"#,
        );
        let r = port_requests(&h, ["80/tcp".to_owned(), "443/tcp".to_owned()]).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].container_port, 443);
        assert_eq!(r[1].host_ports, None);
    }

    #[test]
    fn random_ports_skip_taken_and_busy_ones() {
        let req = |host_ports| PortRequest {
            proto: Proto::Tcp,
            host_ip: None,
            host_ports,
            container_port: 80,
        };
        let taken = [PortSpec {
            proto: Proto::Tcp,
            host_ip: None,
            host_port: 50000,
            container_port: 1,
        }];
        let got = assign_ports(
            &[req(None), req(None), req(Some((7000, 7000)))],
            &taken,
            (50000, 50010),
            |_, p| p != 50001,
        )
        .unwrap();
        let ports: Vec<u16> = got.iter().map(|p| p.host_port).collect();
        assert_eq!(ports, [50002, 50003, 7000]);
        assert!(assign_ports(&[req(None)], &taken, (50000, 50000), |_, _| true).is_none());
    }

    #[test]
    fn ports_view_lists_published_and_exposed() {
        let published = [PortSpec {
            proto: Proto::Tcp,
            host_ip: None,
            host_port: 49153,
            container_port: 80,
        }];
        let v = ports_view(&published, ["80/tcp".to_owned(), "9000/udp".to_owned()]);
        assert_eq!(v["9000/udp"], None);
        let b = v["80/tcp"].as_ref().unwrap();
        assert_eq!(
            (b[0].host_ip.as_str(), b[0].host_port.as_str()),
            ("0.0.0.0", "49153")
        );
    }
}
