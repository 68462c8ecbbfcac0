//! The build executor: runs a prepared Dockerfile against the image store. Metadata
//! instructions only change the config (decided by [`crate::prepare`]); COPY, ADD and
//! WORKDIR become layers directly; RUN goes through a [`StepRunner`]. Each layer step has a
//! cache key (parent chain + expanded instruction + what it reads) looked up in the
//! [`Cache`] first, so a rebuild with unchanged inputs starts no container. Progress is a
//! stream of [`BuildEvent`]s.

pub mod cache;
pub mod copy;
pub mod layer;
pub mod runner;
mod stage;
pub mod view;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth_image::{ImageStore, ImageSummary};

use crate::prepare::PrepareError;

pub use cache::{Cache, PruneReport};
pub use runner::{RunSpec, StepRunner};

/// Media type of the (uncompressed) layers the builder writes.
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    /// The build context directory.
    pub context: PathBuf,
    /// The Dockerfile text.
    pub dockerfile: String,
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    /// `--label`s added to the image config.
    pub labels: BTreeMap<String, String>,
    /// Names to tag the image with.
    pub tags: Vec<String>,
    pub no_cache: bool,
    /// Network of RUN steps: `default`, `none` or `host`.
    pub network: String,
    /// Every timestamp of the image (layer entries, `created`, history), in Unix seconds.
    pub epoch: u64,
}

/// Build progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildEvent {
    /// A Dockerfile step starts (`Step 2/7 : RUN make`).
    Step {
        index: usize,
        total: usize,
        text: String,
    },
    /// The step's layer came from the cache.
    UsingCache,
    /// A RUN sandbox starts.
    Running {
        id: String,
    },
    /// A line the command printed.
    Output(String),
    /// The step produced a layer (diff-id).
    Layer {
        diff_id: String,
    },
    Warning(String),
    /// The image is stored (its id, `sha256:…`).
    Built {
        id: String,
    },
    Tagged {
        name: String,
    },
}

/// A finished build.
#[derive(Debug, Clone)]
pub struct Built {
    pub image: ImageSummary,
    /// RUN steps executed (not cached).
    pub runs: usize,
    /// Layer steps taken from the cache.
    pub cache_hits: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    #[error("Dockerfile:{line}: base image {name:?}: {source}; pull or load it first")]
    BaseImage {
        line: usize,
        name: String,
        #[source]
        source: berth_image::ImageError,
    },
    #[error(transparent)]
    Copy(#[from] copy::CopyError),
    #[error("Dockerfile:{line}: The command '{command}' returned a non-zero code: {code}")]
    RunFailed {
        line: usize,
        command: String,
        code: i64,
    },
    #[error("Dockerfile:{line}: RUN could not run: {source}")]
    Runner {
        line: usize,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("Dockerfile:{line}: {what} is not supported yet")]
    Unsupported { line: usize, what: String },
    #[error("image store: {0}")]
    Store(#[from] berth_image::ImageError),
    #[error("content store: {0}")]
    Content(#[from] berth_image::store::StoreError),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(".dockerignore: {0}")]
    Ignore(#[from] crate::dockerignore::IgnoreError),
}

pub(crate) fn io_err(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BuildError {
    let path = path.to_path_buf();
    move |source| BuildError::Io { op, path, source }
}

/// Runs builds against one image store; the cache lives under `builder_root`.
pub struct Builder<'a, R: StepRunner> {
    store: &'a ImageStore,
    runner: &'a R,
    cache: Cache,
}

impl<R: StepRunner> std::fmt::Debug for Builder<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("cache", &self.cache)
            .finish()
    }
}

impl<'a, R: StepRunner> Builder<'a, R> {
    /// A builder on `store`, running RUN steps with `runner`, caching under `builder_root`.
    pub fn new(
        store: &'a ImageStore,
        runner: &'a R,
        builder_root: &Path,
    ) -> Result<Self, BuildError> {
        let cache = Cache::open(builder_root).map_err(io_err("open build cache", builder_root))?;
        Ok(Builder {
            store,
            runner,
            cache,
        })
    }

    /// Builds the request's target stage, stores and tags the image.
    pub fn build(
        &self,
        req: &BuildRequest,
        events: &mut dyn FnMut(BuildEvent),
    ) -> Result<Built, BuildError> {
        let _hold = self.store.hold_gc();
        stage::Run::new(self, req, events)?.build()
    }
}

/// Removes the build cache under `builder_root`.
pub fn prune(builder_root: &Path) -> Result<PruneReport, BuildError> {
    let cache = Cache::open(builder_root).map_err(io_err("open build cache", builder_root))?;
    cache
        .prune()
        .map_err(io_err("prune build cache", builder_root))
}

#[cfg(test)]
mod tests;
