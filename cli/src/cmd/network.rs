//! `berth network ls|create|inspect|rm|connect|disconnect|prune`: the engine's networks through
//! the Docker API client, with docker's flags and output shapes.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use berth_engine::api::models::{
    EndpointIpamConfig, EndpointSettings, Ipam, IpamConfig, Network, NetworkConnectRequest,
    NetworkCreateRequest, NetworkDisconnectRequest,
};
use clap::{Args, Subcommand};

use super::flags::{filters, key_values};
use crate::connect::{connect, runtime};
use crate::global::GlobalArgs;

/// `berth network …`.
#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// List networks.
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Create a bridge network.
    Create(CreateArgs),
    /// Show networks as Docker-compatible JSON.
    Inspect(InspectArgs),
    /// Remove networks.
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Connect a container to a network.
    Connect(ConnectArgs),
    /// Disconnect a container from a network.
    Disconnect(DisconnectArgs),
    /// Remove all custom networks no container uses.
    Prune(PruneArgs),
}

/// Options of `berth network ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only show network ids.
    #[arg(short, long)]
    quiet: bool,
    /// Filter (`name=…`, `id=…`, `label=…`, `driver=…`, `type=custom|builtin`); repeatable.
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    filters: Vec<String>,
    /// Output format: `table` or `json`.
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    format: String,
}

/// Options of `berth network create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Network name.
    name: String,
    /// Driver (only `bridge`).
    #[arg(short, long, default_value = "bridge")]
    driver: String,
    /// Subnet in CIDR form (e.g. 10.203.5.0/24).
    #[arg(long)]
    subnet: Option<String>,
    /// Gateway address inside the subnet.
    #[arg(long)]
    gateway: Option<String>,
    /// Range dynamic addresses come from (CIDR inside the subnet).
    #[arg(long)]
    ip_range: Option<String>,
    /// No outside access and no upstream DNS.
    #[arg(long)]
    internal: bool,
    /// IPv4 on the network (`--ipv4=false` asks for an IPv6-only network).
    #[arg(long, default_value_t = true, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    ipv4: bool,
    /// Give the network IPv6 too: a unique-local /64 from the default pool, or the IPv6
    /// subnet of `--subnet6`.
    #[arg(long)]
    ipv6: bool,
    /// IPv6 subnet in CIDR form (e.g. fd00:1::/64); needs --ipv6.
    #[arg(long)]
    subnet6: Option<String>,
    /// Let containers be connected by hand (recorded for compatibility).
    #[arg(long)]
    attachable: bool,
    /// Label `KEY=VALUE`; repeatable.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// Driver option `KEY=VALUE` (`com.docker.network.bridge.name`,
    /// `com.docker.network.driver.mtu`); repeatable.
    #[arg(short = 'o', long = "opt", value_name = "KEY=VALUE")]
    opts: Vec<String>,
}

/// Options of `berth network inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Networks (name or id).
    #[arg(required = true)]
    networks: Vec<String>,
}

/// Options of `berth network rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Networks (name or id).
    #[arg(required = true)]
    networks: Vec<String>,
}

/// Options of `berth network connect`.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Network (name or id).
    network: String,
    /// Container (name or id).
    container: String,
    /// Static IPv4 address.
    #[arg(long)]
    ip: Option<String>,
    /// Extra DNS name on this network; repeatable.
    #[arg(long = "alias")]
    aliases: Vec<String>,
}

/// Options of `berth network disconnect`.
#[derive(Debug, Args)]
pub struct DisconnectArgs {
    /// Network (name or id).
    network: String,
    /// Container (name or id).
    container: String,
    /// Disconnect even when the container is not running.
    #[arg(long)]
    force: bool,
}

/// Options of `berth network prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not ask for confirmation (berth never asks; accepted for docker compatibility).
    #[arg(long)]
    force: bool,
    /// Filter (`label=…`); repeatable.
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    filters: Vec<String>,
}

/// The create request for the flags (checked here so mistakes fail before the engine is asked).
pub fn create_request(args: &CreateArgs) -> anyhow::Result<NetworkCreateRequest> {
    if args.gateway.is_some() && args.subnet.is_none() {
        bail!("--gateway needs --subnet");
    }
    if args.ip_range.is_some() && args.subnet.is_none() {
        bail!("--ip-range needs --subnet");
    }
    if args.subnet6.is_some() && !args.ipv6 {
        bail!("--subnet6 needs --ipv6");
    }
    let v4 = args.subnet.as_ref().map(|subnet| IpamConfig {
        subnet: subnet.clone(),
        ip_range: args.ip_range.clone().unwrap_or_default(),
        gateway: args.gateway.clone().unwrap_or_default(),
    });
    let v6 = args.subnet6.as_ref().map(|subnet| IpamConfig {
        subnet: subnet.clone(),
        ..IpamConfig::default()
    });
    let config: Vec<IpamConfig> = v4.into_iter().chain(v6).collect();
    let ipam = (!config.is_empty()).then(|| Ipam {
        driver: "default".to_owned(),
        config,
        options: BTreeMap::new(),
    });
    Ok(NetworkCreateRequest {
        name: args.name.clone(),
        driver: args.driver.clone(),
        internal: args.internal,
        attachable: args.attachable,
        enable_ipv4: (!args.ipv4).then_some(false),
        enable_ipv6: args.ipv6,
        ipam,
        options: key_values(&args.opts, "--opt", false)?,
        labels: key_values(&args.labels, "--label", false)?,
    })
}

fn table(networks: &[Network]) -> String {
    let rows: Vec<[String; 4]> = networks
        .iter()
        .map(|n| {
            [
                n.id.chars().take(12).collect(),
                n.name.clone(),
                n.driver.clone(),
                n.scope.clone(),
            ]
        })
        .collect();
    crate::table::render(["NETWORK ID", "NAME", "DRIVER", "SCOPE"], &rows)
}

/// Runs one `berth network` verb.
pub fn run(command: NetworkCommand, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    rt.block_on(async {
        let client = connect(global).await?;
        match command {
            NetworkCommand::Ls(args) => {
                let list = client
                    .list_networks(&filters(&args.filters)?)
                    .await
                    .context("listing networks")?;
                if args.format == "json" {
                    println!("{}", serde_json::to_string_pretty(&list)?);
                } else if args.quiet {
                    for n in &list {
                        println!("{}", n.id.chars().take(12).collect::<String>());
                    }
                } else {
                    print!("{}", table(&list));
                }
            }
            NetworkCommand::Create(args) => {
                let req = create_request(&args)?;
                let created = client
                    .create_network(&req)
                    .await
                    .with_context(|| format!("creating network {}", args.name))?;
                println!("{}", created.id);
            }
            NetworkCommand::Inspect(args) => {
                let mut out = Vec::new();
                for n in &args.networks {
                    out.push(
                        client
                            .inspect_network(n)
                            .await
                            .with_context(|| format!("inspecting network {n}"))?,
                    );
                }
                println!("{}", serde_json::to_string_pretty(&out)?);
            }
            NetworkCommand::Rm(args) => {
                let mut failed = false;
                for n in &args.networks {
                    match client.remove_network(n).await {
                        Ok(()) => println!("{n}"),
                        Err(e) => {
                            eprintln!("Error: removing network {n}: {e}");
                            failed = true;
                        }
                    }
                }
                if failed {
                    return Ok(ExitCode::FAILURE);
                }
            }
            NetworkCommand::Connect(args) => {
                let endpoint = EndpointSettings {
                    aliases: args.aliases.clone(),
                    ipam_config: args.ip.as_ref().map(|ip| EndpointIpamConfig {
                        ipv4_address: ip.clone(),
                        ipv6_address: String::new(),
                    }),
                    ..EndpointSettings::default()
                };
                let req = NetworkConnectRequest {
                    container: args.container.clone(),
                    endpoint_config: Some(endpoint),
                };
                client
                    .connect_network(&args.network, &req)
                    .await
                    .with_context(|| {
                        format!("connecting {} to network {}", args.container, args.network)
                    })?;
            }
            NetworkCommand::Disconnect(args) => {
                let req = NetworkDisconnectRequest {
                    container: args.container.clone(),
                    force: args.force,
                };
                client
                    .disconnect_network(&args.network, &req)
                    .await
                    .with_context(|| {
                        format!(
                            "disconnecting {} from network {}",
                            args.container, args.network
                        )
                    })?;
            }
            NetworkCommand::Prune(args) => {
                let _ = args.force;
                let removed = client
                    .prune_networks(&filters(&args.filters)?)
                    .await
                    .context("pruning networks")?;
                if !removed.is_empty() {
                    println!("Deleted Networks:");
                    for n in removed {
                        println!("{n}");
                    }
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: NetworkCommand,
    }

    fn create(args: &[&str]) -> anyhow::Result<NetworkCreateRequest> {
        let cli = Cli::try_parse_from(std::iter::once("network").chain(args.iter().copied()))?;
        match cli.command {
            NetworkCommand::Create(a) => create_request(&a),
            other => panic!("parsed {other:?}"),
        }
    }

    #[test]
    fn create_flags_become_the_docker_request() {
        let req = create(&[
            "create",
            "--subnet",
            "10.203.4.0/24",
            "--gateway",
            "10.203.4.254",
            "--internal",
            "--label",
            "tier=db",
            "-o",
            "com.docker.network.driver.mtu=1400",
            "back",
        ])
        .unwrap();
        assert_eq!(req.name, "back");
        assert!(req.internal);
        let ipam = req.ipam.unwrap();
        assert_eq!(ipam.config[0].subnet, "10.203.4.0/24");
        assert_eq!(ipam.config[0].gateway, "10.203.4.254");
        assert_eq!(req.labels["tier"], "db");
        assert_eq!(req.options["com.docker.network.driver.mtu"], "1400");
    }

    #[test]
    fn ipv4_flag_is_sent_only_when_turned_off() {
        assert_eq!(create(&["create", "n"]).unwrap().enable_ipv4, None);
        assert_eq!(
            create(&["create", "--ipv4", "n"]).unwrap().enable_ipv4,
            None
        );
        assert_eq!(
            create(&["create", "--ipv4=true", "n"]).unwrap().enable_ipv4,
            None
        );
        let off = create(&["create", "--ipv4=false", "--ipv6", "n"]).unwrap();
        assert_eq!(off.enable_ipv4, Some(false));
        assert!(off.enable_ipv6);
        assert!(create(&["create", "--ipv4=maybe", "n"]).is_err());
    }

    #[test]
    fn gateway_without_subnet_is_refused() {
        let err = create(&["create", "--gateway", "10.0.0.1", "n"]).unwrap_err();
        assert!(err.to_string().contains("--subnet"), "{err}");
        assert!(create(&["create", "--label", "=x", "n"]).is_err());
    }

    #[test]
    fn table_shows_short_ids() {
        let n = Network {
            id: "0123456789abcdef".into(),
            name: "front".into(),
            driver: "bridge".into(),
            scope: "local".into(),
            ..Network::default()
        };
        let text = table(&[n]);
        assert!(text.starts_with("NETWORK ID"), "{text}");
        assert!(text.contains("0123456789ab   front"), "{text}");
        assert!(!text.contains("0123456789abc"), "{text}");
    }
}
