//! `extends`: a service built on top of another one, from the same file or another file.
//!
//! `extends: name` and `extends: {service, file}` are resolved recursively; the base service is
//! merged under the local definition with the usual merge rules ([`crate::merge`]), and the
//! `extends` key is removed. A base from another file has its relative paths rebased
//! ([`crate::rebase`]) onto the extending file's directory. Cycles are reported with the chain.
//!
//! As in `docker compose` v2 and the current Compose Specification, every attribute is
//! inherited, `depends_on`, `links` and `volumes_from` included: the specification leaves it to
//! the author to declare the services they refer to.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use crate::discover::{absolute, relative};
use crate::error::{Error, ErrorKind, Loc, Result, did_you_mean};
use crate::load::Loader;
use crate::merge::{merge_service, resolve_tags};
use crate::rebase;
use crate::yaml::{Node, Value};

/// Resolves `extends` in every service of `doc`, read from `file` with paths relative to
/// `base_dir`.
pub(crate) fn apply(
    loader: &mut Loader<'_>,
    doc: &mut Node,
    file: &Path,
    base_dir: &Path,
    env: &IndexMap<String, String>,
) -> Result<()> {
    let Some(services) = doc.get("services").and_then(Node::as_map) else {
        return Ok(());
    };
    let names: Vec<(String, Loc)> = services
        .iter()
        .filter(|e| e.value.get("extends").is_some())
        .map(|e| (e.key.clone(), e.key_loc.clone()))
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    let services_index = index(doc.get("services"));
    let mut r = Resolver {
        loader,
        env,
        files: HashMap::new(),
        done: HashMap::new(),
    };
    r.files
        .insert(file.to_path_buf(), (services_index, base_dir.to_path_buf()));
    let mut chain = Vec::new();
    let mut resolved = HashMap::with_capacity(names.len());
    for (name, at) in names {
        let node = r.resolve(file, &name, &mut chain, &at)?;
        resolved.insert(name, node);
    }
    if let Some(entries) = doc.get_mut("services").and_then(Node::as_map_mut) {
        for e in entries {
            if let Some(node) = resolved.remove(&e.key) {
                e.value = node;
            }
        }
    }
    Ok(())
}

struct Resolver<'l, 'a> {
    loader: &'l mut Loader<'a>,
    env: &'l IndexMap<String, String>,
    /// Per file: its services by name and the directory its paths are relative to.
    files: HashMap<PathBuf, (IndexMap<String, Node>, PathBuf)>,
    done: HashMap<(PathBuf, String), Node>,
}

impl Resolver<'_, '_> {
    fn resolve(
        &mut self,
        file: &Path,
        name: &str,
        chain: &mut Vec<(PathBuf, String)>,
        at: &Loc,
    ) -> Result<Node> {
        let key = (file.to_path_buf(), name.to_string());
        if let Some(done) = self.done.get(&key) {
            return Ok(done.clone());
        }
        if let Some(start) = chain.iter().position(|c| *c == key) {
            let mut shown: Vec<String> = chain[start..].iter().map(|c| self.show(c)).collect();
            shown.push(self.show(&key));
            return Err(Error::at(
                ErrorKind::Cycle,
                at,
                format!("circular reference with extends: {}", shown.join(" -> ")),
            ));
        }
        let (services, dir) = &self.files[file];
        let dir = dir.clone();
        let Some(mut service) = services.get(name).cloned() else {
            let names: Vec<&str> = services.keys().map(String::as_str).collect();
            let from = chain.last().map_or(name, |(_, n)| n.as_str());
            let message = format!(
                "cannot extend service \"{from}\": service \"{name}\" not found in {}",
                self.loader.display(file)
            );
            return Err(match did_you_mean(name, names) {
                Some(s) => Error::at_hint(
                    ErrorKind::UndefinedReference,
                    at,
                    message,
                    format!("did you mean `{s}`?"),
                ),
                None => Error::at(ErrorKind::UndefinedReference, at, message),
            });
        };
        let resolved = match service.remove("extends") {
            None => service,
            Some(ext) => {
                let (base_name, base_file, ext_loc) = parse_extends(&ext)?;
                let target = match base_file {
                    None => file.to_path_buf(),
                    Some((f, floc)) => self.load(&absolute(&dir, Path::new(&f)), &f, &floc)?,
                };
                chain.push(key.clone());
                let mut base = self.resolve(&target, &base_name, chain, &ext_loc)?;
                chain.pop();
                if target != file {
                    let target_dir = self.files[&target].1.clone();
                    rebase::service(&mut base, &relative(&target_dir, &dir));
                }
                resolve_tags(&mut base);
                let loc = service.loc.clone();
                merge_service(&mut base, service);
                base.loc = loc;
                base
            }
        };
        self.done.insert(key, resolved.clone());
        Ok(resolved)
    }

    /// Loads another file's services (once) and returns its key.
    fn load(&mut self, path: &Path, written: &str, at: &Loc) -> Result<PathBuf> {
        if !self.files.contains_key(path) {
            let tree = self.loader.read_tree(path, self.env).map_err(|e| match e {
                Error::Io { source, .. } => Error::at(
                    ErrorKind::UndefinedReference,
                    at,
                    format!("cannot read extended file {written}: {source}"),
                ),
                other => other,
            })?;
            let services = index(tree.get("services"));
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            self.files.insert(path.to_path_buf(), (services, dir));
        }
        Ok(path.to_path_buf())
    }

    fn show(&self, (file, name): &(PathBuf, String)) -> String {
        format!("{name} ({})", self.loader.display(file))
    }
}

type Written = (String, Loc);

/// The services of a file by name.
fn index(services: Option<&Node>) -> IndexMap<String, Node> {
    services
        .and_then(Node::as_map)
        .map(|m| m.iter().map(|e| (e.key.clone(), e.value.clone())).collect())
        .unwrap_or_default()
}

/// `extends: name` or `extends: {service: name, file: path}`.
fn parse_extends(ext: &Node) -> Result<(String, Option<Written>, Loc)> {
    match &ext.value {
        Value::Scalar(s) if !s.text.is_empty() => Ok((s.text.clone(), None, ext.loc.clone())),
        Value::Map(_) => {
            let service = ext.get("service").ok_or_else(|| {
                Error::at(
                    ErrorKind::InvalidValue,
                    &ext.loc,
                    "`extends` needs a `service`",
                )
            })?;
            let name = service.as_str().filter(|s| !s.is_empty()).ok_or_else(|| {
                Error::at(
                    ErrorKind::InvalidValue,
                    &service.loc,
                    "`extends.service` must be a service name",
                )
            })?;
            let file = match ext.get("file") {
                None => None,
                Some(f) => Some((
                    f.as_str()
                        .filter(|s| !s.is_empty())
                        .ok_or_else(|| {
                            Error::at(
                                ErrorKind::InvalidValue,
                                &f.loc,
                                "`extends.file` must be a path",
                            )
                        })?
                        .to_string(),
                    f.loc.clone(),
                )),
            };
            Ok((name.to_string(), file, service.loc.clone()))
        }
        _ => Err(Error::at(
            ErrorKind::InvalidValue,
            &ext.loc,
            format!(
                "`extends` must be a service name or a mapping, found {}",
                ext.kind_name()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testutil::node;

    #[test]
    fn extends_forms() {
        let (name, file, _) = parse_extends(&node("base")).unwrap();
        assert_eq!((name.as_str(), file), ("base", None));
        let (name, file, _) = parse_extends(&node("{service: web, file: common.yaml}")).unwrap();
        assert_eq!(name, "web");
        assert_eq!(file.unwrap().0, "common.yaml");
        let (_, file, _) = parse_extends(&node("{service: web}")).unwrap();
        assert!(file.is_none());
    }

    #[test]
    fn bad_extends_are_located() {
        for (text, want) in [
            ("{file: x.yaml}", "`extends` needs a `service`"),
            ("{service: [a]}", "`extends.service` must be a service name"),
            ("{service: a, file: [x]}", "`extends.file` must be a path"),
            (
                "[a]",
                "`extends` must be a service name or a mapping, found a sequence",
            ),
        ] {
            let e = parse_extends(&node(text)).unwrap_err().to_string();
            assert!(e.starts_with("c.yaml:1:"), "{e}");
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
