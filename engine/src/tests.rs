//! Crate-level tests: the API router in-process over the fake backend, and end-to-end over a
//! real unix socket with the typed client (and the docker CLI when installed).

mod docker_cli;
mod e2e;
mod router;
mod router_archive;
mod router_objects;
mod router_stats;
