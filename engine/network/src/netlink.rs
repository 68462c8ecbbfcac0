//! The one applier of link plans ([`crate::bridge::Step`]), over rtnetlink (no `ip` command).
//!
//! Steps inside a container's namespace run on a short-lived thread that `setns`es into it and
//! opens its own netlink socket there, so the caller's threads never change namespace.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use futures::TryStreamExt;
use rtnetlink::packet_core::{NLM_F_ACK, NLM_F_REQUEST};
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags};
use rtnetlink::{Handle, LinkBridge, LinkBridgePort, LinkUnspec, LinkVeth, RouteMessageBuilder};

use crate::bridge::{LinkOp, Step};

/// Errors of the netlink applier.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// Opening a socket, runtime, thread or namespace file failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The kernel refused an operation.
    #[error("netlink {op:?} failed: {source}")]
    Kernel {
        /// The operation.
        op: Box<LinkOp>,
        /// Underlying error.
        source: rtnetlink::Error,
    },
    /// Looking a link up failed (other than "no such device").
    #[error("cannot look up link {link}: {source}")]
    Lookup {
        /// Link name.
        link: String,
        /// Underlying error.
        source: rtnetlink::Error,
    },
    /// Listing the routes failed.
    #[error("cannot list routes: {source}")]
    RouteDump {
        /// Underlying error.
        source: rtnetlink::Error,
    },
    /// A link named by a step does not exist.
    #[error("link {0} not found")]
    NoSuchLink(String),
    /// Entering the namespace failed.
    #[error("cannot enter network namespace {path}: {source}")]
    Setns {
        /// Namespace file.
        path: PathBuf,
        /// Underlying error.
        source: nix::Error,
    },
}

/// Port for link effects: apply a plan, ask whether a link exists.
pub trait Netlink: Send + Sync + std::fmt::Debug {
    /// Performs `steps` in order, stopping at the first failure.
    fn apply(&self, steps: &[Step]) -> Result<(), NetlinkError>;
    /// Whether a link of that name exists in the caller's namespace.
    fn link_exists(&self, name: &str) -> Result<bool, NetlinkError>;
    /// Names of every link in the caller's namespace.
    fn links(&self) -> Result<Vec<String>, NetlinkError>;
}

/// The kernel implementation.
#[derive(Debug, Default, Clone, Copy)]
pub struct RtNetlink;

impl Netlink for RtNetlink {
    fn apply(&self, steps: &[Step]) -> Result<(), NetlinkError> {
        let mut rest = steps;
        while let Some(first) = rest.first() {
            let len = rest.iter().take_while(|s| s.netns == first.netns).count();
            let ops: Vec<LinkOp> = rest[..len].iter().map(|s| s.op.clone()).collect();
            run_in(first.netns.clone(), ops)?;
            rest = &rest[len..];
        }
        Ok(())
    }

    fn link_exists(&self, name: &str) -> Result<bool, NetlinkError> {
        let name = name.to_string();
        in_thread(None, move |handle| async move {
            Ok(index_of(&handle, &name).await?.is_some())
        })
    }

    fn links(&self) -> Result<Vec<String>, NetlinkError> {
        use rtnetlink::packet_route::link::LinkAttribute;
        in_thread(None, |handle| async move {
            let mut dump = handle.link().get().execute();
            let mut names = Vec::new();
            loop {
                let msg = dump
                    .try_next()
                    .await
                    .map_err(|source| NetlinkError::Lookup {
                        link: "*".into(),
                        source,
                    })?;
                let Some(msg) = msg else { break };
                names.extend(msg.attributes.into_iter().find_map(|a| match a {
                    LinkAttribute::IfName(name) => Some(name),
                    _ => None,
                }));
            }
            Ok(names)
        })
    }
}

impl RtNetlink {
    /// Destinations of the caller's IPv4 main-table routes (default route excluded), for IPAM to
    /// avoid subnets the host already reaches.
    pub fn ipv4_routes(&self) -> Result<Vec<ipnet::Ipv4Net>, NetlinkError> {
        let query = RouteMessageBuilder::<std::net::Ipv4Addr>::new().build();
        let found = route_destinations(query)?;
        Ok(found
            .into_iter()
            .filter_map(|(dst, len)| match dst {
                std::net::IpAddr::V4(dst) => ipnet::Ipv4Net::new(dst, len).ok(),
                std::net::IpAddr::V6(_) => None,
            })
            .collect())
    }

    /// Destinations of the caller's IPv6 main-table routes (default route excluded), for the
    /// IPv6 IPAM to avoid subnets the host already reaches. A kernel without IPv6 has none.
    pub fn ipv6_routes(&self) -> Result<Vec<ipnet::Ipv6Net>, NetlinkError> {
        let query = RouteMessageBuilder::<std::net::Ipv6Addr>::new().build();
        let found = route_destinations(query)?;
        Ok(found
            .into_iter()
            .filter_map(|(dst, len)| match dst {
                std::net::IpAddr::V6(dst) => ipnet::Ipv6Net::new(dst, len).ok(),
                std::net::IpAddr::V4(_) => None,
            })
            .collect())
    }
}

/// The (destination, prefix length) of every main-table route the dump `query` returns,
/// default routes left out.
fn route_destinations(
    query: rtnetlink::packet_route::route::RouteMessage,
) -> Result<Vec<(std::net::IpAddr, u8)>, NetlinkError> {
    use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteHeader};
    in_thread(None, |handle| async move {
        let mut routes = handle.route().get(query).execute();
        let mut found = Vec::new();
        loop {
            let msg = routes
                .try_next()
                .await
                .map_err(|source| NetlinkError::RouteDump { source })?;
            let Some(msg) = msg else { break };
            let len = msg.header.destination_prefix_length;
            if msg.header.table != RouteHeader::RT_TABLE_MAIN || len == 0 {
                continue;
            }
            for attr in &msg.attributes {
                match attr {
                    RouteAttribute::Destination(RouteAddress::Inet(dst)) => {
                        found.push(((*dst).into(), len));
                    }
                    RouteAttribute::Destination(RouteAddress::Inet6(dst)) => {
                        found.push(((*dst).into(), len));
                    }
                    _ => {}
                }
            }
        }
        Ok(found)
    })
}

fn io_err(what: &str) -> impl FnOnce(std::io::Error) -> NetlinkError + '_ {
    move |source| NetlinkError::Io {
        what: what.to_string(),
        source,
    }
}

fn run_in(netns: Option<PathBuf>, ops: Vec<LinkOp>) -> Result<(), NetlinkError> {
    in_thread(netns, move |handle| async move {
        for op in ops {
            apply_op(&handle, &op).await?;
        }
        Ok(())
    })
}

/// Runs `f` with a netlink handle on a fresh thread, inside `netns` when given.
fn in_thread<T, F, Fut>(netns: Option<PathBuf>, f: F) -> Result<T, NetlinkError>
where
    T: Send + 'static,
    F: FnOnce(Handle) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, NetlinkError>>,
{
    std::thread::spawn(move || {
        if let Some(path) = &netns {
            enter_netns(path)?;
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(io_err("tokio runtime"))?;
        rt.block_on(async move {
            let (conn, handle, _) =
                rtnetlink::new_connection().map_err(io_err("netlink socket"))?;
            tokio::spawn(conn);
            f(handle).await
        })
    })
    .join()
    .unwrap_or_else(|_| {
        Err(NetlinkError::Io {
            what: "netlink thread".into(),
            source: std::io::Error::other("panicked"),
        })
    })
}

fn enter_netns(path: &Path) -> Result<(), NetlinkError> {
    let file = File::open(path).map_err(io_err("open netns"))?;
    nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|source| {
        NetlinkError::Setns {
            path: path.to_path_buf(),
            source,
        }
    })
}

async fn index_of(handle: &Handle, name: &str) -> Result<Option<u32>, NetlinkError> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(link) => Ok(link.map(|l| l.header.index)),
        Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc_enodev() => Ok(None),
        Err(source) => Err(NetlinkError::Lookup {
            link: name.to_string(),
            source,
        }),
    }
}

fn libc_enodev() -> i32 {
    nix::errno::Errno::ENODEV as i32
}

async fn require(handle: &Handle, name: &str) -> Result<u32, NetlinkError> {
    index_of(handle, name)
        .await?
        .ok_or_else(|| NetlinkError::NoSuchLink(name.to_string()))
}

/// Adds `msg` as a route, replacing one to the same destination (IPv4 and IPv6 alike).
async fn replace_route(
    handle: &Handle,
    msg: rtnetlink::packet_route::route::RouteMessage,
) -> Result<(), rtnetlink::Error> {
    handle.route().add(msg).replace().execute().await
}

async fn apply_op(handle: &Handle, op: &LinkOp) -> Result<(), NetlinkError> {
    let kernel = |source| NetlinkError::Kernel {
        op: Box::new(op.clone()),
        source,
    };
    let links = handle.link();
    match op {
        LinkOp::AddBridge { name, mtu } => links
            .add(LinkBridge::new(name).mtu(*mtu).build())
            .execute()
            .await
            .map_err(kernel),
        LinkOp::AddVeth { name, peer, mtu } => {
            links
                .add(LinkVeth::new(name, peer).mtu(*mtu).build())
                .execute()
                .await
                .map_err(kernel)?;
            let peer_idx = require(handle, peer).await?;
            links
                .set(LinkUnspec::new_with_index(peer_idx).mtu(*mtu).build())
                .execute()
                .await
                .map_err(kernel)
        }
        LinkOp::SetMaster { link, master } => {
            let idx = require(handle, link).await?;
            let master = require(handle, master).await?;
            links
                .set(LinkUnspec::new_with_index(idx).controller(master).build())
                .execute()
                .await
                .map_err(kernel)
        }
        LinkOp::SetHairpin { link } => {
            let idx = require(handle, link).await?;
            // A bridge port's options change through RTM_NEWLINK on the existing link (as
            // `ip link set … type bridge_slave hairpin on`): without NLM_F_CREATE/EXCL/REPLACE,
            // which the kernel answers with EEXIST or EOPNOTSUPP for a link that exists.
            links
                .add(LinkBridgePort::new(idx).hairpin(true).build())
                .set_flags(NLM_F_REQUEST | NLM_F_ACK)
                .execute()
                .await
                .map_err(kernel)
        }
        LinkOp::SetNetns { link, netns } => {
            let idx = require(handle, link).await?;
            let file = File::open(netns).map_err(io_err("open netns"))?;
            let msg = LinkUnspec::new_with_index(idx)
                .setns_by_fd(file.as_raw_fd())
                .build();
            links.set(msg).execute().await.map_err(kernel)
        }
        LinkOp::Rename { link, to } => {
            let idx = require(handle, link).await?;
            links
                .set(LinkUnspec::new_with_index(idx).name(to.clone()).build())
                .execute()
                .await
                .map_err(kernel)
        }
        LinkOp::SetMac { link, mac } => {
            let idx = require(handle, link).await?;
            links
                .set(
                    LinkUnspec::new_with_index(idx)
                        .address(mac.to_vec())
                        .build(),
                )
                .execute()
                .await
                .map_err(kernel)
        }
        LinkOp::AddAddress { link, address } => {
            let idx = require(handle, link).await?;
            let req = handle
                .address()
                .add(idx, address.addr().into(), address.prefix_len());
            req.replace().execute().await.map_err(kernel)
        }
        LinkOp::AddAddress6 { link, address } => {
            let idx = require(handle, link).await?;
            let mut req = handle
                .address()
                .add(idx, address.addr().into(), address.prefix_len());
            req.message_mut()
                .attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
            req.replace().execute().await.map_err(kernel)
        }
        LinkOp::AddDefaultRoute6 { link, gateway } => {
            let idx = require(handle, link).await?;
            let msg = RouteMessageBuilder::<std::net::Ipv6Addr>::new()
                .gateway(*gateway)
                .output_interface(idx)
                .build();
            replace_route(handle, msg).await.map_err(kernel)
        }
        LinkOp::Up { link } => {
            let idx = require(handle, link).await?;
            links
                .set(LinkUnspec::new_with_index(idx).up().build())
                .execute()
                .await
                .map_err(kernel)
        }
        LinkOp::AddDefaultRoute { link, gateway } => {
            let idx = require(handle, link).await?;
            let msg = RouteMessageBuilder::<std::net::Ipv4Addr>::new()
                .gateway(*gateway)
                .output_interface(idx)
                .build();
            replace_route(handle, msg).await.map_err(kernel)
        }
        LinkOp::Delete { link } => match index_of(handle, link).await? {
            Some(idx) => match links.del(idx).execute().await {
                Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc_enodev() => Ok(()),
                other => other.map_err(kernel),
            },
            None => Ok(()),
        },
    }
}
