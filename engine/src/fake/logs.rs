//! Container output in the fake engine: what tests write with [`FakeBackend::append_log`], read
//! back by logs (history, tail, timestamps, follow) and attach (live until the container stops).

use std::time::SystemTime;

use bytes::Bytes;
use futures_util::stream;

use super::{FakeBackend, Status, TimedChunk, resolve_container, util};
use crate::backend::{
    AttachOptions, Attachment, BackendResult, BoxStream, LogChunk, LogSource, LogsOptions,
};

impl FakeBackend {
    /// Appends output to a container's log, as its process would (used by tests).
    pub fn append_log(&self, id: &str, source: LogSource, data: &[u8]) -> BackendResult<()> {
        let mut st = self.lock();
        let id = resolve_container(&st, id)?;
        let c = st.containers.get_mut(&id).expect("resolved id exists");
        let chunk = LogChunk {
            source,
            data: Bytes::copy_from_slice(data),
        };
        let timed = (SystemTime::now(), chunk);
        c.logs.push(timed.clone());
        // No live readers is not an error.
        let _ = c.live_logs.send(timed);
        Ok(())
    }

    pub(super) fn container_logs_impl(
        &self,
        id: &str,
        opts: LogsOptions,
    ) -> BackendResult<BoxStream<BackendResult<LogChunk>>> {
        let st = self.lock();
        let id = resolve_container(&st, id)?;
        let c = &st.containers[&id];
        let wanted = move |(_, chunk): &TimedChunk| match chunk.source {
            LogSource::Stdout => opts.stdout,
            LogSource::Stderr => opts.stderr,
        };
        let render = move |(time, chunk): TimedChunk| match opts.timestamps {
            true => {
                let mut data = format!("{} ", util::rfc3339(time)).into_bytes();
                data.extend_from_slice(&chunk.data);
                Ok(LogChunk {
                    source: chunk.source,
                    data: data.into(),
                })
            }
            false => Ok(chunk),
        };
        // The fake's tail counts writes; tests write one line at a time.
        let mut history: Vec<TimedChunk> = c.logs.iter().filter(|c| wanted(c)).cloned().collect();
        if let Some(n) = opts.tail {
            history.drain(..history.len().saturating_sub(n));
        }
        let history = stream::iter(history.into_iter().map(render));
        if !opts.follow || !matches!(c.status, Status::Running | Status::Paused) {
            return Ok(Box::pin(history));
        }
        let live = util::follow_logs(c.live_logs.subscribe(), c.lifecycle.subscribe(), wanted);
        let live = futures_util::StreamExt::map(live, render);
        Ok(Box::pin(futures_util::StreamExt::chain(history, live)))
    }

    pub(super) fn attach_container_impl(
        &self,
        id: &str,
        opts: AttachOptions,
    ) -> BackendResult<Attachment> {
        let st = self.lock();
        let id = resolve_container(&st, id)?;
        let c = &st.containers[&id];
        let wanted = move |(_, chunk): &TimedChunk| match chunk.source {
            LogSource::Stdout => opts.stdout,
            LogSource::Stderr => opts.stderr,
        };
        let history: Vec<BackendResult<LogChunk>> = match opts.logs {
            true => c
                .logs
                .iter()
                .filter(|c| wanted(c))
                .map(|(_, chunk)| Ok(chunk.clone()))
                .collect(),
            false => Vec::new(),
        };
        let live = util::follow_logs(c.live_logs.subscribe(), c.lifecycle.subscribe(), wanted);
        let live = futures_util::StreamExt::map(live, |(_, chunk)| Ok(chunk));
        // The fake has no process: input is accepted and dropped.
        let stdin: Option<std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>> =
            opts.stdin.then(|| Box::pin(tokio::io::sink()) as _);
        Ok(Attachment {
            output: Box::pin(futures_util::StreamExt::chain(stream::iter(history), live)),
            stdin,
            tty: c.body.config.tty,
        })
    }
}
