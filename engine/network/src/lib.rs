//! Container networking for berth's engine: address management, bridge networks, firewall NAT,
//! published ports and the embedded DNS server.
//!
//! It is its own crate so the kernel-facing network code is tested apart from the daemon.

pub mod bridge;
pub mod ipam;
pub mod netlink;
pub mod persist;
pub mod firewall;
pub mod dns;
pub mod manager;
