//! json-file log options (`--log-opt`, compose `logging.options`, daemon.json `log-opts`):
//! which are honoured and how they become the shim's rotation limits. `max-size` and
//! `max-file` rotate the log (`berth_runtime::json_log`); the other options Docker's json-file
//! driver knows (`compress`, `labels`, `env`, `tag`, `mode`, …) are accepted and have no
//! effect; any other option is refused at create, as Docker does.

use std::collections::BTreeMap;

use berth_runtime::json_log::Rotation;

use super::RealBackend;
use crate::api::models::HostConfig;
use crate::backend::{BackendError, BackendResult};
use crate::config::parse_size;

/// Options of Docker's json-file driver that are accepted without effect.
const INERT: [&str; 6] = [
    "compress",
    "labels",
    "labels-regex",
    "env",
    "env-regex",
    "tag",
];

/// The rotation of a log with options `opts`, or why they are refused.
pub fn rotation(opts: &BTreeMap<String, String>) -> Result<Rotation, String> {
    if let Some(unknown) = opts
        .keys()
        .find(|k| !matches!(k.as_str(), "max-size" | "max-file") && !INERT.contains(&k.as_str()))
    {
        return Err(format!(
            "unknown log opt '{unknown}' for json-file log driver"
        ));
    }
    let max_size = match opts.get("max-size") {
        Some(s) => parse_size(s)
            .ok_or_else(|| format!("invalid max-size {s:?}: expected a size such as 10m"))?,
        None => 0,
    };
    let max_files = match opts.get("max-file") {
        Some(_) if max_size == 0 => {
            return Err("max-file can only be set if max-size is set".to_owned());
        }
        Some(n) => n.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
            format!("invalid max-file {n:?}: expected a whole number of at least 1")
        })?,
        None => 1,
    };
    Ok(Rotation {
        max_size,
        max_files,
    })
}

impl RealBackend {
    /// Sets daemon.json's `log-opts`, the defaults every container's own options override.
    pub fn set_log_defaults(&self, opts: &BTreeMap<String, String>) -> Result<(), String> {
        rotation(opts)?;
        *self
            .inner
            .log_defaults
            .write()
            .unwrap_or_else(|e| e.into_inner()) = opts.clone();
        Ok(())
    }

    /// The rotation of a container's log: the daemon's `log-opts` overridden by its
    /// `LogConfig.Config`.
    pub(super) fn log_rotation(&self, host: &HostConfig) -> BackendResult<Rotation> {
        let mut opts = self
            .inner
            .log_defaults
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        opts.extend(host.log_config.config.clone());
        rotation(&opts).map_err(BackendError::invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_become_a_rotation_or_dockers_refusal() {
        let opts = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            rotation(&opts(&[])),
            Ok(Rotation {
                max_size: 0,
                max_files: 1
            })
        );
        assert_eq!(
            rotation(&opts(&[
                ("max-size", "1k"),
                ("max-file", "3"),
                ("compress", "true")
            ])),
            Ok(Rotation {
                max_size: 1024,
                max_files: 3
            })
        );
        assert!(
            rotation(&opts(&[("max-file", "3")]))
                .unwrap_err()
                .contains("only be set if max-size")
        );
        assert!(
            rotation(&opts(&[("max-size", "big")]))
                .unwrap_err()
                .contains("invalid max-size")
        );
        assert!(
            rotation(&opts(&[("max-size", "1k"), ("max-file", "0")]))
                .unwrap_err()
                .contains("invalid max-file")
        );
        assert!(
            rotation(&opts(&[("mode", "non-blocking")]))
                .unwrap_err()
                .contains("unknown log opt 'mode'")
        );
    }
}
