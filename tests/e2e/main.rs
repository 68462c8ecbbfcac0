//! berth's end-to-end suite: runs the built `berth` binary on temporary projects.
//!
//! One test binary with a shared harness (`util`), one module per area. Tests that need root say
//! so and fail without it; nothing here returns early as a pass.

mod archive;
mod bootstrap;
mod build;
mod build_net;
mod compat;
mod compose_resources;
mod compose_up;
mod config;
mod daemon;
mod daemon_chaos;
mod daemon_debris;
mod dockerd;
mod engine;
mod examples;
mod harness;
mod images;
mod interactive;
mod network;
mod network_compose;
mod network_hairpin;
mod network_v6;
mod network_v6only;
mod runtime;
mod runtime_security;
mod util;
mod volumes;
mod volumes_compose;
mod watch;
