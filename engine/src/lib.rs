//! berth's embedded container engine: the daemon that wires images, runtime and networking
//! together behind a Docker-Engine-API socket, and the client used to talk to it.
//!
//! The parts live in their own crates (`berth-image`, `berth-runtime`, `berth-network`); this
//! crate re-exports them so the CLI depends on one engine.
//!
//! Map of this crate:
//! - [`api::models`]: Docker Engine API JSON shapes; [`api::server`]: the axum router (version
//!   negotiation, one error mapping, handlers that make one [`backend::Backend`] call each).
//! - [`backend`]: the port the engine implements, with typed error categories, and
//!   [`backend::contract`], the suite every implementation must pass; [`fake`]: the in-memory
//!   reference implementation used by tests.
//! - [`client`]: typed async client (unix socket or TCP, `DOCKER_HOST`) for the CLI and compose.
//! - [`config`]: `daemon.json`; [`daemon`]: socket binding and the serve loop; [`state`]: atomic
//!   record writes.

pub mod api;
pub mod backend;
pub mod client;
pub mod config;
pub mod daemon;
pub mod fake;
pub mod real;
pub mod state;

#[cfg(test)]
mod tests;

pub use berth_image as image;
pub use berth_network as network;
pub use berth_runtime as runtime;
pub use berth_volume as volume;
