//! The typed, normalized model of a Compose project.
//!
//! [`Project::from_node`] takes the merged project document (after loading, interpolation,
//! include and extends) and returns a [`Project`] in which every short syntax is in its long
//! form, relative paths are absolute, inactive profiles are gone, the default network exists
//! and resources carry their engine names. It checks the document against the Compose
//! schema, converts it, and validates cross-references, collecting every error with its
//! position before failing.

mod conv;
mod convert;
mod parts;
mod resources;
pub mod service;
mod service_parts;
mod support;
pub mod syntax;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::{Serialize, Serializer};

use crate::error::{Error, ErrorKind, Result};
use crate::yaml::Node;

pub use resources::{FileObject, Ipam, IpamPool, Model, Network, Volume};
pub use service::*;

/// What normalization needs besides the document.
#[derive(Debug, Clone, Copy)]
pub struct NormalizeContext<'a> {
    /// The project name, as the loader decided it (`-p`, `COMPOSE_PROJECT_NAME`, the
    /// top-level `name:`, the directory). When empty, the document's `name:` is used.
    pub name: &'a str,
    /// The project directory (absolute): relative paths are resolved against it.
    pub working_dir: &'a Path,
    /// The project environment (process environment and `.env`), for `environment: [KEY]`.
    pub environment: &'a IndexMap<String, String>,
    /// Active profiles (`*` activates all).
    pub profiles: &'a [String],
}

/// A normalized, validated Compose project.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Project {
    /// The project name.
    pub name: String,
    /// Active services, in source order (serialized sorted by name, like docker compose).
    #[serde(serialize_with = "sorted", skip_serializing_if = "IndexMap::is_empty")]
    pub services: IndexMap<String, Service>,
    /// Networks used by active services.
    #[serde(serialize_with = "sorted", skip_serializing_if = "IndexMap::is_empty")]
    pub networks: IndexMap<String, Network>,
    /// Volumes used by active services.
    #[serde(serialize_with = "sorted", skip_serializing_if = "IndexMap::is_empty")]
    pub volumes: IndexMap<String, Volume>,
    /// Secrets used by active services.
    #[serde(serialize_with = "sorted", skip_serializing_if = "IndexMap::is_empty")]
    pub secrets: IndexMap<String, FileObject>,
    /// Configs used by active services.
    #[serde(serialize_with = "sorted", skip_serializing_if = "IndexMap::is_empty")]
    pub configs: IndexMap<String, FileObject>,
    /// Models used by active services.
    #[serde(serialize_with = "sorted", skip_serializing_if = "IndexMap::is_empty")]
    pub models: IndexMap<String, Model>,
    /// Top-level `x-…` extensions.
    #[serde(flatten)]
    pub extensions: Extensions,
    /// The project directory.
    #[serde(skip)]
    pub working_dir: PathBuf,
    /// Services left out because none of their profiles is active, with their profiles.
    #[serde(skip)]
    pub disabled_services: BTreeMap<String, Vec<String>>,
    /// Every profile declared by any service, active or not.
    #[serde(skip)]
    pub all_profiles: BTreeSet<String>,
}

fn sorted<S: Serializer, T: Serialize>(
    map: &IndexMap<String, T>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    let mut entries: Vec<(&String, &T)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    s.collect_map(entries)
}

fn is_active(profiles: &[String], active: &[String]) -> bool {
    profiles.is_empty()
        || active.iter().any(|a| a == "*")
        || profiles.iter().any(|p| active.contains(p))
}

impl Project {
    /// Converts and validates the merged project document.
    pub fn from_node(doc: &Node, ctx: &NormalizeContext<'_>) -> Result<Project> {
        let Some(entries) = doc.as_map() else {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                &doc.loc,
                format!(
                    "a compose file must be a mapping, found {}",
                    doc.kind_name()
                ),
            ));
        };
        let mut errors = crate::schema::check_document(doc);
        let name = match ctx.name {
            "" => doc.get("name").and_then(Node::as_str).unwrap_or_default(),
            n => n,
        };
        let ctx = &NormalizeContext { name, ..*ctx };
        let mut conv = conv::Conv::new(ctx);
        let mut project = Project {
            name: name.to_string(),
            working_dir: ctx.working_dir.to_path_buf(),
            ..Project::default()
        };
        for e in entries {
            let items = e.value.as_map().unwrap_or_default();
            match e.key.as_str() {
                "services" => {
                    project.services.reserve(items.len());
                    for s in items {
                        let profiles = resources::profiles_of(&s.value);
                        project.all_profiles.extend(profiles.iter().cloned());
                        if is_active(&profiles, ctx.profiles) {
                            let svc = conv.service(&s.key, &s.value, &s.key_loc);
                            project.services.insert(s.key.clone(), svc);
                        } else {
                            project.disabled_services.insert(s.key.clone(), profiles);
                        }
                    }
                }
                "networks" => {
                    for n in items {
                        let net = conv.network(&n.key, &n.value, &n.key_loc);
                        project.networks.insert(n.key.clone(), net);
                    }
                }
                "volumes" => {
                    for v in items {
                        let vol = conv.volume(&v.key, &v.value, &v.key_loc);
                        project.volumes.insert(v.key.clone(), vol);
                    }
                }
                section @ ("secrets" | "configs") => {
                    for f in items {
                        let obj = conv.file_object(section, &f.key, &f.value, &f.key_loc);
                        if section == "secrets" {
                            project.secrets.insert(f.key.clone(), obj);
                        } else {
                            project.configs.insert(f.key.clone(), obj);
                        }
                    }
                }
                "models" => {
                    for m in items {
                        let model = conv.model(&m.key, &m.value);
                        project.models.insert(m.key.clone(), model);
                    }
                }
                k if k.starts_with("x-") => {
                    project.extensions.insert(e.key.clone(), e.value.to_json());
                }
                _ => {}
            }
        }
        errors.append(&mut conv.errors);
        errors.extend(crate::validate::check(&project));
        Error::collect(dedup_sorted(errors))?;
        project.finish();
        Ok(project)
    }

    /// Drops optional dependencies on absent services, adds the default network and keeps
    /// only the resources active services use.
    pub(crate) fn finish(&mut self) {
        let names: HashSet<String> = self.services.keys().cloned().collect();
        for svc in self.services.values_mut() {
            svc.depends_on
                .retain(|dep, d| d.required || names.contains(dep));
        }
        let mut nets: HashSet<&str> = HashSet::new();
        let mut vols: HashSet<&str> = HashSet::new();
        let mut secrets: HashSet<&str> = HashSet::new();
        let mut configs: HashSet<&str> = HashSet::new();
        let mut models: HashSet<&str> = HashSet::new();
        for svc in self.services.values() {
            nets.extend(svc.networks.keys().map(String::as_str));
            for r in &svc.meta.refs {
                let set = match r.kind {
                    RefKind::Volume => &mut vols,
                    RefKind::Secret => &mut secrets,
                    RefKind::Config => &mut configs,
                    RefKind::Model => &mut models,
                    RefKind::Service | RefKind::Network => continue,
                };
                set.insert(r.name.as_str());
            }
        }
        let owned = |set: HashSet<&str>| -> HashSet<String> {
            set.into_iter().map(str::to_string).collect()
        };
        let (nets, vols, secrets, configs, models) = (
            owned(nets),
            owned(vols),
            owned(secrets),
            owned(configs),
            owned(models),
        );
        if nets.contains("default") && !self.networks.contains_key("default") {
            let net = Network {
                name: format!("{}_default", self.name),
                ..Network::default()
            };
            self.networks.insert("default".into(), net);
        }
        self.networks.retain(|k, _| nets.contains(k));
        self.volumes.retain(|k, _| vols.contains(k));
        self.secrets.retain(|k, _| secrets.contains(k));
        self.configs.retain(|k, _| configs.contains(k));
        self.models.retain(|k, _| models.contains(k));
    }

    /// Names of the active services, in source order.
    pub fn service_names(&self) -> Vec<&str> {
        self.services.keys().map(String::as_str).collect()
    }

    /// Keys of the volumes the project uses, sorted.
    pub fn volume_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.volumes.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// Keys of the networks the project uses, sorted.
    pub fn network_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.networks.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// Every profile declared by any service, sorted.
    pub fn profiles(&self) -> Vec<&str> {
        self.all_profiles.iter().map(String::as_str).collect()
    }

    /// The image of every active service, sorted by service name: the `image:` value, else
    /// the name docker compose gives a built image (`PROJECT-SERVICE`).
    pub fn images(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .services
            .iter()
            .map(|(name, s)| {
                let image = s
                    .image
                    .clone()
                    .unwrap_or_else(|| format!("{}-{name}", self.name));
                (name.clone(), image)
            })
            .collect();
        out.sort();
        out
    }
}

/// Sorts errors by position and keeps one per position (the schema check and conversion may
/// both report the same wrong value).
fn dedup_sorted(errors: Vec<Error>) -> Vec<Error> {
    let mut located: Vec<Error> = Vec::new();
    let mut other = Vec::new();
    for e in errors {
        match &e {
            Error::At { .. } => located.push(e),
            _ => other.push(e),
        }
    }
    let key = |e: &Error| match e {
        Error::At { loc, .. } => Some(loc.clone()),
        _ => None,
    };
    located.sort_by_key(key);
    let mut seen = HashSet::new();
    located.retain(|e| seen.insert(key(e)));
    located.extend(other);
    located
}

#[cfg(test)]
mod tests;
