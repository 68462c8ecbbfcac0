//! `docker import`: a root filesystem tarball becomes a one-layer image (gzip layer blob, OCI
//! config with the diff-id, manifest), with Dockerfile-style `--change` instructions applied to
//! the config.

use std::collections::HashMap;
use std::io::{self, Read};
use std::time::{SystemTime, UNIX_EPOCH};

use oci_spec::image::Config;
use serde_json::json;

use crate::digest::{Algorithm, HashingReader};
use crate::images::{ImageError, ImageStore, ImageSummary};
use crate::reference::Reference;
use crate::store::StoreError;
use crate::unpack::decompress;

/// Largest rootfs tarball accepted by import (compressed blob size).
pub const MAX_IMPORT_SIZE: u64 = 32 << 30;

/// Errors of import and of `--change` parsing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// An instruction import does not support (RUN, COPY, …) or an unknown word.
    #[error("unsupported --change instruction {0:?}")]
    Unsupported(String),
    /// A supported instruction with bad arguments.
    #[error("invalid --change {change:?}: {reason}")]
    Invalid {
        /// The instruction.
        change: String,
        /// Why.
        reason: String,
    },
    /// Reading the rootfs or compressing it failed.
    #[error("read rootfs: {0}")]
    Read(#[source] io::Error),
}

/// Options of [`ImageStore::import`].
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Name to give the image (`:latest` is added when no tag is given).
    pub reference: Option<String>,
    /// Dockerfile-style instructions (`CMD ["sh"]`, `ENV A=b`, …).
    pub changes: Vec<String>,
    /// Commit message recorded in the history.
    pub message: Option<String>,
    /// RFC 3339 creation time; defaults to now.
    pub created: Option<String>,
}

fn invalid(change: &str, reason: impl Into<String>) -> ImportError {
    ImportError::Invalid {
        change: change.to_owned(),
        reason: reason.into(),
    }
}

fn json_or_shell(change: &str, arg: &str) -> Result<Vec<String>, ImportError> {
    if arg.starts_with('[') {
        serde_json::from_str::<Vec<String>>(arg).map_err(|e| invalid(change, e.to_string()))
    } else if arg.is_empty() {
        Err(invalid(change, "missing argument"))
    } else {
        Ok(vec!["/bin/sh".into(), "-c".into(), arg.to_owned()])
    }
}

fn unquote(s: &str) -> String {
    let b = s.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        s[1..s.len() - 1].to_owned()
    } else {
        s.to_owned()
    }
}

/// Splits `k=v k2="v 2"` into pairs, or the legacy `k v w` form into one pair.
fn key_values(change: &str, arg: &str) -> Result<Vec<(String, String)>, ImportError> {
    let first = arg.split_whitespace().next().unwrap_or("");
    if !first.contains('=') {
        let (k, v) = arg
            .split_once(char::is_whitespace)
            .ok_or_else(|| invalid(change, "expected KEY=VALUE or KEY VALUE"))?;
        return Ok(vec![(k.to_owned(), unquote(v.trim()))]);
    }
    let mut out = Vec::new();
    let mut rest = arg.trim();
    while !rest.is_empty() {
        let (k, after) = rest
            .split_once('=')
            .ok_or_else(|| invalid(change, format!("{rest:?} is not KEY=VALUE")))?;
        let (v, tail) = if let Some(q) = after.strip_prefix('"') {
            let end = q
                .find('"')
                .ok_or_else(|| invalid(change, "unterminated quote"))?;
            (q[..end].to_owned(), &q[end + 1..])
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (after[..end].to_owned(), &after[end..])
        };
        if k.is_empty() || k.contains(char::is_whitespace) {
            return Err(invalid(change, format!("bad key {k:?}")));
        }
        out.push((k.to_owned(), v));
        rest = tail.trim_start();
    }
    Ok(out)
}

fn ports(change: &str, arg: &str, mut all: Vec<String>) -> Result<Vec<String>, ImportError> {
    for p in arg.split_whitespace() {
        let (num, proto) = p.split_once('/').unwrap_or((p, "tcp"));
        let proto = proto.to_ascii_lowercase();
        let bad_num = num.parse::<u16>().map_or(true, |n| n == 0);
        if bad_num || !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
            return Err(invalid(change, format!("bad port {p:?}")));
        }
        let spec = format!("{num}/{proto}");
        if !all.contains(&spec) {
            all.push(spec);
        }
    }
    Ok(all)
}

/// Applies one `--change` instruction to an image config.
pub fn apply_change(cfg: &mut Config, change: &str) -> Result<(), ImportError> {
    let change = change.trim();
    let (word, arg) = change
        .split_once(char::is_whitespace)
        .map_or((change, ""), |(w, a)| (w, a.trim()));
    let word = word.to_ascii_uppercase();
    let needs_arg = matches!(
        word.as_str(),
        "WORKDIR" | "USER" | "STOPSIGNAL" | "EXPOSE" | "VOLUME" | "ENV" | "LABEL"
    );
    if needs_arg && arg.is_empty() {
        return Err(invalid(change, "missing argument"));
    }
    match word.as_str() {
        "CMD" => {
            cfg.set_cmd(Some(json_or_shell(change, arg)?));
        }
        "ENTRYPOINT" => {
            cfg.set_entrypoint(Some(json_or_shell(change, arg)?));
        }
        "ENV" => {
            let mut env = cfg.env().clone().unwrap_or_default();
            for (k, v) in key_values(change, arg)? {
                env.retain(|e| e.split_once('=').map_or(e.as_str(), |(ek, _)| ek) != k);
                env.push(format!("{k}={v}"));
            }
            cfg.set_env(Some(env));
        }
        "LABEL" => {
            let mut labels: HashMap<String, String> = cfg.labels().clone().unwrap_or_default();
            for (k, v) in key_values(change, arg)? {
                labels.insert(unquote(&k), v);
            }
            cfg.set_labels(Some(labels));
        }
        "WORKDIR" => {
            cfg.set_working_dir(Some(unquote(arg)));
        }
        "USER" => {
            cfg.set_user(Some(unquote(arg)));
        }
        "STOPSIGNAL" => {
            cfg.set_stop_signal(Some(arg.to_owned()));
        }
        "EXPOSE" => {
            let all = ports(change, arg, cfg.exposed_ports().clone().unwrap_or_default())?;
            cfg.set_exposed_ports(Some(all));
        }
        "VOLUME" => {
            let vols = if arg.starts_with('[') {
                serde_json::from_str::<Vec<String>>(arg)
                    .map_err(|e| invalid(change, e.to_string()))?
            } else {
                arg.split_whitespace().map(str::to_owned).collect()
            };
            let mut all = cfg.volumes().clone().unwrap_or_default();
            for v in vols {
                if !all.contains(&v) {
                    all.push(v);
                }
            }
            cfg.set_volumes(Some(all));
        }
        _ => return Err(ImportError::Unsupported(change.to_owned())),
    }
    Ok(())
}

/// Formats seconds since the epoch as RFC 3339 UTC.
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Docker's name for the running architecture.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

impl ImageStore {
    /// Imports a root filesystem tarball (plain, gzip or zstd) as a one-layer image.
    pub fn import(
        &self,
        reader: impl Read,
        opts: &ImportOptions,
    ) -> Result<ImageSummary, ImageError> {
        let name = opts
            .reference
            .as_deref()
            .map(Reference::parse_normalized)
            .transpose()?;
        let mut cfg = Config::default();
        for c in &opts.changes {
            apply_change(&mut cfg, c)?;
        }
        let _ingest = self.ingest_guard();
        let plain = decompress(reader).map_err(ImportError::Read)?;
        let mut hashing = HashingReader::new(plain, Algorithm::Sha256);
        let writer = self.content().writer(Algorithm::Sha256, MAX_IMPORT_SIZE)?;
        let mut gz = flate2::write::GzEncoder::new(writer, flate2::Compression::default());
        if let Err(e) = io::copy(&mut hashing, &mut gz) {
            return Err(if gz.get_ref().exceeded() {
                StoreError::TooLarge {
                    limit: MAX_IMPORT_SIZE,
                }
                .into()
            } else {
                ImportError::Read(e).into()
            });
        }
        let (diff_id, _) = hashing.finish();
        let (layer, layer_size) = gz.finish().map_err(ImportError::Read)?.commit(None)?;
        let created = opts.created.clone().unwrap_or_else(|| {
            rfc3339(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
            )
        });
        let config = json!({
            "created": created,
            "architecture": go_arch(),
            "os": "linux",
            "config": cfg,
            "rootfs": { "type": "layers", "diff_ids": [diff_id.to_string()] },
            "history": [{
                "created": created,
                "created_by": "berth import",
                "comment": opts.message.clone().unwrap_or_else(|| "Imported from tarball".into()),
            }],
        });
        let config_bytes = serde_json::to_vec(&config).expect("config serializes");
        let config_digest = self.content().put_bytes(&config_bytes)?;
        let layer = json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": layer.to_string(),
            "size": layer_size,
        });
        let manifest_digest = self.put_manifest(&config_digest, config_bytes.len(), vec![layer])?;
        let names: Vec<Reference> = name.into_iter().collect();
        self.commit_image(&manifest_digest, &names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_every_supported_change() {
        let mut c = Config::default();
        for ch in [
            r#"CMD ["sh", "-c", "echo hi"]"#,
            "ENTRYPOINT /bin/init --flag",
            "ENV A=1 B=\"two words\"",
            "env A=3",
            "ENV LEGACY some value",
            "WORKDIR /srv",
            "EXPOSE 80 53/udp",
            "USER 1000:1000",
            "LABEL org.x=y \"quoted.key\"=z",
            r#"VOLUME ["/data"]"#,
            "VOLUME /cache /logs",
            "STOPSIGNAL SIGQUIT",
        ] {
            apply_change(&mut c, ch).unwrap_or_else(|e| panic!("{ch}: {e}"));
        }
        assert_eq!(c.cmd().as_deref().unwrap(), ["sh", "-c", "echo hi"]);
        assert_eq!(
            c.entrypoint().as_deref().unwrap(),
            ["/bin/sh", "-c", "/bin/init --flag"]
        );
        assert_eq!(
            c.env().as_deref().unwrap(),
            ["B=two words", "A=3", "LEGACY=some value"]
        );
        assert_eq!(c.working_dir().as_deref(), Some("/srv"));
        assert_eq!(c.exposed_ports().as_deref().unwrap(), ["80/tcp", "53/udp"]);
        assert_eq!(c.user().as_deref(), Some("1000:1000"));
        let labels = c.labels().clone().unwrap();
        assert_eq!(labels["org.x"], "y");
        assert_eq!(labels["quoted.key"], "z");
        assert_eq!(
            c.volumes().as_deref().unwrap(),
            ["/data", "/cache", "/logs"]
        );
        assert_eq!(c.stop_signal().as_deref(), Some("SIGQUIT"));
    }

    #[test]
    fn refuses_bad_changes() {
        let mut c = Config::default();
        for ch in [
            "RUN echo",
            "COPY a b",
            "EXPOSE 0",
            "EXPOSE 80/xyz",
            "EXPOSE 99999",
            "CMD [\"unterminated\"",
            "WORKDIR",
            "ENV novalue",
            "ENV A=\"open",
        ] {
            assert!(apply_change(&mut c, ch).is_err(), "{ch} accepted");
        }
    }

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
