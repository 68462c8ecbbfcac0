//! Streaming a layer download straight into the unpacker: the body frames of the blob go
//! through a bounded channel to a blocking thread that, in one pass, writes them to the content
//! store (hashing the compressed bytes) and decompresses, hashes and unpacks them into a staging
//! directory of the layer cache.
//!
//! Nothing becomes visible before it is verified: the blob is renamed to its digest name only
//! when the compressed bytes match the manifest's digest, and the staged layer is returned to
//! the caller, which moves it under its diff-id only after the blob matched and the unpacked tar
//! stream hashed to the config's diff-id (and after the pull's one `syncfs`). A failed or
//! interrupted download drops both, leaving nothing behind.

use std::io::{self, Read, Write};

use hyper::body::Bytes;
use tokio::sync::mpsc;
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::digest::Digest;
use crate::layers::{LayerError, LayerStore, StagedLayer};
use crate::store::{BlobWriter, StoreError};
use crate::unpack::UnpackOptions;

/// Body frames buffered between the download and the unpacker.
pub(crate) const CHANNEL_FRAMES: usize = 64;

/// Why a streamed layer failed on the unpacking side.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The blob crossed its size cap.
    #[error("blob exceeds the size limit of {limit} bytes")]
    TooLarge {
        /// The cap.
        limit: u64,
    },
    /// The blob did not verify or could not be stored.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The layer could not be unpacked or its diff-id did not match.
    #[error(transparent)]
    Layer(#[from] LayerError),
    /// Reading the frames (an interrupted download) or writing the blob failed.
    #[error("streaming the layer blob: {0}")]
    Io(io::Error),
}

/// A blocking `Read` over the body frames sent by the download side (tokio-util's bridge, as
/// the engine's other streamed uploads use): an `Err` item ends the stream with that error (an
/// interrupted download), a closed channel is the end of the blob. Made inside the runtime,
/// read on a blocking thread.
pub(crate) fn frame_reader(rx: mpsc::Receiver<io::Result<Bytes>>) -> impl Read + Send {
    let frames = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|frame| (frame, rx))
    });
    SyncIoBridge::new(StreamReader::new(Box::pin(frames)))
}

/// Copies every byte read through it into the blob being written.
struct Tee<'a, R> {
    inner: R,
    blob: &'a mut BlobWriter,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.blob.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// The blocking side of a streamed layer: stores the blob read from `frames` through `blob`
/// and unpacks it into a staging directory of `layers`, verifying the blob against `digest`
/// and the layer against `diff_id`. The blob is committed (without fsync: the pull's `syncfs`
/// covers it); the staged layer is returned for the caller to commit.
///
/// When both fail, the blob's own error wins (too large, wrong digest): a blob that is not the
/// one the manifest names says more than the unpacker choking on it.
pub(crate) fn store_and_unpack(
    frames: impl Read,
    mut blob: BlobWriter,
    digest: &Digest,
    diff_id: &Digest,
    layers: &LayerStore,
    opts: &UnpackOptions,
) -> Result<StagedLayer, StreamError> {
    let mut tee = Tee {
        inner: frames,
        blob: &mut blob,
    };
    let staged = layers.unpack_staged(diff_id, &mut tee, opts);
    // The tar may end before the blob does (padding, trailing gzip members, a failed unpack):
    // the rest still goes into the blob so its digest covers every byte.
    let drained = io::copy(&mut tee, &mut io::sink());
    if blob.exceeded() {
        return Err(StreamError::TooLarge {
            limit: blob.limit(),
        });
    }
    if let Err(e) = drained {
        return Err(StreamError::Io(e));
    }
    blob.commit_deferred(Some(digest))?;
    Ok(staged?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_read_in_order_and_errors_end_the_stream() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let _in_runtime = rt.enter();
        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Ok(Bytes::from_static(b"hel"))).unwrap();
        tx.try_send(Ok(Bytes::new())).unwrap();
        tx.try_send(Ok(Bytes::from_static(b"lo"))).unwrap();
        drop(tx);
        let mut out = String::new();
        frame_reader(rx).read_to_string(&mut out).unwrap();
        assert_eq!(out, "hello");

        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Ok(Bytes::from_static(b"x"))).unwrap();
        tx.try_send(Err(io::Error::other("connection reset")))
            .unwrap();
        let mut out = Vec::new();
        let e = frame_reader(rx).read_to_end(&mut out).unwrap_err();
        assert!(e.to_string().contains("connection reset"), "{e}");
    }
}
