//! Images for berth's engine: the OCI content store, image references, `docker import`,
//! registry pulls with progress events and auth (HTTPS by default, rustls), credentials,
//! `docker save`/`docker load` archives and the root-confined layer unpacker that turns layers
//! into overlay snapshots.
//!
//! It is its own crate so that image handling compiles and is tested apart from the runtime.
//!
//! # Public API
//!
//! Other parts of the engine use [`ImageStore`], opened on the data root:
//!
//! ```text
//! ImageStore::open(root: &Path) -> Result<ImageStore, ImageError>
//! ImageStore::with_unpack_options(self, UnpackOptions) -> ImageStore
//! ImageStore::import(&self, rootfs: impl Read, &ImportOptions) -> Result<ImageSummary, ImageError>
//! ImageStore::load(&self, archive: impl Read) -> Result<Vec<ImageSummary>, ImageError>
//! ImageStore::save(&self, images: &[&str], out: impl Write) -> Result<(), ImageError>
//! ImageStore::resolve(&self, reference: &str) -> Result<ImageSummary, ImageError>
//! ImageStore::image_config(&self, reference: &str) -> Result<oci_spec::image::ImageConfiguration, ImageError>
//! ImageStore::list(&self) -> Result<Vec<ImageSummary>, ImageError>
//! ImageStore::tag(&self, source: &str, target: &str) -> Result<(), ImageError>
//! ImageStore::remove(&self, reference: &str, force: bool) -> Result<RemoveReport, ImageError>
//! ImageStore::prepare_rootfs(&self, container_id: &str, image: &str) -> Result<Vec<Mount>, ImageError>
//! ImageStore::release(&self, container_id: &str) -> Result<(), ImageError>
//! ImageStore::gc(&self) -> Result<Garbage, ImageError>
//! ImageStore::history(&self, reference: &str) -> Result<Vec<HistoryEntry>, ImageError>
//! ImageStore::prune(&self, all: bool) -> Result<PruneReport, ImageError>
//! ImageStore::hold_gc(&self) -> GcHold   // builds: GC waits while held
//! ImageStore::unpacked_layer(&self, diff_id: &Digest, blob: &Digest) -> Result<PathBuf, ImageError>
//! ImageStore::put_image(&self, config: &[u8], layers: &[BuiltLayer], names: &[String]) -> Result<ImageSummary, ImageError>
//! RegistryClient::new(insecure: impl IntoIterator<Item = String>) -> RegistryClient
//! RegistryClient::with_options(&RegistryOptions { insecure, mirrors, certs_dirs }) -> RegistryClient
//! RegistryClient::pull(&self, &ImageStore, reference: &str) -> impl Future<Output = Result<ImageSummary, ImageError>> + Send
//! RegistryClient::pull_with(&self, &ImageStore, reference: &str, &PullOptions, Progress) -> impl Future<Output = Result<ImageSummary, ImageError>> + Send
//! RegistryClient::push(&self, &ImageStore, reference: &str, Option<Credentials>, PushProgress) -> impl Future<Output = Result<Digest, ImageError>> + Send
//! ImageStore::unpack_image(&self, reference: &str, on_layer: impl Fn(&Digest) + Sync) -> Result<(), ImageError>
//! auth::{lookup, store, erase}(config_json: &Path, domain: &str, …)  // ~/.docker/config.json
//! snapshot::mount_all(&[Mount], target: &Path) -> Result<(), SnapshotError>
//! snapshot::unmount(target: &Path) -> Result<(), SnapshotError>
//! ```
//!
//! `reference` arguments accept every Docker spelling: `nginx`, `nginx:1`, `host:5000/x@sha256:…`,
//! an image id (config digest), a unique id prefix or a manifest digest.
//! `prepare_rootfs` leases the image to the container: while leased, neither `remove` (without
//! `force`) nor garbage collection takes its content away; `release` drops the lease and the
//! container's writable layer. The caller mounts the returned [`snapshot::Mount`]s with
//! [`snapshot::mount_all`] (in the container's mount namespace).
//!
//! # On-disk layout (under the data root)
//!
//! - `content/blobs/{sha256,sha512}/<hex>`: blobs, written temp + fsync + rename;
//! - `images.json`: references, images and leases ([`index::ImageIndex`]), replaced atomically;
//! - `layers/<diff-id hex>/diff`: unpacked layers; `l/<short>`: links used as overlay lowerdirs;
//! - `containers/<id>/{upper,work}`: container writable layers.
//!
//! One process owns a data root: `open` removes the temp files and directories a crash left
//! (`.tmp-*` blobs and layers, `.load-*` staging), which would break a second live process.
//!
//! Images no reference or lease keeps (for example after a re-tag) are collected by the next
//! `gc`, `remove` or `release`.

pub mod archive;
pub mod auth;
pub mod built;
pub mod decode;
pub mod digest;
pub mod endpoint;
pub mod fsops;
pub mod images;
pub mod import;
pub mod index;
pub mod layers;
pub mod maintain;
pub mod pull;
pub mod push;
pub mod reference;
pub mod registry;
pub mod snapshot;
pub mod store;
pub mod stream;
pub mod tls;
#[cfg(test)]
mod tls_tests;
pub mod unpack;

pub use auth::Credentials;
pub use built::{BuiltLayer, GcHold};
pub use images::{ImageError, ImageStore, ImageSummary, RemoveReport};
pub use import::ImportOptions;
pub use index::Garbage;
pub use maintain::{HistoryEntry, PruneReport};
pub use pull::{Platform, PullEvent, PullOptions};
pub use push::PushEvent;
pub use reference::Reference;
pub use registry::{RegistryClient, RegistryOptions};
pub use snapshot::Mount;
pub use unpack::UnpackOptions;
