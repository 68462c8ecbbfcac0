//! The network of a Dockerfile `RUN` step, as Docker's builder gives it: `none` (loopback
//! only), `host` (the engine's own namespace with a copy of the host's resolv.conf), or a bridge
//! network (`default` = the engine's default `bridge`, with NAT to the outside): the step's
//! container gets an endpoint on it between the shim's clone and the command's start, the
//! engine's resolv.conf handling and an `/etc/hosts` naming `buildkitsandbox`, and the endpoint
//! is removed when the step ends, failed or not.
//!
//! The endpoint lives in the step's own namespace (`/proc/<pid>/ns/net`, not pinned): when the
//! step's process exits the kernel removes the veth pair, so even a crash of the engine leaves
//! only a state entry that start-up recovery drops (its veth is gone).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_network::manager::{EndpointSpec, ManagerError};
use berth_runtime::spec::BindMount;

use super::net_files;
use super::networks::{DEFAULT_NETWORK, Networking, embedded_dns};

/// Hostname of every RUN sandbox (BuildKit's).
pub(super) const SANDBOX_HOSTNAME: &str = "buildkitsandbox";

/// Why a RUN step's network could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BuildNetError {
    #[error(
        "RUN cannot use network {0:?}: networking is not set up in this engine (use --network none or host)"
    )]
    Unavailable(String),
    #[error("RUN cannot join network {network:?}: {source}{}", hint(.source))]
    Connect {
        network: String,
        source: ManagerError,
    },
    #[error("cannot write the step's {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn hint(e: &ManagerError) -> &'static str {
    match e {
        ManagerError::NotFound(_) => {
            " (create it with `berth network create`, or build with --network default|none|host)"
        }
        _ => "",
    }
}

/// Where a RUN step's network comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum StepNet {
    /// A namespace with only loopback.
    None,
    /// The engine's own namespace.
    Host,
    /// An endpoint on this bridge network.
    Bridge(String),
}

impl StepNet {
    /// Docker's `--network` values: `default` (and empty) is the default bridge.
    pub(super) fn parse(name: &str) -> StepNet {
        match name {
            "none" => StepNet::None,
            "host" => StepNet::Host,
            "" | "default" => StepNet::Bridge(DEFAULT_NETWORK.to_owned()),
            other => StepNet::Bridge(other.to_owned()),
        }
    }
}

/// The engine's networking as a RUN step sees it: the network manager and the runtime that
/// drives its async calls from the builder's blocking thread.
#[derive(Clone)]
pub(super) struct BuildNet {
    net: Arc<Networking>,
    rt: tokio::runtime::Handle,
}

impl BuildNet {
    pub(super) fn new(net: Arc<Networking>, rt: tokio::runtime::Handle) -> Self {
        Self { net, rt }
    }
}

/// The bridge side of one RUN step: its hosts and resolv.conf files (bound into the sandbox
/// before it starts, filled once the address is known) and, once attached, its endpoint.
pub(super) struct StepEndpoint {
    net: Option<BuildNet>,
    network: String,
    id: String,
    hosts: PathBuf,
    resolv: PathBuf,
    attached: bool,
}

impl StepEndpoint {
    /// Prepares the files of a step on `network` in `dir` and returns them with their binds.
    pub(super) fn prepare(
        net: Option<&BuildNet>,
        network: &str,
        id: &str,
        dir: &Path,
    ) -> Result<(StepEndpoint, Vec<BindMount>), BuildNetError> {
        let net = net
            .cloned()
            .ok_or_else(|| BuildNetError::Unavailable(network.to_owned()))?;
        let hosts = dir.join("hosts");
        let resolv = dir.join("resolv.conf");
        let mut binds = Vec::new();
        for (path, dest) in [(&hosts, "/etc/hosts"), (&resolv, "/etc/resolv.conf")] {
            write(path, "")?;
            binds.push(BindMount {
                source: path.clone(),
                destination: dest.to_owned(),
                read_only: true,
            });
        }
        let ep = StepEndpoint {
            net: Some(net),
            network: network.to_owned(),
            id: id.to_owned(),
            hosts,
            resolv,
            attached: false,
        };
        Ok((ep, binds))
    }

    /// Connects the namespace `netns` (the step's, before its command runs) to the network
    /// and writes the step's hosts and resolv.conf.
    pub(super) fn attach(&mut self, netns: &Path) -> Result<(), BuildNetError> {
        let Some(bn) = &self.net else {
            return Err(BuildNetError::Unavailable(self.network.clone()));
        };
        let connect_err = |source| BuildNetError::Connect {
            network: self.network.clone(),
            source,
        };
        let (ep, info) = bn
            .rt
            .block_on(async {
                let info = bn.net.manager.network(&self.network).await?;
                let ep = bn
                    .net
                    .manager
                    .connect(
                        &info.name,
                        EndpointSpec {
                            id: self.id.clone(),
                            netns: netns.to_owned(),
                            ..EndpointSpec::default()
                        },
                    )
                    .await?;
                Ok::<_, ManagerError>((ep, info))
            })
            .map_err(connect_err)?;
        self.attached = true;
        let names = [SANDBOX_HOSTNAME.to_owned()];
        let own = ep.address().unwrap_or(std::net::Ipv4Addr::LOCALHOST.into());
        let hosts = net_files::render_hosts(Some((own, &names)), &[], &[], None)
            .unwrap_or_else(|_| format!("127.0.0.1\tlocalhost\n{own}\t{SANDBOX_HOSTNAME}\n"));
        // The default bridge has no embedded DNS: the host's servers, as for containers.
        let embedded = embedded_dns(&info);
        let resolv = net_files::render_resolv(&bn.net.host_resolv, &embedded, &[], &[], &[]);
        write(&self.hosts, &hosts)?;
        write(&self.resolv, &resolv)
    }
}

impl Drop for StepEndpoint {
    fn drop(&mut self) {
        if !self.attached {
            return;
        }
        let Some(bn) = &self.net else { return };
        let gone = bn
            .rt
            .block_on(bn.net.manager.disconnect(&self.network, &self.id));
        if let Err(e) = gone {
            tracing::warn!(endpoint = %self.id, network = %self.network, error = %e,
                "cannot remove a build step's endpoint");
        }
    }
}

fn write(path: &Path, text: &str) -> Result<(), BuildNetError> {
    std::fs::write(path, text).map_err(|source| BuildNetError::Io {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_names_parse_like_dockers_builder() {
        assert_eq!(StepNet::parse(""), StepNet::Bridge("bridge".into()));
        assert_eq!(StepNet::parse("default"), StepNet::Bridge("bridge".into()));
        assert_eq!(StepNet::parse("bridge"), StepNet::Bridge("bridge".into()));
        assert_eq!(StepNet::parse("front"), StepNet::Bridge("front".into()));
        assert_eq!(StepNet::parse("none"), StepNet::None);
        assert_eq!(StepNet::parse("host"), StepNet::Host);
    }

    #[test]
    fn a_step_without_engine_networking_fails_with_a_hint() {
        let dir = tempfile::tempdir().unwrap();
        let err = StepEndpoint::prepare(None, "bridge", "build-x", dir.path())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("--network none or host"), "{err}");
    }
}
