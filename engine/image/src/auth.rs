//! Registry credentials: the `auths` map of `~/.docker/config.json` (base64 `user:password`),
//! read for pulls and pushes and written by `berth login` / `berth logout`, plus the base64 codec
//! both need. The file is read and written whole, atomically; other keys in it are kept.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::reference::DEFAULT_DOMAIN;

/// The key Docker uses for Docker Hub in `auths`.
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// Errors of reading or writing the credentials file.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not the JSON object Docker writes.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// A user name and password (or identity token) for one registry.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// The value of an `Authorization: Basic …` header.
    pub fn basic_header(&self) -> String {
        format!(
            "Basic {}",
            base64_encode(format!("{}:{}", self.username, self.password).as_bytes())
        )
    }

    /// Decodes the `auth` field of a config.json entry (`base64(user:password)`).
    pub fn from_auth_field(field: &str) -> Option<Credentials> {
        let raw = base64_decode(field.trim())?;
        let text = String::from_utf8(raw).ok()?;
        let (u, p) = text.split_once(':')?;
        Some(Credentials {
            username: u.to_owned(),
            password: p.to_owned(),
        })
    }

    /// Decodes Docker's `X-Registry-Auth` header: base64url (or standard) JSON with `username`
    /// and `password` (or `identitytoken`).
    pub fn from_registry_auth_header(value: &str) -> Option<Credentials> {
        let raw = base64_decode(value.trim())?;
        let v: Value = serde_json::from_slice(&raw).ok()?;
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let username = s("username");
        let password = match s("password") {
            p if p.is_empty() => s("identitytoken"),
            p => p,
        };
        (!username.is_empty() || !password.is_empty()).then_some(Credentials { username, password })
    }

    /// Encodes these credentials as an `X-Registry-Auth` header value.
    pub fn to_registry_auth_header(&self, server: &str) -> String {
        let body = serde_json::json!({
            "username": self.username,
            "password": self.password,
            "serveraddress": server,
        });
        base64_encode(body.to_string().as_bytes())
    }
}

/// The `auths` key for a registry domain (`docker.io` → Docker Hub's legacy URL).
pub fn auth_key(domain: &str) -> String {
    if domain == DEFAULT_DOMAIN || domain == "index.docker.io" || domain == "registry-1.docker.io" {
        DOCKER_HUB_AUTH_KEY.to_owned()
    } else {
        domain.to_owned()
    }
}

/// Strips a scheme and path from a `docker login` server argument (`https://reg:5000/v2/`).
pub fn normalize_server(server: &str) -> String {
    let s = server
        .strip_prefix("https://")
        .or_else(|| server.strip_prefix("http://"))
        .unwrap_or(server);
    let host = s.split('/').next().unwrap_or(s);
    if host == "index.docker.io" || host == "registry-1.docker.io" || host.is_empty() {
        DEFAULT_DOMAIN.to_owned()
    } else {
        host.to_owned()
    }
}

/// `~/.docker/config.json`, or `$DOCKER_CONFIG/config.json` (values passed in, never read here).
pub fn config_path(docker_config: Option<&Path>, home: &Path) -> PathBuf {
    docker_config
        .map_or_else(|| home.join(".docker"), Path::to_path_buf)
        .join("config.json")
}

fn read_object(path: &Path) -> Result<Map<String, Value>, AuthError> {
    match std::fs::read(path) {
        Ok(data) if data.iter().all(u8::is_ascii_whitespace) => Ok(Map::new()),
        Ok(data) => match serde_json::from_slice::<Value>(&data) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(AuthError::Invalid {
                path: path.to_owned(),
                reason: "not a JSON object".into(),
            }),
            Err(e) => Err(AuthError::Invalid {
                path: path.to_owned(),
                reason: e.to_string(),
            }),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(source) => Err(AuthError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

fn write_object(path: &Path, obj: Map<String, Value>) -> Result<(), AuthError> {
    let io = |source| AuthError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut data = serde_json::to_vec_pretty(&Value::Object(obj))
        .map_err(std::io::Error::other)
        .map_err(io)?;
    data.push(b'\n');
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    std::io::Write::write_all(&mut tmp, &data).map_err(io)?;
    let mode = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600);
    tmp.as_file().set_permissions(mode).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// The credentials stored for `domain` in the config file at `path`, if any.
pub fn lookup(path: &Path, domain: &str) -> Result<Option<Credentials>, AuthError> {
    let obj = read_object(path)?;
    let key = auth_key(domain);
    let entry = obj.get("auths").and_then(Value::as_object).and_then(|a| {
        a.get(&key)
            .or_else(|| a.get(&format!("https://{key}")))
            .or_else(|| a.get(&format!("http://{key}")))
    });
    Ok(entry
        .and_then(|e| e.get("auth"))
        .and_then(Value::as_str)
        .and_then(Credentials::from_auth_field))
}

/// Stores `creds` for `domain` (what `docker login` writes).
pub fn store(path: &Path, domain: &str, creds: &Credentials) -> Result<(), AuthError> {
    let mut obj = read_object(path)?;
    let auths = obj
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    if !auths.is_object() {
        *auths = Value::Object(Map::new());
    }
    let field = base64_encode(format!("{}:{}", creds.username, creds.password).as_bytes());
    if let Value::Object(a) = auths {
        a.insert(auth_key(domain), serde_json::json!({ "auth": field }));
    }
    write_object(path, obj)
}

/// Removes the entry of `domain`; answers whether there was one.
pub fn erase(path: &Path, domain: &str) -> Result<bool, AuthError> {
    let mut obj = read_object(path)?;
    let key = auth_key(domain);
    let removed = obj
        .get_mut("auths")
        .and_then(Value::as_object_mut)
        .is_some_and(|a| a.remove(&key).is_some());
    if removed {
        write_object(path, obj)?;
    }
    Ok(removed)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard or URL-safe base64, padded or not; `None` on any other character.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_and_matches_known_values() {
        assert_eq!(base64_encode(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64_encode(b"ab"), "YWI=");
        assert_eq!(base64_encode(b"a"), "YQ==");
        for s in [&b""[..], b"a", b"ab", b"abc", b"\xff\xfe\x00hello"] {
            assert_eq!(base64_decode(&base64_encode(s)).unwrap(), s);
        }
        assert_eq!(base64_decode("YWI").unwrap(), b"ab");
        assert!(base64_decode("a b").is_none());
    }

    #[test]
    fn login_logout_edit_only_their_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = config_path(Some(dir.path()), Path::new("/nonexistent"));
        std::fs::write(
            &path,
            r#"{"psFormat": "table", "auths": {"other:1": {"auth": "eDp5"}}}"#,
        )
        .unwrap();
        let creds = Credentials {
            username: "alice".into(),
            password: "s3cr:et".into(),
        };
        store(&path, "127.0.0.1:5000", &creds).unwrap();
        assert_eq!(
            lookup(&path, "127.0.0.1:5000").unwrap(),
            Some(creds.clone())
        );
        assert_eq!(
            lookup(&path, "other:1").unwrap().unwrap().username,
            "x",
            "other entries are kept"
        );
        store(&path, "docker.io", &creds).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains(DOCKER_HUB_AUTH_KEY) && text.contains("psFormat"),
            "{text}"
        );
        assert!(erase(&path, "127.0.0.1:5000").unwrap());
        assert!(!erase(&path, "127.0.0.1:5000").unwrap());
        assert_eq!(lookup(&path, "127.0.0.1:5000").unwrap(), None);
        let mode = std::fs::metadata(&path).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
    }

    #[test]
    fn registry_auth_header_round_trips() {
        let c = Credentials {
            username: "u".into(),
            password: "p".into(),
        };
        let h = c.to_registry_auth_header("reg:5000");
        assert_eq!(Credentials::from_registry_auth_header(&h), Some(c));
        assert_eq!(Credentials::from_registry_auth_header("e30="), None);
        assert_eq!(normalize_server("https://reg:5000/v2/"), "reg:5000");
        assert_eq!(normalize_server("https://index.docker.io/v1/"), "docker.io");
    }
}
