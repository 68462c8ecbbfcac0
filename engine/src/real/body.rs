//! Request bodies streamed into synchronous readers (`docker cp` into a container, `docker
//! load`, `docker import`): the async body is bridged to `std::io::Read` on a blocking thread,
//! never buffered whole.
//!
//! Why this is a module of its own: the tar readers behind these endpoints stop at the tar's
//! end-of-archive blocks, but a client may still be sending what follows (GNU tar pads an
//! archive to a 10 KiB record; a refused tar has the rest unread). An answer sent before the
//! body is read closes the connection with data unread, and the client then reports "broken
//! pipe" instead of the answer. [`RequestBody::consume`] reads the rest (bounded) after the
//! reader is done, whatever it returned.

use std::io::Read;

use bytes::Bytes;
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::backend::ByteStream;

/// How much of a body is read after its reader stopped before the answer is sent.
const DRAIN_LIMIT: u64 = 1 << 20;

/// A blocking reader over a streamed request body; made inside the runtime, read on a
/// blocking thread.
pub(super) struct RequestBody(SyncIoBridge<StreamReader<ByteStream, Bytes>>);

impl RequestBody {
    /// Bridges `source`; must be called inside the runtime.
    pub(super) fn new(source: ByteStream) -> RequestBody {
        RequestBody(SyncIoBridge::new(StreamReader::new(source)))
    }

    /// Runs `read` on the body, then reads what is left of it (up to 1 MiB) so the answer
    /// never races the client's last writes; returns what `read` returned.
    pub(super) fn consume<T>(mut self, read: impl FnOnce(&mut Self) -> T) -> T {
        let out = read(&mut self);
        let _ = std::io::copy(&mut (&mut self).take(DRAIN_LIMIT), &mut std::io::sink());
        out
    }
}

impl Read for RequestBody {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures_util::StreamExt as _;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn consume_reads_what_the_reader_left_and_returns_its_result() {
        // A tar-like body: 1 KiB the reader wants, then 10 KiB of padding in small frames.
        let sent = Arc::new(AtomicUsize::new(0));
        let counter = sent.clone();
        let frames =
            std::iter::once(vec![1u8; 1024]).chain(std::iter::repeat_n(vec![0u8; 512], 20));
        let stream = futures_util::stream::iter(frames).map(move |f| {
            counter.fetch_add(f.len(), Ordering::SeqCst);
            Ok::<_, std::io::Error>(Bytes::from(f))
        });
        let body = RequestBody::new(Box::pin(stream));
        let got = tokio::task::spawn_blocking(move || {
            body.consume(|r| {
                let mut head = [0u8; 1024];
                r.read_exact(&mut head)
                    .map(|()| head.iter().all(|&b| b == 1))
            })
        })
        .await
        .unwrap();
        assert!(got.unwrap(), "the reader saw its bytes");
        assert_eq!(
            sent.load(Ordering::SeqCst),
            1024 + 20 * 512,
            "the padding was read too"
        );
    }
}
