//! Decoders of the engine's streaming answers: Docker's multiplexed log frames and
//! newline-delimited JSON (events, pull progress). Pure, fed with byte chunks as they arrive.

use bytes::{Buf, Bytes, BytesMut};
use serde::de::DeserializeOwned;

/// One piece of container output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogOutput {
    /// Standard output.
    StdOut(Bytes),
    /// Standard error.
    StdErr(Bytes),
    /// Standard input echo (stream 0).
    StdIn(Bytes),
    /// Raw terminal output of a TTY container (no framing).
    Console(Bytes),
}

/// Splits Docker's framed log stream (`[stream, 0, 0, 0, len u32 BE]` + payload).
#[derive(Debug, Default)]
pub struct Demuxer {
    buf: BytesMut,
}

impl Demuxer {
    /// Adds received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame, if one has fully arrived.
    pub fn next_frame(&mut self) -> Option<LogOutput> {
        if self.buf.len() < 8 {
            return None;
        }
        let len = u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize;
        if self.buf.len() < 8 + len {
            return None;
        }
        let kind = self.buf[0];
        self.buf.advance(8);
        let data = self.buf.split_to(len).freeze();
        Some(match kind {
            0 => LogOutput::StdIn(data),
            2 => LogOutput::StdErr(data),
            _ => LogOutput::StdOut(data),
        })
    }

    /// Bytes of an incomplete frame left at the end of the stream.
    pub fn leftover(&self) -> usize {
        self.buf.len()
    }
}

/// Whether `first` bytes of a log answer look like a Docker frame header (used when the engine
/// does not say whether the stream is multiplexed, as engines before API 1.42 do).
pub fn looks_multiplexed(first: &[u8]) -> bool {
    first.len() >= 8 && first[0] <= 2 && first[1..4] == [0, 0, 0]
}

/// Splits newline-delimited JSON into values of `T`.
#[derive(Debug, Default)]
pub struct JsonLines {
    buf: BytesMut,
}

impl JsonLines {
    /// Adds received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete value; `None` until a full line has arrived. Blank lines are skipped.
    pub fn next_value<T: DeserializeOwned>(&mut self) -> Option<Result<T, serde_json::Error>> {
        loop {
            let pos = self.buf.iter().position(|b| *b == b'\n')?;
            let line = self.buf.split_to(pos + 1);
            let text = line.trim_ascii();
            if !text.is_empty() {
                return Some(serde_json::from_slice(text));
            }
        }
    }

    /// The value of a last line that had no newline, at the end of the stream.
    pub fn finish<T: DeserializeOwned>(&mut self) -> Option<Result<T, serde_json::Error>> {
        let rest = std::mem::take(&mut self.buf);
        let text = rest.trim_ascii();
        (!text.is_empty()).then(|| serde_json::from_slice(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demuxer_reassembles_frames_split_across_chunks() {
        let wire = b"\x01\x00\x00\x00\x00\x00\x00\x03out\x02\x00\x00\x00\x00\x00\x00\x04err!";
        let mut d = Demuxer::default();
        let mut got = Vec::new();
        for byte in wire.chunks(3) {
            d.push(byte);
            while let Some(f) = d.next_frame() {
                got.push(f);
            }
        }
        assert_eq!(
            got,
            [
                LogOutput::StdOut(Bytes::from_static(b"out")),
                LogOutput::StdErr(Bytes::from_static(b"err!"))
            ]
        );
        assert_eq!(d.leftover(), 0);
        assert!(looks_multiplexed(wire));
        assert!(!looks_multiplexed(b"plain text output"));
    }

    #[test]
    fn json_lines_wait_for_full_lines() {
        let mut j = JsonLines::default();
        j.push(b"{\"a\":1}\n\n{\"a\"");
        assert_eq!(
            j.next_value::<serde_json::Value>().unwrap().unwrap()["a"],
            1
        );
        assert!(j.next_value::<serde_json::Value>().is_none());
        j.push(b":2}");
        assert_eq!(j.finish::<serde_json::Value>().unwrap().unwrap()["a"], 2);
    }
}
