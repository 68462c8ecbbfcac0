//! Images for berth's engine: the OCI content store, image references, the registry client and
//! the root-confined layer unpacker that turns layers into overlay snapshots.
//!
//! It is its own crate so that image handling compiles and is tested apart from the runtime.

pub mod archive;
pub mod digest;
pub mod fsops;
pub mod images;
pub mod import;
pub mod index;
pub mod layers;
pub mod reference;
pub mod snapshot;
pub mod store;
pub mod unpack;
