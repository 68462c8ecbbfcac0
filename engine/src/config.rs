//! The daemon configuration file (`/etc/berth/daemon.json`) with dockerd-compatible keys.
//!
//! [`parse_config`] is pure (text in, typed config or typed error out); [`load_config`] is the
//! thin file-reading shell around it.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// Default location of the configuration file.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/berth/daemon.json";
/// Default data root.
pub const DEFAULT_DATA_ROOT: &str = "/var/lib/berth";
/// Default API socket.
pub const DEFAULT_SOCKET: &str = "/run/berth/berth.sock";

/// An IP network `addr/prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// Address part (for `bip`, the bridge's own address).
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not in CIDR form addr/prefix"))?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{addr:?} is not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| format!("invalid prefix length in {s:?}"))?;
        Ok(Cidr { addr, prefix })
    }
}

/// One entry of `default-address-pools`: split `base` into networks of prefix `size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressPool {
    /// The range to allocate from.
    pub base: Cidr,
    /// Prefix length of each allocated network.
    pub size: u8,
}

/// The daemon's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonConfig {
    /// `data-root`: where images, containers and volumes live (created 0700).
    pub data_root: PathBuf,
    /// `hosts` (first `unix://` entry): the API socket.
    pub socket: PathBuf,
    /// `registry-mirrors`: URLs tried before Docker Hub.
    pub registry_mirrors: Vec<String>,
    /// `insecure-registries`: registries reached over plain HTTP or unverified TLS.
    pub insecure_registries: Vec<String>,
    /// `bip`: address and prefix of the default bridge.
    pub bip: Option<Cidr>,
    /// `default-address-pools`: ranges for user-defined networks.
    pub default_address_pools: Vec<AddressPool>,
    /// `log-opts`: default log driver options.
    pub log_opts: BTreeMap<String, String>,
    /// `live-restore`: keep containers running while the daemon is down.
    pub live_restore: bool,
    /// `debug`: verbose logging.
    pub debug: bool,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            data_root: PathBuf::from(DEFAULT_DATA_ROOT),
            socket: PathBuf::from(DEFAULT_SOCKET),
            registry_mirrors: Vec::new(),
            insecure_registries: Vec::new(),
            bip: None,
            default_address_pools: Vec::new(),
            log_opts: BTreeMap::new(),
            live_restore: false,
            debug: false,
        }
    }
}

/// Why a configuration is refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Not valid JSON.
    #[error("daemon.json is not valid JSON")]
    Syntax(#[source] serde_json::Error),
    /// Valid JSON but not an object.
    #[error("daemon.json must be a JSON object")]
    NotAnObject,
    /// A key berth does not know (a typo, or a dockerd option berth does not support).
    #[error("unknown key {key:?} in daemon.json")]
    UnknownKey {
        /// The key.
        key: String,
    },
    /// A known key with a value of the wrong type or form.
    #[error("invalid value for {key:?} in daemon.json: {reason}")]
    InvalidValue {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

fn invalid(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_owned(),
        reason: reason.into(),
    }
}

fn string(key: &str, v: &Value) -> Result<String, ConfigError> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| invalid(key, "expected a string"))
}

fn strings(key: &str, v: &Value) -> Result<Vec<String>, ConfigError> {
    let list = v
        .as_array()
        .ok_or_else(|| invalid(key, "expected a list of strings"))?;
    list.iter().map(|s| string(key, s)).collect()
}

fn boolean(key: &str, v: &Value) -> Result<bool, ConfigError> {
    v.as_bool()
        .ok_or_else(|| invalid(key, "expected true or false"))
}

fn cidr(key: &str, v: &Value) -> Result<Cidr, ConfigError> {
    string(key, v)?
        .parse()
        .map_err(|reason: String| invalid(key, reason))
}

/// Bytes of a Docker size (`10m`, `512k`, `1g`, `100`; binary units, an optional `b`/`ib`),
/// as daemon.json's `log-opts`, `--log-opt max-size`, `--memory` and `--shm-size` take it.
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim().to_ascii_lowercase();
    let t = t
        .strip_suffix("ib")
        .or_else(|| t.strip_suffix('b'))
        .unwrap_or(&t);
    let (digits, unit) = match t.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => t.split_at(i),
        None => (t, ""),
    };
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return None,
    };
    let value: f64 = digits.parse().ok()?;
    (value >= 0.0).then(|| (value * (1u64 << shift) as f64) as u64)
}

/// Parses the text of `daemon.json`; absent keys keep their defaults.
pub fn parse_config(text: &str) -> Result<DaemonConfig, ConfigError> {
    let value: Value = serde_json::from_str(text).map_err(ConfigError::Syntax)?;
    let Value::Object(map) = value else {
        return Err(ConfigError::NotAnObject);
    };
    from_map(&map)
}

fn from_map(map: &Map<String, Value>) -> Result<DaemonConfig, ConfigError> {
    let mut cfg = DaemonConfig::default();
    for (key, v) in map {
        let k = key.as_str();
        match k {
            "data-root" => {
                let root = PathBuf::from(string(k, v)?);
                if !root.is_absolute() {
                    return Err(invalid(k, "must be an absolute path"));
                }
                cfg.data_root = root;
            }
            "hosts" => {
                let hosts = strings(k, v)?;
                let unix = hosts.iter().find_map(|h| h.strip_prefix("unix://"));
                match unix {
                    Some(p) if p.starts_with('/') => cfg.socket = PathBuf::from(p),
                    _ => {
                        return Err(invalid(
                            k,
                            "berth serves only on a unix:///absolute/path socket",
                        ));
                    }
                }
            }
            "registry-mirrors" => {
                cfg.registry_mirrors = strings(k, v)?;
                if let Some(bad) = cfg
                    .registry_mirrors
                    .iter()
                    .find(|m| !m.starts_with("https://") && !m.starts_with("http://"))
                {
                    return Err(invalid(k, format!("{bad:?} is not an http(s) URL")));
                }
            }
            "insecure-registries" => {
                cfg.insecure_registries = strings(k, v)?;
                if cfg
                    .insecure_registries
                    .iter()
                    .any(|r| r.is_empty() || r.contains("://"))
                {
                    return Err(invalid(
                        k,
                        "entries are host[:port] or CIDR, without a scheme",
                    ));
                }
            }
            "bip" => cfg.bip = Some(cidr(k, v)?),
            "default-address-pools" => {
                let list = v
                    .as_array()
                    .ok_or_else(|| invalid(k, "expected a list of {base, size}"))?;
                cfg.default_address_pools =
                    list.iter().map(|p| pool(k, p)).collect::<Result<_, _>>()?;
            }
            "log-opts" => {
                let obj = v
                    .as_object()
                    .ok_or_else(|| invalid(k, "expected an object of strings"))?;
                cfg.log_opts = obj
                    .iter()
                    .map(|(ok, ov)| Ok((ok.clone(), string(k, ov)?)))
                    .collect::<Result<_, ConfigError>>()?;
            }
            "live-restore" => cfg.live_restore = boolean(k, v)?,
            "debug" => cfg.debug = boolean(k, v)?,
            _ => return Err(ConfigError::UnknownKey { key: key.clone() }),
        }
    }
    Ok(cfg)
}

fn pool(key: &str, v: &Value) -> Result<AddressPool, ConfigError> {
    let obj = v
        .as_object()
        .ok_or_else(|| invalid(key, "each pool is an object {base, size}"))?;
    if let Some(other) = obj.keys().find(|k| *k != "base" && *k != "size") {
        return Err(invalid(key, format!("unknown pool field {other:?}")));
    }
    let base = cidr(
        key,
        obj.get("base")
            .ok_or_else(|| invalid(key, "pool without base"))?,
    )?;
    let size = obj
        .get("size")
        .and_then(Value::as_u64)
        .ok_or_else(|| invalid(key, "pool size must be a number"))?;
    let max = if base.addr.is_ipv4() { 32 } else { 128 };
    if size < u64::from(base.prefix) || size > max {
        return Err(invalid(
            key,
            format!(
                "size {size} must be between the base prefix {} and {max}",
                base.prefix
            ),
        ));
    }
    Ok(AddressPool {
        base,
        size: size as u8,
    })
}

/// Reads and parses `path`; a missing file means the defaults.
pub fn load_config(path: &Path) -> Result<DaemonConfig, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_config(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DaemonConfig::default()),
        Err(source) => Err(ConfigError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_config_parses_every_key() {
        let cfg = parse_config(
            r#"{
                "data-root": "/srv/berth", "hosts": ["unix:///tmp/b.sock"],
                "registry-mirrors": ["https://mirror.test"], "insecure-registries": ["reg.test:5000"],
                "bip": "10.200.0.1/24",
                "default-address-pools": [{"base": "10.201.0.0/16", "size": 24}],
                "log-opts": {"max-size": "10m"}, "live-restore": true, "debug": true
            }"#,
        )
        .unwrap();
        assert_eq!(cfg.data_root, PathBuf::from("/srv/berth"));
        assert_eq!(cfg.socket, PathBuf::from("/tmp/b.sock"));
        assert_eq!(cfg.registry_mirrors, ["https://mirror.test"]);
        assert_eq!(cfg.bip.unwrap().to_string(), "10.200.0.1/24");
        assert_eq!(cfg.default_address_pools[0].size, 24);
        assert_eq!(cfg.log_opts["max-size"], "10m");
        assert!(cfg.live_restore && cfg.debug);
    }

    #[test]
    fn empty_object_gives_defaults() {
        assert_eq!(parse_config("{}").unwrap(), DaemonConfig::default());
    }

    #[test]
    fn errors_are_typed() {
        assert!(matches!(parse_config("{"), Err(ConfigError::Syntax(_))));
        assert!(matches!(parse_config("[]"), Err(ConfigError::NotAnObject)));
        assert!(
            matches!(parse_config(r#"{"data_root": "/x"}"#), Err(ConfigError::UnknownKey { key }) if key == "data_root")
        );
        let bad = [
            r#"{"data-root": "relative"}"#,
            r#"{"bip": "10.0.0.1"}"#,
            r#"{"bip": "10.0.0.1/33"}"#,
            r#"{"live-restore": "yes"}"#,
            r#"{"registry-mirrors": ["mirror.test"]}"#,
            r#"{"default-address-pools": [{"base": "10.0.0.0/16", "size": 8}]}"#,
            r#"{"default-address-pools": [{"base": "10.0.0.0/16", "size": 24, "x": 1}]}"#,
            r#"{"log-opts": {"max-size": 10}}"#,
            r#"{"hosts": ["tcp://0.0.0.0:2375"]}"#,
        ];
        for text in bad {
            assert!(
                matches!(parse_config(text), Err(ConfigError::InvalidValue { .. })),
                "{text}"
            );
        }
    }

    #[test]
    fn missing_file_means_defaults() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            load_config(&dir.path().join("daemon.json")).unwrap(),
            DaemonConfig::default()
        );
        std::fs::write(dir.path().join("daemon.json"), r#"{"debug": true}"#).unwrap();
        assert!(load_config(&dir.path().join("daemon.json")).unwrap().debug);
    }

    #[test]
    fn sizes_are_dockers() {
        for (text, bytes) in [
            ("100", 100),
            ("1k", 1024),
            ("10m", 10 << 20),
            ("10M", 10 << 20),
            ("10mb", 10 << 20),
            ("1GiB", 1 << 30),
            ("1.5k", 1536),
        ] {
            assert_eq!(parse_size(text), Some(bytes), "{text}");
        }
        for bad in ["", "ten", "10x", "-1k"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }
}
