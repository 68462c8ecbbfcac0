//! Container file access for the typed client: `PUT /containers/{id}/archive` (copy into a
//! container), and the archive reads, exports and changes built on the same endpoints.

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Response};

use super::{Client, ClientError, ClientResult, body_chunks, query};
use crate::backend::{BoxStream, PathStat};

/// The [`PathStat`] in an answer's `X-Docker-Container-Path-Stat` header.
fn path_stat(resp: &Response<Incoming>) -> ClientResult<PathStat> {
    let bad =
        |why: &str| ClientError::Stream(format!("bad X-Docker-Container-Path-Stat header: {why}"));
    let value = resp
        .headers()
        .get("x-docker-container-path-stat")
        .ok_or_else(|| bad("missing"))?
        .to_str()
        .map_err(|_| bad("not text"))?;
    let json = berth_image::auth::base64_decode(value).ok_or_else(|| bad("not base64"))?;
    Ok(serde_json::from_slice(&json)?)
}

impl Client {
    /// Extracts the tar archive `tar` into the directory `path` inside container `id`
    /// (`PUT /containers/{id}/archive?path=…`); ownership and modes come from the tar headers.
    pub async fn put_archive(&self, id: &str, path: &str, tar: Vec<u8>) -> ClientResult<()> {
        self.put_archive_with(id, path, tar, false, false).await
    }

    /// [`Client::put_archive`] with Docker's options: `no_overwrite_dir_non_dir` refuses to
    /// replace a directory by a file and the other way round, `copy_uid_gid` gives every entry
    /// the container user's uid/gid.
    pub async fn put_archive_with(
        &self,
        id: &str,
        path: &str,
        tar: Vec<u8>,
        no_overwrite_dir_non_dir: bool,
        copy_uid_gid: bool,
    ) -> ClientResult<()> {
        let mut q = vec![("path", path.to_owned())];
        if no_overwrite_dir_non_dir {
            q.push(("noOverwriteDirNonDir", "1".to_owned()));
        }
        if copy_uid_gid {
            q.push(("copyUIDGID", "1".to_owned()));
        }
        let uri = format!("/v{}/containers/{id}/archive?{}", self.version, query(&q));
        let resp = self
            .request_body(
                Method::PUT,
                &uri,
                Bytes::from(tar),
                Some("application/x-tar"),
                &[],
            )
            .await?;
        resp.into_body().collect().await?;
        Ok(())
    }

    /// `HEAD /containers/{id}/archive?path=…`: what is at `path` in container `id` (a symlink
    /// is described itself, with `link_target` the path it resolves to).
    pub async fn stat_path(&self, id: &str, path: &str) -> ClientResult<PathStat> {
        let q = query([("path", path)]);
        let resp = self
            .request(Method::HEAD, &format!("/containers/{id}/archive"), &q, None)
            .await?;
        path_stat(&resp)
    }

    /// `GET /containers/{id}/archive?path=…`: the stat of `path` and a tar stream of it (its
    /// base name is the top entry; `dir/.` gives the directory's contents under `./`).
    pub async fn get_archive(
        &self,
        id: &str,
        path: &str,
    ) -> ClientResult<(PathStat, BoxStream<ClientResult<Bytes>>)> {
        let q = query([("path", path)]);
        let resp = self
            .request(Method::GET, &format!("/containers/{id}/archive"), &q, None)
            .await?;
        let stat = path_stat(&resp)?;
        Ok((stat, body_chunks(resp)))
    }
}
