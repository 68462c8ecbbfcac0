//! berth's embedded container engine: the daemon that wires images, runtime and networking
//! together behind a Docker-Engine-API socket, and the client used to talk to it.
//!
//! The parts live in their own crates (`berth-image`, `berth-runtime`, `berth-network`); this
//! crate re-exports them so the CLI depends on one engine.

pub mod api;
pub mod backend;
pub mod client;
pub mod config;
pub mod daemon;
pub mod fake;
pub mod state;

#[cfg(test)]
mod tests;

pub use berth_image as image;
pub use berth_network as network;
pub use berth_runtime as runtime;
