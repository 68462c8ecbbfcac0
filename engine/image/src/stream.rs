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

/// A `Read` over the body frames sent by the download side; an `Err` item ends the stream
/// with that error (an interrupted download), a closed channel is the end of the blob.
pub(crate) struct FrameReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    chunk: Bytes,
}

impl FrameReader {
    pub(crate) fn new(rx: mpsc::Receiver<io::Result<Bytes>>) -> FrameReader {
        FrameReader {
            rx,
            chunk: Bytes::new(),
        }
    }
}

impl Read for FrameReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.chunk = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk = self.chunk.slice(n..);
        Ok(n)
    }
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
    frames: FrameReader,
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
        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Ok(Bytes::from_static(b"hel"))).unwrap();
        tx.try_send(Ok(Bytes::new())).unwrap();
        tx.try_send(Ok(Bytes::from_static(b"lo"))).unwrap();
        drop(tx);
        let mut out = String::new();
        FrameReader::new(rx).read_to_string(&mut out).unwrap();
        assert_eq!(out, "hello");

        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Ok(Bytes::from_static(b"x"))).unwrap();
        tx.try_send(Err(io::Error::other("connection reset")))
            .unwrap();
        let mut out = Vec::new();
        let e = FrameReader::new(rx).read_to_end(&mut out).unwrap_err();
        assert!(e.to_string().contains("connection reset"), "{e}");
    }
}
