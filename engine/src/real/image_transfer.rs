//! Image transfers of the real backend that stream a request body into the image store:
//! `docker import` (a rootfs tarball becomes a one-layer image).
//!
//! The body arrives as an async stream; the store's readers are synchronous, so the stream is
//! bridged to `std::io::Read` on a blocking thread and never buffered whole in memory.

use berth_image::ImportOptions;

use super::RealBackend;
use super::body::RequestBody;
use super::images::image_err;
use crate::backend::{BackendResult, ByteStream, ImportImageOptions};

impl RealBackend {
    pub(super) async fn image_import(
        &self,
        source: ByteStream,
        opts: ImportImageOptions,
    ) -> BackendResult<String> {
        let body = RequestBody::new(source);
        let this = self.clone();
        super::blocking(move || {
            let name = opts.reference.clone().unwrap_or_default();
            let import = ImportOptions {
                reference: opts.reference,
                changes: opts.changes,
                message: opts.message,
                created: None,
            };
            let summary = body
                .consume(|reader| this.inner.images.import(reader, &import))
                .map_err(|e| image_err(&name, e))?;
            Ok(summary.id.to_string())
        })
        .await
    }
}
