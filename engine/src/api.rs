//! The Docker Engine API: JSON models and the HTTP server that exposes a [`crate::backend::Backend`].

pub mod models;
pub mod server;
