//! Top-level project resources: networks, volumes, secrets, configs and models.
//!
//! Each is converted from its node, given its engine name (`PROJECT_KEY` unless `name:` is set
//! or it is `external`), and serialized in docker compose's shape.

use serde::Serialize;

use crate::error::{Error, ErrorKind, Loc};
use crate::path::Seg;
use crate::yaml::{Node, Value};

use super::conv::{Conv, extensions, text};
use super::service::{Extensions, Mapping};

fn is_false(b: &bool) -> bool {
    !*b
}

/// A top-level network.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Network {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "Mapping::is_empty")]
    pub driver_opts: Mapping,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipam: Option<Ipam>,
    #[serde(skip_serializing_if = "is_false")]
    pub external: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub internal: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub attachable: bool,
    #[serde(skip_serializing_if = "Mapping::is_empty")]
    pub labels: Mapping,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_ipv4: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_ipv6: Option<bool>,
    #[serde(flatten)]
    pub extensions: Extensions,
    /// Where the network's key is (`None` for the implicit `default` network).
    #[serde(skip)]
    pub loc: Option<Loc>,
}

/// `ipam` of a network.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Ipam {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<IpamPool>,
    #[serde(skip_serializing_if = "Mapping::is_empty")]
    pub options: Mapping,
}

/// One `ipam.config` entry.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IpamPool {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<String>,
    #[serde(skip_serializing_if = "Mapping::is_empty")]
    pub aux_addresses: Mapping,
}

/// A top-level volume.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Volume {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "Mapping::is_empty")]
    pub driver_opts: Mapping,
    #[serde(skip_serializing_if = "is_false")]
    pub external: bool,
    #[serde(skip_serializing_if = "Mapping::is_empty")]
    pub labels: Mapping,
    #[serde(flatten)]
    pub extensions: Extensions,
    #[serde(skip)]
    pub loc: Option<Loc>,
}

/// A top-level secret or config.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FileObject {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub external: bool,
    #[serde(skip_serializing_if = "Mapping::is_empty")]
    pub labels: Mapping,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "Mapping::is_empty")]
    pub driver_opts: Mapping,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_driver: Option<String>,
    #[serde(flatten)]
    pub extensions: Extensions,
    #[serde(skip)]
    pub loc: Option<Loc>,
    /// The value of the `environment` variable in the project environment, `None` when it is
    /// not set (never serialized: it is the secret itself).
    #[serde(skip)]
    pub environment_value: Option<String>,
    /// Where `environment` is written.
    #[serde(skip)]
    pub environment_loc: Option<Loc>,
}

/// A top-level model (AI model served to services).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Model {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_size: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub runtime_flags: Vec<String>,
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// Reads `external:` (`true`, or the deprecated `{name: …}` which also sets the name).
fn external(conv: &mut Conv<'_>, n: &Node, path: &Seg<'_>, name: &mut Option<String>) -> bool {
    match &n.value {
        Value::Map(_) => {
            if let Some(v) = n.get("name") {
                if name.is_some() {
                    conv.invalid(
                        &v.loc,
                        format!("`{path}.name` (deprecated) and `name` cannot both be set"),
                    );
                }
                *name = conv.str(v, &path.key("name"));
            }
            true
        }
        _ => conv.bool(n, path).unwrap_or_default(),
    }
}

fn engine_name(project: &str, key: &str, name: Option<String>, external: bool) -> String {
    match name {
        Some(n) => n,
        None if external => key.to_string(),
        None => format!("{project}_{key}"),
    }
}

impl Conv<'_> {
    /// Converts top-level network `key`.
    pub(crate) fn network(&mut self, key: &str, n: &Node, loc: &Loc) -> Network {
        let sec = Seg::Key(&Seg::Root, "networks");
        let path = sec.key(key);
        let mut net = Network {
            loc: Some(loc.clone()),
            ..Network::default()
        };
        let mut name = None;
        let entries = self.entries(n, &path);
        for e in entries {
            let (v, p) = (&e.value, path.key(&e.key));
            match e.key.as_str() {
                "name" => name = self.str(v, &p),
                "driver" => net.driver = self.str(v, &p),
                "driver_opts" => net.driver_opts = self.mapping(v, &p),
                "external" => net.external = external(self, v, &p, &mut name),
                "internal" => net.internal = self.bool(v, &p).unwrap_or_default(),
                "attachable" => net.attachable = self.bool(v, &p).unwrap_or_default(),
                "labels" => net.labels = self.mapping(v, &p),
                "enable_ipv4" => net.enable_ipv4 = self.bool(v, &p),
                "enable_ipv6" => net.enable_ipv6 = self.bool(v, &p),
                "ipam" => net.ipam = Some(self.ipam(v, &p)),
                _ => {}
            }
        }
        if net.enable_ipv4 == Some(false) {
            self.check_ipv6_only(n, &path, &net);
        }
        net.extensions = extensions(entries);
        net.name = engine_name(self.ctx.name, key, name, net.external);
        net
    }

    /// An IPv6-only network (`enable_ipv4: false`) needs `enable_ipv6: true` and takes no IPv4
    /// subnet, gateway or range in `ipam.config`.
    fn check_ipv6_only(&mut self, n: &Node, path: &Seg<'_>, net: &Network) {
        if net.enable_ipv6 != Some(true) {
            let at = n.get("enable_ipv4").map_or(&n.loc, |v| &v.loc);
            self.errors.push(Error::at_hint(
                ErrorKind::InvalidValue,
                at,
                format!(
                    "`{}`: IPv4 or IPv6 must be enabled",
                    path.key("enable_ipv4")
                ),
                "add `enable_ipv6: true` for an IPv6-only network, or remove `enable_ipv4: false`",
            ));
        }
        let configs = n.get("ipam").and_then(|i| i.get("config"));
        let configs = configs.and_then(Node::as_seq).unwrap_or_default();
        for (i, c) in configs.iter().enumerate() {
            for key in ["subnet", "gateway", "ip_range"] {
                let Some(v) = c.get(key) else { continue };
                let ip = text(v)
                    .and_then(|t| t.split('/').next())
                    .unwrap_or_default();
                if ip.parse::<std::net::Ipv4Addr>().is_ok() {
                    let ipam = path.key("ipam");
                    let config = ipam.key("config");
                    let item = config.index(i);
                    let p = item.key(key);
                    self.errors.push(Error::at_hint(
                        ErrorKind::InvalidValue,
                        &v.loc,
                        format!(
                            "`{p}`: IPv4 {key} `{}` on an IPv6-only network",
                            text(v).unwrap_or_default()
                        ),
                        "give an IPv6 subnet (such as fd00:1::/64), or remove `enable_ipv4: false`",
                    ));
                }
            }
        }
    }

    fn ipam(&mut self, n: &Node, path: &Seg<'_>) -> Ipam {
        let mut ipam = Ipam::default();
        for e in self.entries(n, path) {
            let (v, p) = (&e.value, path.key(&e.key));
            match e.key.as_str() {
                "driver" => {
                    ipam.driver = self.str(v, &p);
                    if ipam.driver.as_deref().is_some_and(|d| d != "default") {
                        self.unsupported_ipam(
                            v,
                            &p,
                            "berth's engine has only the `default` IPAM driver",
                            "remove `driver` or set it to `default`",
                        );
                    }
                }
                "options" => {
                    ipam.options = self.mapping(v, &p);
                    if !ipam.options.is_empty() {
                        self.unsupported_ipam(
                            v,
                            &p,
                            "IPAM driver options are not supported by berth's engine",
                            "remove `options`",
                        );
                    }
                }
                "config" => {
                    for (i, c) in v.as_seq().unwrap_or_default().iter().enumerate() {
                        let cp = p.index(i);
                        let mut pool = IpamPool::default();
                        for f in self.entries(c, &cp) {
                            let fp = cp.key(&f.key);
                            match f.key.as_str() {
                                "subnet" => pool.subnet = self.cidr(&f.value, &fp),
                                "ip_range" => pool.ip_range = self.cidr(&f.value, &fp),
                                "gateway" => pool.gateway = self.str(&f.value, &fp),
                                "aux_addresses" => {
                                    pool.aux_addresses = self.mapping(&f.value, &fp);
                                    if !pool.aux_addresses.is_empty() {
                                        self.unsupported_ipam(&f.value, &fp, "reserved auxiliary addresses are not supported by berth's engine", "remove `aux_addresses`; give containers static addresses outside `ip_range` instead");
                                    }
                                }
                                _ => {}
                            }
                        }
                        if pool.subnet.is_none()
                            && (pool.gateway.is_some() || pool.ip_range.is_some())
                        {
                            self.unsupported_ipam(
                                c,
                                &cp,
                                "a `gateway` or `ip_range` needs the `subnet` it belongs to",
                                "add `subnet:` to this entry",
                            );
                        }
                        ipam.config.push(pool);
                    }
                }
                _ => {}
            }
        }
        ipam
    }

    /// Refuses an `ipam` setting the engine cannot honour (instead of dropping it).
    fn unsupported_ipam(&mut self, n: &Node, path: &Seg<'_>, what: &str, hint: &str) {
        self.refuse(n, format!("`{path}`: {what}"), hint);
    }

    fn cidr(&mut self, n: &Node, path: &Seg<'_>) -> Option<String> {
        let s = self.str(n, path)?;
        let ok = s.split_once('/').is_some_and(|(ip, len)| {
            let max = match ip.parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V4(_)) => 32,
                Ok(std::net::IpAddr::V6(_)) => 128,
                Err(_) => return false,
            };
            len.parse::<u8>().is_ok_and(|l| l <= max)
        });
        if !ok {
            self.invalid(&n.loc, format!("`{path}`: `{s}` is not a CIDR subnet"));
        }
        Some(s)
    }

    /// Converts top-level volume `key`.
    pub(crate) fn volume(&mut self, key: &str, n: &Node, loc: &Loc) -> Volume {
        let sec = Seg::Key(&Seg::Root, "volumes");
        let path = sec.key(key);
        let mut vol = Volume {
            loc: Some(loc.clone()),
            ..Volume::default()
        };
        let mut name = None;
        let entries = self.entries(n, &path);
        for e in entries {
            let (v, p) = (&e.value, path.key(&e.key));
            match e.key.as_str() {
                "name" => name = self.str(v, &p),
                "driver" => vol.driver = self.str(v, &p),
                "driver_opts" => vol.driver_opts = self.mapping(v, &p),
                "external" => vol.external = external(self, v, &p, &mut name),
                "labels" => vol.labels = self.mapping(v, &p),
                _ => {}
            }
        }
        vol.extensions = extensions(entries);
        // a local volume with `o: bind` is a bind mount of `device`, resolved like any path
        let is_bind = vol
            .driver_opts
            .get("o")
            .is_some_and(|o| o.split(',').any(|x| x == "bind"));
        if matches!(vol.driver.as_deref(), None | Some("local")) && is_bind {
            if let Some(device) = vol.driver_opts.get("device").cloned() {
                let resolved = self.path(&device);
                vol.driver_opts.insert("device".into(), resolved);
            }
        }
        vol.name = engine_name(self.ctx.name, key, name, vol.external);
        vol
    }

    /// Converts top-level secret or config `key` (`section` is `secrets` or `configs`).
    pub(crate) fn file_object(
        &mut self,
        section: &str,
        key: &str,
        n: &Node,
        loc: &Loc,
    ) -> FileObject {
        let sec = Seg::Key(&Seg::Root, section);
        let path = sec.key(key);
        let mut obj = FileObject {
            loc: Some(loc.clone()),
            ..FileObject::default()
        };
        let mut name = None;
        let entries = self.entries(n, &path);
        for e in entries {
            let (v, p) = (&e.value, path.key(&e.key));
            match e.key.as_str() {
                "name" => name = self.str(v, &p),
                "file" => obj.file = self.str(v, &p).map(|f| self.path(&f)),
                "environment" => {
                    obj.environment = self.str(v, &p);
                    obj.environment_loc = Some(v.loc.clone());
                }
                "content" => obj.content = self.str(v, &p),
                "external" => obj.external = external(self, v, &p, &mut name),
                "labels" => obj.labels = self.mapping(v, &p),
                "driver" => obj.driver = self.str(v, &p),
                "driver_opts" => obj.driver_opts = self.mapping(v, &p),
                "template_driver" => obj.template_driver = self.str(v, &p),
                _ => {}
            }
        }
        obj.extensions = extensions(entries);
        obj.environment_value = obj
            .environment
            .as_ref()
            .and_then(|var| self.ctx.environment.get(var).cloned());
        let sources = [
            obj.file.is_some(),
            obj.environment.is_some(),
            obj.content.is_some(),
            obj.external,
        ];
        let count = sources.iter().filter(|s| **s).count();
        let allowed = if section == "configs" {
            "`file`, `environment`, `content` or `external`"
        } else {
            "`file`, `environment` or `external`"
        };
        if count != 1 {
            self.invalid(loc, format!("`{path}` must set exactly one of {allowed}"));
        }
        obj.name = engine_name(self.ctx.name, key, name, obj.external);
        obj
    }

    /// Converts top-level model `key`.
    pub(crate) fn model(&mut self, key: &str, n: &Node) -> Model {
        let sec = Seg::Key(&Seg::Root, "models");
        let path = sec.key(key);
        let mut m = Model::default();
        let entries = self.entries(n, &path);
        for e in entries {
            let (v, p) = (&e.value, path.key(&e.key));
            match e.key.as_str() {
                "name" => m.name = self.str(v, &p),
                "model" => m.model = self.str(v, &p).unwrap_or_default(),
                "context_size" => m.context_size = self.int(v, &p),
                "runtime_flags" => m.runtime_flags = self.strings(v, &p),
                _ => {}
            }
        }
        m.extensions = extensions(entries);
        m
    }
}

/// Whether a service node's `profiles` make it active for `active` profiles.
pub(crate) fn profiles_of(service: &Node) -> Vec<String> {
    service
        .get("profiles")
        .and_then(Node::as_seq)
        .unwrap_or_default()
        .iter()
        .filter_map(|p| text(p).map(str::to_string))
        .collect()
}
