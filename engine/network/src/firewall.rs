//! Firewall rules of bridge networks as data, rendered for nftables (preferred) or iptables.
//!
//! Choice: each network gets its own nftables table `table ip berth-<id>` holding its NAT and
//! filter chains. Creating, replacing and deleting it is one `nft -f -` transaction, berth never
//! edits a table it did not create, and removing a network is `delete table`, which cannot leave
//! a stray rule behind. Isolation needs no shared state: a network's own forward chain drops new
//! connections entering its bridge from anywhere else unless they were DNATed to a published
//! port. When `nft` is absent the same rules go into per-network `BERTH-*` iptables chains, hooked
//! from the built-in chains by jump rules that berth adds and removes itself.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// Errors of the firewall backends.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    /// The tool could not be run.
    #[error("cannot run {tool}: {source}")]
    Spawn {
        /// Program.
        tool: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The tool refused the rules.
    #[error("{tool} failed: {stderr}")]
    Failed {
        /// Program.
        tool: String,
        /// Its error output.
        stderr: String,
    },
    /// Writing a sysctl failed.
    #[error("sysctl {path}: {source}")]
    Sysctl {
        /// File written.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
}

/// Transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// Lower-case name used by nft and iptables.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// A published port: host address/port forwarded to a container address/port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortForward {
    /// Protocol.
    pub proto: Proto,
    /// Host address it is published on; `None` is every host address.
    pub host_ip: Option<Ipv4Addr>,
    /// Host port.
    pub host_port: u16,
    /// Container address.
    pub container_ip: Ipv4Addr,
    /// Container port.
    pub container_port: u16,
}

/// Everything the firewall needs to know about one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRules {
    /// Short id naming the table / chains (at most 12 characters).
    pub id: String,
    /// Bridge interface.
    pub bridge: String,
    /// Subnet.
    pub subnet: Ipv4Net,
    /// No outside access: no masquerade, no published ports.
    pub internal: bool,
    /// Published ports of the network's endpoints.
    pub ports: Vec<PortForward>,
}

/// nft table name of a network.
pub fn nft_table(id: &str) -> String {
    format!("berth-{id}")
}

fn dnat_match(p: &PortForward) -> String {
    let daddr = p
        .host_ip
        .map(|ip| format!("ip daddr {ip} "))
        .unwrap_or_default();
    format!(
        "fib daddr type local {daddr}{} dport {}",
        p.proto.as_str(),
        p.host_port
    )
}

/// The nft script creating (or atomically replacing) the table of a network.
pub fn render_nft(rules: &NetworkRules) -> String {
    let t = nft_table(&rules.id);
    let br = &rules.bridge;
    let ports: &[PortForward] = if rules.internal { &[] } else { &rules.ports };
    let mut s = format!("table ip {t} {{}}\ndelete table ip {t}\ntable ip {t} {{\n");
    s += "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n";
    for p in ports {
        s += &format!(
            "    {} dnat to {}:{}\n",
            dnat_match(p),
            p.container_ip,
            p.container_port
        );
    }
    s += "  }\n  chain output {\n    type nat hook output priority -100; policy accept;\n";
    for p in ports {
        s += &format!(
            "    {} dnat to {}:{}\n",
            dnat_match(p),
            p.container_ip,
            p.container_port
        );
    }
    s += "  }\n  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n";
    if !rules.internal {
        s += &format!(
            "    ip saddr {} oifname != \"{br}\" masquerade\n",
            rules.subnet
        );
        s += &format!("    oifname \"{br}\" ip saddr 127.0.0.0/8 masquerade\n");
    }
    for p in ports {
        let (ip, proto, port) = (p.container_ip, p.proto.as_str(), p.container_port);
        s += &format!("    ip saddr {ip} ip daddr {ip} {proto} dport {port} masquerade\n");
    }
    s += "  }\n  chain forward {\n    type filter hook forward priority filter; policy accept;\n";
    if rules.internal {
        s += &format!("    iifname \"{br}\" oifname \"{br}\" accept\n");
        s += &format!("    iifname \"{br}\" drop\n    oifname \"{br}\" drop\n");
    } else {
        s += &format!("    oifname \"{br}\" ct state established,related accept\n");
        s += &format!("    oifname \"{br}\" iifname \"{br}\" accept\n");
        s += &format!("    oifname \"{br}\" ct status dnat accept\n");
        s += &format!("    oifname \"{br}\" drop\n");
        s += &format!("    iifname \"{br}\" accept\n");
    }
    s += "  }\n}\n";
    s
}

/// The nft script deleting the table of a network (whether or not it exists).
pub fn render_nft_delete(id: &str) -> String {
    let t = nft_table(id);
    format!("table ip {t} {{}}\ndelete table ip {t}\n")
}

/// An iptables chain of a network and the jump hooking it into a built-in chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IptChain {
    /// `nat` or `filter`.
    pub table: &'static str,
    /// Built-in chain holding the jump.
    pub hook: &'static str,
    /// berth's chain (`BERTH-…`).
    pub chain: String,
    /// Rules of the chain, as iptables arguments after `-A <chain>`.
    pub rules: Vec<String>,
    /// Whether the jump is appended to the hook (else inserted first).
    pub append: bool,
}

/// The iptables chains of a network (fallback backend).
pub fn render_iptables(rules: &NetworkRules) -> Vec<IptChain> {
    let (id, br, subnet) = (&rules.id, &rules.bridge, rules.subnet);
    let ports: &[PortForward] = if rules.internal { &[] } else { &rules.ports };
    let dnat: Vec<String> = ports
        .iter()
        .map(|p| {
            let d = p.host_ip.map(|ip| format!("-d {ip} ")).unwrap_or_default();
            format!(
                "-m addrtype --dst-type LOCAL {d}-p {0} -m {0} --dport {1} -j DNAT --to-destination {2}:{3}",
                p.proto.as_str(),
                p.host_port,
                p.container_ip,
                p.container_port
            )
        })
        .collect();
    let mut post = Vec::new();
    if !rules.internal {
        post.push(format!("-s {subnet} ! -o {br} -j MASQUERADE"));
        post.push(format!("-o {br} -s 127.0.0.0/8 -j MASQUERADE"));
    }
    for p in ports {
        let (ip, proto, port) = (p.container_ip, p.proto.as_str(), p.container_port);
        post.push(format!(
            "-s {ip} -d {ip} -p {proto} -m {proto} --dport {port} -j MASQUERADE"
        ));
    }
    // In iptables an ACCEPT ends the whole built-in chain, so the isolation chains (only DROP
    // or RETURN) are inserted first and the accepting chains appended after them.
    let (iso, fwd) = if rules.internal {
        (
            vec![
                format!("-i {br} -o {br} -j RETURN"),
                format!("-i {br} -j DROP"),
                format!("-o {br} -j DROP"),
            ],
            vec![format!("-i {br} -o {br} -j ACCEPT")],
        )
    } else {
        (
            vec![
                format!("-o {br} -i {br} -j RETURN"),
                format!("-o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"),
                format!("-o {br} -m conntrack --ctstate DNAT -j RETURN"),
                format!("-o {br} -j DROP"),
            ],
            vec![format!("-o {br} -j ACCEPT"), format!("-i {br} -j ACCEPT")],
        )
    };
    vec![
        IptChain {
            table: "nat",
            hook: "PREROUTING",
            chain: format!("BERTH-PRE-{id}"),
            rules: dnat.clone(),
            append: false,
        },
        IptChain {
            table: "nat",
            hook: "OUTPUT",
            chain: format!("BERTH-OUT-{id}"),
            rules: dnat,
            append: false,
        },
        IptChain {
            table: "nat",
            hook: "POSTROUTING",
            chain: format!("BERTH-POST-{id}"),
            rules: post,
            append: false,
        },
        IptChain {
            table: "filter",
            hook: "FORWARD",
            chain: format!("BERTH-ISO-{id}"),
            rules: iso,
            append: false,
        },
        IptChain {
            table: "filter",
            hook: "FORWARD",
            chain: format!("BERTH-FWD-{id}"),
            rules: fwd,
            append: true,
        },
    ]
}

/// The firewall backends (a closed set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Firewall {
    /// `nft -f -` transactions with this program.
    Nftables { nft: PathBuf },
    /// `iptables` chains with this program.
    Iptables { iptables: PathBuf },
    /// Records nothing and applies nothing (for unit tests of callers and firewall-less hosts).
    Disabled,
}

impl Firewall {
    /// nftables when an `nft` program is found in `search_path` (a `PATH`-style list), else
    /// iptables when found, else disabled.
    pub fn detect(search_path: &str) -> Self {
        let find = |name: &str| {
            std::env::split_paths(search_path)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        };
        if let Some(nft) = find("nft") {
            Firewall::Nftables { nft }
        } else if let Some(iptables) = find("iptables") {
            Firewall::Iptables { iptables }
        } else {
            Firewall::Disabled
        }
    }

    /// Creates or replaces the rules of one network.
    pub fn apply(&self, rules: &NetworkRules) -> Result<(), FirewallError> {
        match self {
            Firewall::Nftables { nft } => run_stdin(nft, &["-f", "-"], &render_nft(rules)),
            Firewall::Iptables { iptables } => {
                for chain in render_iptables(rules) {
                    ipt_remove_chain(iptables, &chain)?;
                    let t = chain.table;
                    run(iptables, &["-w", "-t", t, "-N", &chain.chain])?;
                    for rule in &chain.rules {
                        let mut args = vec!["-w", "-t", t, "-A", &chain.chain];
                        args.extend(rule.split(' '));
                        run(iptables, &args)?;
                    }
                    run(
                        iptables,
                        &[
                            "-w",
                            "-t",
                            t,
                            if chain.append { "-A" } else { "-I" },
                            chain.hook,
                            "-j",
                            &chain.chain,
                        ],
                    )?;
                }
                Ok(())
            }
            Firewall::Disabled => Ok(()),
        }
    }

    /// Removes every rule of the network `id`; tries every part and reports the first error.
    pub fn remove(&self, id: &str) -> Result<(), FirewallError> {
        match self {
            Firewall::Nftables { nft } => run_stdin(nft, &["-f", "-"], &render_nft_delete(id)),
            Firewall::Iptables { iptables } => {
                let probe = NetworkRules {
                    id: id.to_string(),
                    bridge: String::new(),
                    subnet: Ipv4Net::default(),
                    internal: true,
                    ports: vec![],
                };
                let results: Vec<_> = render_iptables(&probe)
                    .iter()
                    .map(|c| ipt_remove_chain(iptables, c))
                    .collect();
                results.into_iter().collect()
            }
            Firewall::Disabled => Ok(()),
        }
    }
}

/// Network ids of the berth tables in an `nft list tables` output.
pub fn parse_nft_tables(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter_map(|l| l.trim().strip_prefix("table ip berth-"))
        .map(|id| id.trim().to_string())
        .collect()
}

/// Network ids of the berth chains in an `iptables-save` output.
pub fn parse_iptables_chains(listing: &str) -> Vec<String> {
    let mut ids: Vec<String> = listing
        .lines()
        .filter_map(|l| l.strip_prefix(":BERTH-"))
        .filter_map(|l| {
            l.split_whitespace()
                .next()?
                .split_once('-')
                .map(|(_, id)| id.to_string())
        })
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

impl Firewall {
    /// Ids of the networks that have berth rules in the kernel now.
    pub fn owned_ids(&self) -> Result<Vec<String>, FirewallError> {
        match self {
            Firewall::Nftables { nft } => Ok(parse_nft_tables(&output(nft, &["list", "tables"])?)),
            Firewall::Iptables { iptables } => {
                let save = iptables.with_file_name("iptables-save");
                Ok(parse_iptables_chains(&output(&save, &[])?))
            }
            Firewall::Disabled => Ok(Vec::new()),
        }
    }
}

fn output(tool: &Path, args: &[&str]) -> Result<String, FirewallError> {
    let name = tool.display().to_string();
    let out = Command::new(tool)
        .args(args)
        .output()
        .map_err(|source| FirewallError::Spawn {
            tool: name.clone(),
            source,
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(FirewallError::Failed {
            tool: name,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

fn ipt_remove_chain(iptables: &Path, chain: &IptChain) -> Result<(), FirewallError> {
    let t = chain.table;
    while run(
        iptables,
        &["-w", "-t", t, "-C", chain.hook, "-j", &chain.chain],
    )
    .is_ok()
    {
        run(
            iptables,
            &["-w", "-t", t, "-D", chain.hook, "-j", &chain.chain],
        )?;
    }
    if run(iptables, &["-w", "-t", t, "-n", "-L", &chain.chain]).is_ok() {
        run(iptables, &["-w", "-t", t, "-F", &chain.chain])?;
        run(iptables, &["-w", "-t", t, "-X", &chain.chain])?;
    }
    Ok(())
}

/// Enables IPv4 forwarding and `route_localnet` on `bridge` under `proc_sys` (`/proc/sys`).
pub fn enable_forwarding(proc_sys: &Path, bridge: &str) -> Result<(), FirewallError> {
    let write = |path: PathBuf| {
        std::fs::write(&path, "1").map_err(|source| FirewallError::Sysctl { path, source })
    };
    write(proc_sys.join("net/ipv4/ip_forward"))?;
    write(
        proc_sys
            .join("net/ipv4/conf")
            .join(bridge)
            .join("route_localnet"),
    )
}

fn run(tool: &Path, args: &[&str]) -> Result<(), FirewallError> {
    run_stdin(tool, args, "")
}

fn run_stdin(tool: &Path, args: &[&str], input: &str) -> Result<(), FirewallError> {
    let name = tool.display().to_string();
    let spawn = |source| FirewallError::Spawn {
        tool: name.clone(),
        source,
    };
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).map_err(spawn)?;
    }
    let out = child.wait_with_output().map_err(spawn)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(FirewallError::Failed {
            tool: name,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(internal: bool) -> NetworkRules {
        NetworkRules {
            id: "abc".into(),
            bridge: "br-abc".into(),
            subnet: "10.203.0.0/24".parse().unwrap(),
            internal,
            ports: vec![PortForward {
                proto: Proto::Tcp,
                host_ip: None,
                host_port: 8080,
                container_ip: "10.203.0.2".parse().unwrap(),
                container_port: 80,
            }],
        }
    }

    #[test]
    fn nft_script_has_masquerade_dnat_and_isolation() {
        let s = render_nft(&rules(false));
        assert!(
            s.starts_with("table ip berth-abc {}\ndelete table ip berth-abc\ntable ip berth-abc {")
        );
        assert!(s.contains("ip saddr 10.203.0.0/24 oifname != \"br-abc\" masquerade"));
        assert_eq!(
            s.matches("fib daddr type local tcp dport 8080 dnat to 10.203.0.2:80")
                .count(),
            2
        );
        assert!(
            s.contains("oifname \"br-abc\" ct status dnat accept\n    oifname \"br-abc\" drop")
        );
    }

    #[test]
    fn internal_network_has_no_masquerade_nor_ports() {
        let s = render_nft(&rules(true));
        assert!(!s.contains("masquerade"));
        assert!(!s.contains("dnat"));
        assert!(s.contains("iifname \"br-abc\" drop"));
        let ipt = render_iptables(&rules(true));
        assert!(ipt.iter().all(|c| {
            c.rules
                .iter()
                .all(|r| !r.contains("MASQUERADE") && !r.contains("DNAT"))
        }));
    }

    #[test]
    fn iptables_chains_are_berth_owned() {
        let chains = render_iptables(&rules(false));
        assert!(
            chains
                .iter()
                .all(|c| c.chain.starts_with("BERTH-") && c.chain.len() <= 28)
        );
        assert_eq!(
            chains[0].rules,
            vec![
                "-m addrtype --dst-type LOCAL -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.203.0.2:80"
            ]
        );
        assert_eq!(
            render_nft_delete("abc"),
            "table ip berth-abc {}\ndelete table ip berth-abc\n"
        );
    }

    #[test]
    fn owned_rules_are_recognised_by_name() {
        let nft = "table ip nat\ntable ip berth-0123456789ab\ntable inet filter\ntable ip berth-ffffffffffff\n";
        assert_eq!(parse_nft_tables(nft), vec!["0123456789ab", "ffffffffffff"]);
        let save = "*nat\n:PREROUTING ACCEPT [0:0]\n:BERTH-PRE-0123456789ab - [0:0]\n:BERTH-POST-0123456789ab - [0:0]\n:DOCKER - [0:0]\n";
        assert_eq!(parse_iptables_chains(save), vec!["0123456789ab"]);
    }

    #[test]
    fn sysctls_written_under_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("net/ipv4/conf/br-x")).unwrap();
        enable_forwarding(dir.path(), "br-x").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("net/ipv4/ip_forward")).unwrap(),
            "1"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("net/ipv4/conf/br-x/route_localnet")).unwrap(),
            "1"
        );
    }

    #[test]
    fn detect_prefers_nft() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            Firewall::detect(dir.path().to_str().unwrap()),
            Firewall::Disabled
        );
        std::fs::write(dir.path().join("iptables"), "").unwrap();
        assert!(matches!(
            Firewall::detect(dir.path().to_str().unwrap()),
            Firewall::Iptables { .. }
        ));
        std::fs::write(dir.path().join("nft"), "").unwrap();
        assert!(matches!(
            Firewall::detect(dir.path().to_str().unwrap()),
            Firewall::Nftables { .. }
        ));
    }
}
