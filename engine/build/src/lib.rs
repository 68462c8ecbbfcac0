//! berth-build: the pure front half of berth's image builder. It parses Dockerfiles the way
//! BuildKit's frontend does, expands build args and env in instruction words, plans which
//! stages a `--target` needs, matches `.dockerignore` patterns and applies metadata
//! instructions to an OCI image config. It runs nothing and needs no root; the engine's
//! builder executes what this crate decides.

pub mod config;
pub mod dockerfile;
pub mod dockerignore;
pub mod expand;
pub mod prepare;
pub mod stages;

pub use dockerfile::{Dockerfile, Instruction, ParseError, Stage, parse};
pub use prepare::{PrepareError, Prepared, Step, prepare};
