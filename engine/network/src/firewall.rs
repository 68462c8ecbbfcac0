//! Firewall rules of bridge networks as data, rendered for nftables (preferred) or iptables.
//!
//! Choice: each network gets its own nftables table `table ip berth-<id>` holding its NAT and
//! filter chains (plus `table ip6 berth-<id>` with the same shape when it has an IPv6 subnet). Creating, replacing and deleting it is one `nft -f -` transaction, berth never
//! edits a table it did not create, and removing a network is `delete table`, which cannot leave
//! a stray rule behind. Isolation needs no shared state: a network's own forward chain drops new
//! connections entering its bridge from anywhere else unless they were DNATed to a published
//! port. When `nft` is absent the same rules go into per-network `BERTH-*` iptables chains, hooked
//! from the built-in chains by jump rules that berth adds and removes itself.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
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
    /// Host address it is published on; `None` is every host address (both families).
    pub host_ip: Option<IpAddr>,
    /// Host port.
    pub host_port: u16,
    /// Container address; `None` on an IPv6-only network.
    pub container_ip: Option<Ipv4Addr>,
    /// Container IPv6 address, when the network has IPv6.
    #[serde(default)]
    pub container_ip6: Option<Ipv6Addr>,
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
    /// Subnet; `None` on an IPv6-only network (no `ip` table, no iptables chains).
    pub subnet: Option<Ipv4Net>,
    /// IPv6 subnet, when the network has IPv6.
    #[serde(default)]
    pub subnet6: Option<Ipv6Net>,
    /// No outside access: no masquerade, no published ports.
    pub internal: bool,
    /// Published ports of the network's endpoints.
    pub ports: Vec<PortForward>,
}

/// nft table name of a network.
pub fn nft_table(id: &str) -> String {
    format!("berth-{id}")
}

/// Address family of one rendered table or chain set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4 (`table ip`, `iptables`).
    V4,
    /// IPv6 (`table ip6`, `ip6tables`).
    V6,
}

impl Family {
    fn nft(self) -> &'static str {
        match self {
            Family::V4 => "ip",
            Family::V6 => "ip6",
        }
    }
}

/// One published port as seen by one family: the host address (if any) and container address.
struct FamilyPort {
    proto: Proto,
    host_ip: Option<IpAddr>,
    host_port: u16,
    container_ip: IpAddr,
    container_port: u16,
}

impl FamilyPort {
    /// `addr:port` as nft's `dnat to` and iptables' `--to-destination` want it.
    fn target(&self) -> String {
        match self.container_ip {
            IpAddr::V4(ip) => format!("{ip}:{}", self.container_port),
            IpAddr::V6(ip) => format!("[{ip}]:{}", self.container_port),
        }
    }
}

/// The ports of `rules` published in `family`: an unspecified host address publishes in both
/// families (IPv6 only when the container has an IPv6 address); internal networks publish none.
/// `::1` is left to the userland forwarder ([`crate::proxy`]).
fn family_ports(rules: &NetworkRules, family: Family) -> Vec<FamilyPort> {
    if rules.internal {
        return Vec::new();
    }
    rules
        .ports
        .iter()
        .filter_map(|p| {
            let container_ip = match family {
                Family::V4 => IpAddr::V4(p.container_ip?),
                Family::V6 => IpAddr::V6(p.container_ip6?),
            };
            let host_ip = match (family, p.host_ip) {
                (_, None) => None,
                (Family::V4, Some(ip @ IpAddr::V4(_))) | (Family::V6, Some(ip @ IpAddr::V6(_))) => {
                    Some(ip).filter(|ip| !ip.is_unspecified())
                }
                _ => return None,
            };
            if host_ip == Some(IpAddr::V6(Ipv6Addr::LOCALHOST)) {
                return None;
            }
            Some(FamilyPort {
                proto: p.proto,
                host_ip,
                host_port: p.host_port,
                container_ip,
                container_port: p.container_port,
            })
        })
        .collect()
}

fn dnat_match(family: Family, p: &FamilyPort) -> String {
    let daddr = match (p.host_ip, family) {
        (Some(ip), _) => format!("{} daddr {ip} ", family.nft()),
        (None, Family::V6) => "ip6 daddr != ::1 ".to_string(),
        (None, Family::V4) => String::new(),
    };
    format!(
        "fib daddr type local {daddr}{} dport {}",
        p.proto.as_str(),
        p.host_port
    )
}

/// The subnet of `rules` in `family`, if the network has one.
fn family_subnet(rules: &NetworkRules, family: Family) -> Option<IpNet> {
    match family {
        Family::V4 => rules.subnet.map(IpNet::V4),
        Family::V6 => rules.subnet6.map(IpNet::V6),
    }
}

/// The nft table of one family of a network.
fn render_nft_table(rules: &NetworkRules, family: Family, subnet: IpNet) -> String {
    let (f, t, br) = (family.nft(), nft_table(&rules.id), &rules.bridge);
    let ports = family_ports(rules, family);
    let mut s = format!("table {f} {t} {{\n");
    s += "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n";
    for p in &ports {
        s += &format!("    {} dnat to {}\n", dnat_match(family, p), p.target());
    }
    s += "  }\n  chain output {\n    type nat hook output priority -100; policy accept;\n";
    for p in &ports {
        s += &format!("    {} dnat to {}\n", dnat_match(family, p), p.target());
    }
    s += "  }\n  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n";
    if !rules.internal {
        s += &format!("    {f} saddr {subnet} oifname != \"{br}\" masquerade\n");
        if family == Family::V4 {
            s += &format!("    oifname \"{br}\" ip saddr 127.0.0.0/8 masquerade\n");
        }
    }
    // Hairpin: a container of this network reaching a published port through a host address
    // (its own or a peer's) must see the answer come from the host, not straight from the peer.
    for p in &ports {
        let (ip, proto, port) = (p.container_ip, p.proto.as_str(), p.container_port);
        s += &format!(
            "    {f} saddr {subnet} {f} daddr {ip} {proto} dport {port} ct status dnat masquerade\n"
        );
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

/// The nft script creating (or atomically replacing) the tables of a network: `ip`, and `ip6`
/// when it has an IPv6 subnet (else any `ip6` table of that id is deleted).
pub fn render_nft(rules: &NetworkRules) -> String {
    let mut s = render_nft_delete(&rules.id);
    for family in [Family::V4, Family::V6] {
        if let Some(subnet) = family_subnet(rules, family) {
            s += &render_nft_table(rules, family, subnet);
        }
    }
    s
}

/// The nft script deleting the tables of a network (whether or not they exist).
pub fn render_nft_delete(id: &str) -> String {
    let t = nft_table(id);
    format!("table ip {t} {{}}\ndelete table ip {t}\ntable ip6 {t} {{}}\ndelete table ip6 {t}\n")
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

/// The iptables (`Family::V4`) or ip6tables (`Family::V6`) chains of a network (fallback
/// backend); empty for IPv6 when the network has no IPv6 subnet.
pub fn render_iptables(rules: &NetworkRules, family: Family) -> Vec<IptChain> {
    let (id, br) = (&rules.id, &rules.bridge);
    let Some(subnet) = family_subnet(rules, family) else {
        return Vec::new();
    };
    let ports = family_ports(rules, family);
    let dnat: Vec<String> = ports
        .iter()
        .map(|p| {
            let d = match (p.host_ip, family) {
                (Some(ip), _) => format!("-d {ip} "),
                (None, Family::V6) => "! -d ::1 ".to_string(),
                (None, Family::V4) => String::new(),
            };
            format!(
                "-m addrtype --dst-type LOCAL {d}-p {0} -m {0} --dport {1} -j DNAT --to-destination {2}",
                p.proto.as_str(),
                p.host_port,
                p.target()
            )
        })
        .collect();
    let mut post = Vec::new();
    if !rules.internal {
        post.push(format!("-s {subnet} ! -o {br} -j MASQUERADE"));
        if family == Family::V4 {
            post.push(format!("-o {br} -s 127.0.0.0/8 -j MASQUERADE"));
        }
    }
    for p in &ports {
        let (ip, proto, port) = (p.container_ip, p.proto.as_str(), p.container_port);
        post.push(format!(
            "-s {subnet} -d {ip} -p {proto} -m {proto} --dport {port} -m conntrack --ctstate DNAT -j MASQUERADE"
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
                for (tool, family) in ipt_tools(iptables) {
                    let chains = render_iptables(rules, family);
                    if chains.is_empty() {
                        ipt_remove_all(&tool, &rules.id, family)?;
                    }
                    for chain in chains {
                        ipt_apply_chain(&tool, &chain)?;
                    }
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
                let results: Vec<_> = ipt_tools(iptables)
                    .into_iter()
                    .map(|(tool, family)| ipt_remove_all(&tool, id, family))
                    .collect();
                results.into_iter().collect()
            }
            Firewall::Disabled => Ok(()),
        }
    }
}

/// Network ids of the berth tables (`ip` or `ip6`) in an `nft list tables` output.
pub fn parse_nft_tables(listing: &str) -> Vec<String> {
    let mut ids: Vec<String> = listing
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            l.strip_prefix("table ip berth-")
                .or_else(|| l.strip_prefix("table ip6 berth-"))
        })
        .map(|id| id.trim().to_string())
        .collect();
    ids.sort();
    ids.dedup();
    ids
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
                let mut listing = String::new();
                for (tool, family) in ipt_tools(iptables) {
                    let save = match family {
                        Family::V4 => "iptables-save",
                        Family::V6 => "ip6tables-save",
                    };
                    listing += &output(&tool.with_file_name(save), &[])?;
                }
                Ok(parse_iptables_chains(&listing))
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

/// `iptables` with IPv4, plus `ip6tables` next to it (when present) with IPv6.
fn ipt_tools(iptables: &Path) -> Vec<(PathBuf, Family)> {
    let mut tools = vec![(iptables.to_path_buf(), Family::V4)];
    let ip6 = iptables.with_file_name("ip6tables");
    if ip6.is_file() {
        tools.push((ip6, Family::V6));
    }
    tools
}

fn ipt_apply_chain(tool: &Path, chain: &IptChain) -> Result<(), FirewallError> {
    ipt_remove_chain(tool, chain)?;
    let t = chain.table;
    run(tool, &["-w", "-t", t, "-N", &chain.chain])?;
    for rule in &chain.rules {
        let mut args = vec!["-w", "-t", t, "-A", &chain.chain];
        args.extend(rule.split(' '));
        run(tool, &args)?;
    }
    let hook = if chain.append { "-A" } else { "-I" };
    run(tool, &["-w", "-t", t, hook, chain.hook, "-j", &chain.chain])
}

/// Removes every chain of network `id` from one family's tables; tries every chain.
fn ipt_remove_all(tool: &Path, id: &str, family: Family) -> Result<(), FirewallError> {
    let probe = NetworkRules {
        id: id.to_string(),
        bridge: String::new(),
        subnet: Some(Ipv4Net::default()),
        subnet6: Some(Ipv6Net::default()),
        internal: true,
        ports: vec![],
    };
    let results: Vec<_> = render_iptables(&probe, family)
        .iter()
        .map(|c| ipt_remove_chain(tool, c))
        .collect();
    results.into_iter().collect()
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

/// Enables IPv6 forwarding under `proc_sys` (for networks with an IPv6 subnet). As with
/// Docker, a host that takes its own IPv6 address from router advertisements then needs
/// `accept_ra=2` on that interface.
pub fn enable_forwarding6(proc_sys: &Path) -> Result<(), FirewallError> {
    let path = proc_sys.join("net/ipv6/conf/all/forwarding");
    std::fs::write(&path, "1").map_err(|source| FirewallError::Sysctl { path, source })
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
mod tests;
