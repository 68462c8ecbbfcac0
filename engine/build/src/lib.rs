//! berth-build: berth's image builder. It parses Dockerfiles the way
//! BuildKit's frontend does, expands build args and env in instruction words, plans which
//! stages a `--target` needs, matches `.dockerignore` patterns and applies metadata
//! instructions to an OCI image config. [`exec`] executes a build against the image store:
//! COPY/ADD/WORKDIR layers are made directly, RUN steps go through the `StepRunner` port
//! that the engine implements with its container runtime.

pub mod config;
pub mod dockerfile;
pub mod dockerignore;
pub mod exec;
pub mod expand;
pub mod prepare;
pub mod stages;

pub use dockerfile::{Dockerfile, Instruction, ParseError, Stage, parse};
pub use prepare::{PrepareError, Prepared, Step, prepare};
