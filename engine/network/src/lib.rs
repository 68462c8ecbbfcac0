//! Container networking for berth's engine: address management, bridge networks, firewall NAT,
//! published ports and the embedded DNS server.
//!
//! It is its own crate so the kernel-facing network code is tested apart from the daemon.
//!
//! # Using it from the engine
//!
//! The daemon wires one [`manager::NetworkManager`] at start-up and calls it for every network
//! and container (all methods are `async`, on tokio):
//!
//! ```text
//! let upstreams = dns::read_resolv_conf(Path::new("/etc/resolv.conf"))?;
//! let manager = NetworkManager::open(ManagerConfig {
//!     root: data_root.join("networks"),          // ipam.json + networks.json live here
//!     proc_sys: "/proc/sys".into(),              // ip_forward, route_localnet
//!     host_routes: RtNetlink.ipv4_routes()?,     // default subnets overlapping these are skipped
//!     host_routes6: RtNetlink.ipv6_routes()?,    // the same for default IPv6 subnets
//!     pools: ipam::default_pools(),              // 4096 /24s, see ipam's doc
//!     firewall: Firewall::detect(&env PATH),     // nftables, else iptables
//!     netlink: Arc::new(RtNetlink),
//!     upstreams,
//! })?;
//! manager.reconcile().await?;                    // at start-up: drop dead endpoints, stray veths/rules
//! manager.restore_dns().await?;                  // after a daemon restart
//! let net: Network = manager.create_network(NetworkSpec { name, internal, ipam, ipv6, ipv6_only, driver_opts, dns_listen: None }).await?;
//! let ep: Endpoint = manager.connect(&net.name, EndpointSpec {
//!     id: container_id, netns: "/proc/<pid>/ns/net".into(), ifname: None, ip: None,
//!     names: vec![service, container_name, alias...], ports: vec![PortSpec { .. }],
//! }).await?;                                     // Err(PortAllocated) before anything is built
//! manager.set_dns_names(&net.name, &ep.id, names).await?;
//! manager.disconnect(&net.name, &ep.id).await?;
//! manager.remove_network(&net.name).await?;      // Err(ActiveEndpoints) while connected
//! ```
//!
//! The container's `resolv.conf` should name `Network::dns_servers` of the network of its
//! `eth0` (the gateway, then the IPv6 gateway of an IPv6 network; port 53); that server also
//! answers the names of the container's other networks.
//! One daemon per host: `reconcile` treats every `berth-*` nft table / `BERTH-*` chain and every
//! `vb<11 hex>` veth it does not know as its own leftovers.
//!
//! # Layout
//!
//! - [`ipam`]: pure subnet and address allocation, persisted crash-safely ([`persist`]).
//! - [`bridge`]: pure planner returning link steps; [`netlink`]: the one applier (rtnetlink).
//! - [`firewall`]: rules as data rendered for nftables or iptables, applied atomically per network.
//! - [`dns`]: per-network embedded DNS server (hickory).
//! - [`manager`]: the API above.

pub mod bridge;
pub mod dns;
pub mod firewall;
pub mod ipam;
pub mod ipam6;
pub mod manager;
pub mod netlink;
pub mod persist;
pub mod proxy;
