//! Top-level `include`: other compose projects pulled into this one.
//!
//! Each entry is a path (short form) or a mapping with `path` (one file or a list merged like
//! `-f` files), `project_directory` and `env_file`. An included project is loaded on its own:
//! its own directory, its own `.env` (or `env_file`, layered under the OS environment and over
//! the including project's environment), its own `extends` and nested `include`s. Its relative
//! paths are then rebased onto the including project's directory, and its services, networks,
//! volumes, secrets and configs are added; a resource that the including file defines
//! differently is an error, as in `docker compose`. Include cycles are reported with the chain.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use crate::discover::{absolute, relative};
use crate::env;
use crate::error::{Error, ErrorKind, Loc, Result};
use crate::load::{Loader, default_env_file};
use crate::merge::{merge_documents, resolve_tags};
use crate::rebase;
use crate::yaml::{Node, Value};

/// The sections an included project contributes.
const IMPORTED: [&str; 5] = ["services", "networks", "volumes", "secrets", "configs"];

/// One `include` entry, with paths made absolute.
#[derive(Debug)]
struct Include {
    paths: Vec<PathBuf>,
    project_directory: PathBuf,
    env_files: Vec<PathBuf>,
    loc: Loc,
}

/// Resolves and removes the `include` key of `doc`; returns whether there was one.
pub(crate) fn apply(
    loader: &mut Loader<'_>,
    doc: &mut Node,
    base_dir: &Path,
    env: &IndexMap<String, String>,
    chain: &[PathBuf],
) -> Result<bool> {
    let Some(list) = doc.remove("include") else {
        return Ok(false);
    };
    let items = match list.value {
        Value::Seq(items) => items,
        _ if list.is_null() => Vec::new(),
        _ => {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                &list.loc,
                format!("`include` must be a list, found {}", list.kind_name()),
            ));
        }
    };
    for item in &items {
        let inc = parse(item, base_dir)?;
        let mut chain = chain.to_vec();
        let mut tree: Option<Node> = None;
        let inc_env = {
            let files = if inc.env_files.is_empty() {
                default_env_file(&inc.project_directory)
            } else {
                inc.env_files.clone()
            };
            env::project_env(loader.os_env, &files, Some(env))?
        };
        for path in &inc.paths {
            if let Some(start) = chain.iter().position(|c| c == path) {
                let mut shown: Vec<String> =
                    chain[start..].iter().map(|c| loader.display(c)).collect();
                shown.push(loader.display(path));
                return Err(Error::at(
                    ErrorKind::Cycle,
                    &inc.loc,
                    format!("include cycle: {}", shown.join(" -> ")),
                ));
            }
            chain.push(path.clone());
            let (t, _) = loader
                .load_file(path, &inc_env, &inc.project_directory, &chain)
                .map_err(|e| match e {
                    Error::Io { path: p, source } => Error::at(
                        ErrorKind::UndefinedReference,
                        &inc.loc,
                        format!("cannot read included file {}: {source}", p.display()),
                    ),
                    other => other,
                })?;
            chain.pop();
            match &mut tree {
                None => {
                    let mut t = t;
                    resolve_tags(&mut t);
                    tree = Some(t);
                }
                Some(acc) => merge_documents(acc, t),
            }
        }
        let Some(mut tree) = tree else { continue };
        rebase::project(&mut tree, &relative(&inc.project_directory, base_dir));
        import(doc, tree, &inc, loader)?;
    }
    Ok(true)
}

fn parse(item: &Node, base_dir: &Path) -> Result<Include> {
    let strings = |n: &Node, what: &str| -> Result<Vec<String>> {
        match &n.value {
            Value::Scalar(s) if !n.is_null() => Ok(vec![s.text.clone()]),
            Value::Seq(items) => items
                .iter()
                .map(|i| {
                    i.as_str().map(str::to_owned).ok_or_else(|| {
                        Error::at(
                            ErrorKind::InvalidValue,
                            &i.loc,
                            format!("`{what}` entries must be paths"),
                        )
                    })
                })
                .collect(),
            _ => Err(Error::at(
                ErrorKind::InvalidValue,
                &n.loc,
                format!(
                    "`{what}` must be a path or a list of paths, found {}",
                    n.kind_name()
                ),
            )),
        }
    };
    let abs = |v: Vec<String>| -> Vec<PathBuf> {
        v.iter().map(|p| absolute(base_dir, Path::new(p))).collect()
    };
    let (paths, project_directory, env_files) = match &item.value {
        Value::Scalar(_) => (abs(strings(item, "include")?), None, Vec::new()),
        Value::Map(_) => {
            let path = item.get("path").ok_or_else(|| {
                Error::at(
                    ErrorKind::InvalidValue,
                    &item.loc,
                    "an `include` entry needs a `path`",
                )
            })?;
            let dir = match item.get("project_directory") {
                Some(d) => Some(absolute(
                    base_dir,
                    Path::new(d.as_str().ok_or_else(|| {
                        Error::at(
                            ErrorKind::InvalidValue,
                            &d.loc,
                            "`project_directory` must be a path",
                        )
                    })?),
                )),
                None => None,
            };
            let env_files = match item.get("env_file") {
                Some(e) => abs(strings(e, "env_file")?),
                None => Vec::new(),
            };
            (abs(strings(path, "path")?), dir, env_files)
        }
        Value::Seq(_) => {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                &item.loc,
                "an `include` entry must be a path or a mapping",
            ));
        }
    };
    if paths.is_empty() {
        return Err(Error::at(
            ErrorKind::InvalidValue,
            &item.loc,
            "an `include` entry needs a path",
        ));
    }
    let project_directory = project_directory
        .or_else(|| paths[0].parent().map(Path::to_path_buf))
        .unwrap_or_else(|| base_dir.to_path_buf());
    Ok(Include {
        paths,
        project_directory,
        env_files,
        loc: item.loc.clone(),
    })
}

/// Adds the resources of an included tree to `doc`; an identical definition is accepted, a
/// different one is a conflict.
fn import(doc: &mut Node, tree: Node, inc: &Include, loader: &Loader<'_>) -> Result<()> {
    let Value::Map(sections) = tree.value else {
        return Ok(());
    };
    for section in sections
        .into_iter()
        .filter(|e| IMPORTED.contains(&e.key.as_str()))
    {
        let Value::Map(items) = section.value.value else {
            continue;
        };
        if doc.get(&section.key).is_none_or(Node::is_null) {
            doc.insert(section.key.clone(), Node::map(section.key_loc.clone()));
        }
        let target = doc
            .get_mut(&section.key)
            .and_then(Node::as_map_mut)
            .ok_or_else(|| {
                Error::at(
                    ErrorKind::InvalidValue,
                    &section.key_loc,
                    format!("`{}` must be a mapping", section.key),
                )
            })?;
        let existing: std::collections::HashMap<String, usize> = target
            .iter()
            .enumerate()
            .map(|(i, e)| (e.key.clone(), i))
            .collect();
        for item in items {
            match existing.get(&item.key) {
                Some(&i) if same(&target[i].value, &item.value) => {}
                Some(&i) => {
                    return Err(Error::at_hint(
                        ErrorKind::Project,
                        &target[i].key_loc,
                        format!(
                            "{}.{} conflicts with imported resource from {}",
                            section.key,
                            item.key,
                            loader.display(&inc.paths[0])
                        ),
                        "rename one of them, or adapt the included definition with an override file in the include's `path` list",
                    ));
                }
                None => target.push(item),
            }
        }
    }
    Ok(())
}

/// Structural equality of two trees, ignoring positions.
fn same(a: &Node, b: &Node) -> bool {
    match (&a.value, &b.value) {
        (Value::Scalar(x), Value::Scalar(y)) => x.text == y.text,
        (Value::Seq(x), Value::Seq(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|e| y.iter().any(|f| f.key == e.key && same(&e.value, &f.value)))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testutil::node;

    #[test]
    fn entry_forms() {
        let base = Path::new("/p");
        let short = parse(&node("sub/compose.yaml"), base).unwrap();
        assert_eq!(short.paths, [PathBuf::from("/p/sub/compose.yaml")]);
        assert_eq!(short.project_directory, PathBuf::from("/p/sub"));
        assert!(short.env_files.is_empty());

        let long = parse(
            &node("{path: [a/x.yaml, b/y.yaml], project_directory: ., env_file: a/.env}"),
            base,
        )
        .unwrap();
        assert_eq!(
            long.paths,
            [PathBuf::from("/p/a/x.yaml"), "/p/b/y.yaml".into()]
        );
        assert_eq!(long.project_directory, PathBuf::from("/p"));
        assert_eq!(long.env_files, [PathBuf::from("/p/a/.env")]);
    }

    #[test]
    fn bad_entries_are_located() {
        let base = Path::new("/p");
        for (text, want) in [
            ("{project_directory: x}", "needs a `path`"),
            ("[a, b]", "must be a path or a mapping"),
            ("{path: {a: b}}", "`path` must be a path or a list of paths"),
            ("{path: [a, [b]]}", "`path` entries must be paths"),
        ] {
            let e = parse(&node(text), base).unwrap_err().to_string();
            assert!(e.starts_with("c.yaml:1:"), "{e}");
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn sameness_ignores_positions_and_key_order() {
        let a = node("{image: x, ports: ['1:1'], environment: {A: 1, B: 2}}");
        let b = node("\n\nenvironment: {B: 2, A: 1}\nimage: x\nports: ['1:1']\n");
        assert!(same(&a, &b));
        let c = node("{image: x, ports: ['1:2'], environment: {A: 1, B: 2}}");
        assert!(!same(&a, &c));
        assert!(!same(&a, &node("{image: x}")));
    }
}
