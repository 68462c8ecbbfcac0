//! The Compose Specification front end of berth.
//!
//! It turns compose files into a validated, normalized [`model`] of a project and a dependency
//! graph of its services; later stages plan and execute convergence through the engine API.
//! Everything here is pure computation over text and values, so it is tested without root and
//! without an engine.
//!
//! Pipeline: [`yaml`] (located tree) → [`env`] and interpolation → include / extends / merge →
//! model normalization and validation → graph → [`plan`] (observed vs desired) →
//! [`execute`] (through the [`engine_api::EngineApi`] port).

pub mod discover;
pub mod engine_api;
pub mod engine_contract;
pub mod env;
pub mod error;
pub mod execute;
pub mod extends;
pub mod external;
pub mod graph;
pub mod include;
pub mod inject;
pub mod interpolate;
pub mod load;
pub mod merge;
pub mod model;
pub mod output;
pub mod path;
pub mod plan;
pub mod project;
pub mod rebase;
pub mod schema;
#[cfg(test)]
mod testutil;
pub mod units;
pub mod validate;
pub mod watch;
pub mod yaml;

pub use error::{Error, ErrorKind, Loc, Result};
pub use load::{LoadOptions, RawProject, load_raw};
pub use project::{Loaded, load_project};
