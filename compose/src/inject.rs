//! Secrets and configs that cannot be a plain read-only bind (an `environment:` or `content:`
//! source, or a file with `uid`/`gid`/`mode`) are written into the container after it is
//! created and before it starts, as docker compose does: one tar archive holding every file
//! with its owner and mode, extracted at `/` through [`EngineApi::copy_to_container`].
//! [`tar_of`] builds the archive (pure); [`copy_files`] reads host files and makes the call.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::engine_api::{EngineApi, EngineError, FileCopy, FileSource};

/// Why the files could not be put into a container.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InjectError {
    /// A `file:` source could not be read on the host.
    #[error("reading {path} for {target}: {message}")]
    Read {
        path: String,
        target: String,
        message: String,
    },
    /// The archive could not be built (an entry the tar format cannot hold).
    #[error("packing {target}: {message}")]
    Pack { target: String, message: String },
    /// The engine refused the copy.
    #[error("copying secrets and configs into {container}: {source}")]
    Engine {
        container: String,
        source: EngineError,
    },
}

/// A tar archive holding each `(file, content)` at its target (relative to `/`), with its
/// owner and mode, and `mtime` as modification time.
pub fn tar_of(files: &[(&FileCopy, Vec<u8>)], mtime: u64) -> Result<Vec<u8>, InjectError> {
    let mut builder = tar::Builder::new(Vec::new());
    for (file, content) in files {
        let pack = |e: std::io::Error| InjectError::Pack {
            target: file.target.clone(),
            message: e.to_string(),
        };
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(content.len() as u64);
        header.set_mode(file.mode);
        header.set_uid(u64::from(file.uid));
        header.set_gid(u64::from(file.gid));
        header.set_mtime(mtime);
        let path = file.target.trim_start_matches('/');
        builder
            .append_data(&mut header, path, content.as_slice())
            .map_err(pack)?;
    }
    builder.into_inner().map_err(|e| InjectError::Pack {
        target: String::new(),
        message: e.to_string(),
    })
}

/// Reads every file's content (host files now) and copies them all into `container` at `/`.
/// Makes no call when `files` is empty.
pub async fn copy_files(
    engine: &dyn EngineApi,
    container: &str,
    files: &[FileCopy],
) -> Result<(), InjectError> {
    if files.is_empty() {
        return Ok(());
    }
    let mut contents = Vec::with_capacity(files.len());
    for f in files {
        let bytes = match &f.source {
            FileSource::Content(text) => text.as_bytes().to_vec(),
            FileSource::HostFile(path) => {
                tokio::fs::read(path).await.map_err(|e| InjectError::Read {
                    path: path.clone(),
                    target: f.target.clone(),
                    message: e.to_string(),
                })?
            }
        };
        contents.push((f, bytes));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let tar = tar_of(&contents, now)?;
    engine
        .copy_to_container(container, "/", tar)
        .await
        .map_err(|source| InjectError::Engine {
            container: container.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::engine_api::{ContainerSpec, FakeEngine};

    fn file(target: &str, source: FileSource, uid: u32, mode: u32) -> FileCopy {
        FileCopy {
            target: target.to_owned(),
            source,
            uid,
            gid: uid + 1,
            mode,
        }
    }

    /// (path, uid, gid, mode, content) of every entry.
    fn entries(tar: &[u8]) -> Vec<(String, u64, u64, u32, String)> {
        let mut archive = tar::Archive::new(tar);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let h = e.header().clone();
                let mut text = String::new();
                e.read_to_string(&mut text).unwrap();
                let path = e.path().unwrap().display().to_string();
                (
                    path,
                    h.uid().unwrap(),
                    h.gid().unwrap(),
                    h.mode().unwrap(),
                    text,
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn files_reach_the_container_in_one_tar_with_owner_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        std::fs::write(&key, "KEY").unwrap();
        let engine = FakeEngine::new();
        let spec = ContainerSpec {
            name: "app-a-1".into(),
            ..ContainerSpec::default()
        };
        engine.create_container(&spec).await.unwrap();
        let files = [
            file(
                "/run/secrets/token",
                FileSource::Content("s3cret".into()),
                0,
                0o444,
            ),
            file(
                "/etc/key.pem",
                FileSource::HostFile(key.display().to_string()),
                1000,
                0o400,
            ),
        ];
        copy_files(&engine, "app-a-1", &files).await.unwrap();
        let copies = engine.copies();
        assert_eq!(copies.len(), 1, "one call for all files");
        let (name, dir_in, tar) = &copies[0];
        assert_eq!((name.as_str(), dir_in.as_str()), ("app-a-1", "/"));
        assert_eq!(
            entries(tar),
            [
                ("run/secrets/token".into(), 0, 1, 0o444, "s3cret".into()),
                ("etc/key.pem".into(), 1000, 1001, 0o400, "KEY".into()),
            ]
        );
        copy_files(&engine, "app-a-1", &[]).await.unwrap();
        assert_eq!(engine.copies().len(), 1, "no call without files");
    }

    #[tokio::test]
    async fn a_missing_host_file_says_which_and_copies_nothing() {
        let engine = FakeEngine::new();
        let files = [file(
            "/etc/k",
            FileSource::HostFile("/nonexistent/berth-key".into()),
            0,
            0o400,
        )];
        let err = copy_files(&engine, "x", &files).await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with("reading /nonexistent/berth-key for /etc/k:"),
            "{err}"
        );
        assert!(engine.copies().is_empty());
    }

    #[test]
    fn long_targets_fit_in_the_archive() {
        let long = format!("/{}/secret", "d".repeat(150));
        let f = file(&long, FileSource::Content("x".into()), 0, 0o444);
        let tar = tar_of(&[(&f, b"x".to_vec())], 0).unwrap();
        assert_eq!(entries(&tar)[0].0, long.trim_start_matches('/'));
    }
}
