//! Decompression of layer and archive streams (plain, gzip, zstd, told by their magic bytes)
//! and the guards the unpacker puts around it: a count of the compressed bytes read and a cap on
//! the decompression ratio, so a small blob cannot expand without bound.

use std::cell::Cell;
use std::io::{self, BufRead, BufReader, Read};
use std::rc::Rc;

use crate::unpack::{Limits, UnpackError};

/// Read buffer of the compressed stream: large reads keep the inflater's calls few.
const INPUT_BUFFER: usize = 256 << 10;

/// Compression of a layer stream, detected by magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
}

impl Compression {
    /// Detects compression from the first bytes of a stream.
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// Wraps `reader` in the decompressor its magic bytes call for.
pub fn decompress<'a>(reader: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
    let mut buf = BufReader::with_capacity(INPUT_BUFFER, reader);
    let kind = Compression::detect(buf.fill_buf()?);
    Ok(match kind {
        Compression::None => Box::new(buf),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buf)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(buf)?),
    })
}

pub(crate) struct Counting<R> {
    pub(crate) inner: R,
    pub(crate) count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

#[derive(Debug)]
struct Bomb;

impl std::fmt::Display for Bomb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("decompression ratio exceeded")
    }
}

impl std::error::Error for Bomb {}

pub(crate) struct RatioGuard<R> {
    pub(crate) inner: R,
    pub(crate) compressed: Rc<Cell<u64>>,
    pub(crate) out: u64,
    pub(crate) ratio: u64,
    pub(crate) slack: u64,
}

impl<R: Read> Read for RatioGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out += n as u64;
        let allowed = self
            .compressed
            .get()
            .saturating_mul(self.ratio)
            .saturating_add(self.slack);
        if self.out > allowed {
            return Err(io::Error::other(Bomb));
        }
        Ok(n)
    }
}

pub(crate) fn archive_err(limits: &Limits) -> impl Fn(io::Error) -> UnpackError + '_ {
    move |e| {
        if e.get_ref().is_some_and(|i| i.is::<Bomb>()) {
            UnpackError::DecompressionBomb {
                limit: limits.max_ratio,
            }
        } else {
            UnpackError::Archive(e)
        }
    }
}
