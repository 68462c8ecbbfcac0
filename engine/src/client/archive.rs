//! Container file access for the typed client: `PUT /containers/{id}/archive` (copy into a
//! container), and the archive reads, exports and changes built on the same endpoints.

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::Method;

use super::{Client, ClientResult, query};

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
}
