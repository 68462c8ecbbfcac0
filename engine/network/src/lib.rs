//! Container networking for berth's engine: address management, bridge networks, firewall NAT,
//! published ports and the embedded DNS server.
//!
//! It is its own crate so the kernel-facing network code is tested apart from the daemon.

pub mod bridge;
pub mod dns;
pub mod firewall;
pub mod ipam;
pub mod manager;
pub mod netlink;
pub mod persist;
