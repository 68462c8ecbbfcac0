//! The loading facade: from command-line options to one merged, interpolated compose tree.
//!
//! [`load_raw`] finds the files and the project directory ([`crate::discover`]), builds the
//! environment ([`crate::env`]), then for every file: parses it, interpolates each document
//! ([`crate::interpolate`]), merges its documents, resolves `extends` ([`crate::extends`]) and
//! `include` ([`crate::include`]); finally it merges the files in order ([`crate::merge`]) and
//! names the project. The result is still a located [`Node`] tree: typing and validation are the
//! model's job. The OS environment and standard input are passed in, never read here.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use crate::discover::{self, absolute};
use crate::env;
use crate::error::{Error, ErrorKind, Result};
use crate::interpolate::interpolate_node;
use crate::merge::{merge_documents, resolve_tags};
use crate::yaml::{self, Node, Value};
use crate::{extends, include};

/// What the user asked for on the command line (and the process context).
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-f` files in order; `-` reads [`LoadOptions::stdin`].
    pub files: Vec<PathBuf>,
    /// The text of standard input, for `-f -`.
    pub stdin: Option<String>,
    /// `--project-directory`.
    pub project_directory: Option<PathBuf>,
    /// `-p`.
    pub project_name: Option<String>,
    /// `--env-file`, repeatable (later wins); default `.env` in the project directory.
    pub env_files: Vec<PathBuf>,
    /// `--profile`, repeatable.
    pub profiles: Vec<String>,
    /// `--no-interpolate`.
    pub no_interpolate: bool,
    /// The OS environment.
    pub os_env: IndexMap<String, String>,
    /// The current directory (absolute).
    pub cwd: PathBuf,
}

/// A loaded but not yet typed project.
#[derive(Debug, Clone)]
pub struct RawProject {
    /// The project name.
    pub name: String,
    /// The project directory; relative paths in `doc` are relative to it.
    pub working_dir: PathBuf,
    /// The compose files, absolute (`-` for standard input).
    pub config_files: Vec<PathBuf>,
    /// The project environment (OS environment over env files).
    pub environment: IndexMap<String, String>,
    /// Active profiles (`COMPOSE_PROFILES` and `--profile`).
    pub profiles: Vec<String>,
    /// The merged, interpolated tree with `include` and `extends` resolved.
    pub doc: Node,
    /// Warnings to show the user (unset variables, obsolete `version`, …).
    pub warnings: Vec<String>,
}

/// Loads a project's compose files into one tree. See the module documentation.
pub fn load_raw(opts: &LoadOptions) -> Result<RawProject> {
    let cwd = discover::normalize(&opts.cwd);
    let mut loader = Loader {
        os_env: &opts.os_env,
        no_interpolate: opts.no_interpolate,
        stdin: opts.stdin.as_deref(),
        cwd: cwd.clone(),
        warnings: Vec::new(),
    };
    let explicit_dir = opts.project_directory.as_deref().map(|p| absolute(&cwd, p));
    let stdin_path = Path::new("-");
    let given: Vec<PathBuf> = opts
        .files
        .iter()
        .map(|f| {
            if f == stdin_path {
                f.clone()
            } else {
                absolute(&cwd, f)
            }
        })
        .collect();
    let first_dir = |files: &[PathBuf]| {
        files
            .first()
            .filter(|f| f.as_path() != stdin_path)
            .and_then(|f| f.parent().map(Path::to_path_buf))
    };
    let env_dir = explicit_dir
        .clone()
        .or_else(|| first_dir(&given))
        .unwrap_or_else(|| cwd.clone());
    let explicit_env: Vec<PathBuf> = opts.env_files.iter().map(|f| absolute(&cwd, f)).collect();
    let env_files = |dir: &Path| {
        if explicit_env.is_empty() {
            default_env_file(dir)
        } else {
            explicit_env.clone()
        }
    };
    let mut environment = env::project_env(&opts.os_env, &env_files(&env_dir), None)?;

    let mut found_dir = None;
    let files = if !given.is_empty() {
        given
    } else {
        let from_env: Vec<PathBuf> = discover::compose_file_env(&environment)
            .iter()
            .map(|f| absolute(&cwd, f))
            .collect();
        if from_env.is_empty() {
            let start = explicit_dir.clone().unwrap_or_else(|| cwd.clone());
            let found = discover::find_default_files(&start, &|p: &Path| p.is_file())?;
            loader.warnings.extend(found.warnings);
            found_dir = Some(found.dir);
            found.files
        } else {
            from_env
        }
    };
    let working_dir = explicit_dir
        .or(found_dir)
        .or_else(|| first_dir(&files))
        .unwrap_or_else(|| cwd.clone());
    if working_dir != env_dir {
        environment = env::project_env(&opts.os_env, &env_files(&working_dir), None)?;
    }

    let mut acc: Option<Node> = None;
    let mut had_include = false;
    for file in &files {
        let (mut tree, inc) =
            loader.load_file(file, &environment, &working_dir, std::slice::from_ref(file))?;
        had_include |= inc;
        match &mut acc {
            None => {
                resolve_tags(&mut tree);
                acc = Some(tree);
            }
            Some(a) => merge_documents(a, tree),
        }
    }
    let doc = acc.unwrap_or_else(|| Node::map(crate::Loc::synthetic("-")));
    // a `services` of the wrong type is not "empty": schema validation reports it, located
    let has_services = doc
        .get("services")
        .is_some_and(|s| s.as_map().map_or(!s.is_null(), |m| !m.is_empty()));
    if !has_services && !had_include {
        let shown: Vec<String> = files.iter().map(|f| loader.display(f)).collect();
        return Err(Error::Project {
            message: format!(
                "{}: empty compose file: no services or include defined",
                shown.join(", ")
            ),
            hint: Some("define at least one service under `services:`".into()),
        });
    }
    let top_name = doc
        .get("name")
        .and_then(|n| n.as_str().map(|s| (s, &n.loc)));
    let name = discover::project_name(
        opts.project_name.as_deref(),
        &environment,
        top_name,
        &working_dir,
    )?;
    let profiles = env::active_profiles(&environment, &opts.profiles);
    Ok(RawProject {
        name,
        working_dir,
        config_files: files,
        environment,
        profiles,
        doc,
        warnings: loader.warnings,
    })
}

/// `<dir>/.env` when it exists.
pub(crate) fn default_env_file(dir: &Path) -> Vec<PathBuf> {
    let f = dir.join(".env");
    if f.is_file() { vec![f] } else { Vec::new() }
}

/// State shared by every file of one load.
pub(crate) struct Loader<'a> {
    pub(crate) os_env: &'a IndexMap<String, String>,
    pub(crate) no_interpolate: bool,
    pub(crate) stdin: Option<&'a str>,
    pub(crate) cwd: PathBuf,
    pub(crate) warnings: Vec<String>,
}

impl Loader<'_> {
    /// How a file is named in messages: relative to the current directory when inside it.
    pub(crate) fn display(&self, path: &Path) -> String {
        path.strip_prefix(&self.cwd)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// Reads, parses and interpolates `path` (absolute, or `-`) and merges its documents.
    pub(crate) fn read_tree(
        &mut self,
        path: &Path,
        env: &IndexMap<String, String>,
    ) -> Result<Node> {
        let display = PathBuf::from(self.display(path));
        let text = if path == Path::new("-") {
            self.stdin
                .ok_or_else(|| Error::Project {
                    message: "`-f -` needs the compose file on standard input".into(),
                    hint: None,
                })?
                .to_string()
        } else {
            std::fs::read_to_string(path).map_err(|e| Error::io(&display, e))?
        };
        let docs = yaml::parse(&text, &display)?;
        let mut tree: Option<Node> = None;
        for mut doc in docs.into_iter().filter(|d| !d.is_null()) {
            if !matches!(doc.value, Value::Map(_)) {
                return Err(Error::at(
                    ErrorKind::InvalidValue,
                    &doc.loc,
                    format!(
                        "a compose file must be a mapping, found {}",
                        doc.kind_name()
                    ),
                ));
            }
            if !self.no_interpolate {
                let lookup = |n: &str| env.get(n).cloned();
                interpolate_node(&mut doc, &lookup, &mut self.warnings)?;
            }
            match &mut tree {
                None => tree = Some(doc),
                Some(t) => merge_documents(t, doc),
            }
        }
        let tree = tree.ok_or_else(|| Error::Project {
            message: format!("{}: empty compose file", display.display()),
            hint: None,
        })?;
        if tree.get("version").is_some() {
            self.warnings.push(format!(
                "{}: the attribute `version` is obsolete, it will be ignored, please remove it to avoid potential confusion",
                display.display()
            ));
        }
        Ok(tree)
    }

    /// The whole per-file pipeline: read, resolve `extends`, then `include`.
    ///
    /// `base_dir` is the directory relative paths of this file are read against; `chain` lists
    /// the files being included, outermost first, ending with this one.
    pub(crate) fn load_file(
        &mut self,
        path: &Path,
        env: &IndexMap<String, String>,
        base_dir: &Path,
        chain: &[PathBuf],
    ) -> Result<(Node, bool)> {
        let mut tree = self.read_tree(path, env)?;
        extends::apply(self, &mut tree, path, base_dir, env)?;
        let had_include = include::apply(self, &mut tree, base_dir, env, chain)?;
        Ok((tree, had_include))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_of_the_wrong_type_is_not_reported_as_empty() {
        let opts = LoadOptions {
            files: vec!["-".into()],
            stdin: Some("services:\n  - a\n".into()),
            project_name: Some("p".into()),
            cwd: PathBuf::from("/"),
            ..Default::default()
        };
        let raw = load_raw(&opts).unwrap();
        assert!(raw.doc.get("services").unwrap().as_seq().is_some());
        let empty = LoadOptions {
            stdin: Some("services: {}\n".into()),
            ..opts
        };
        let e = load_raw(&empty).unwrap_err().to_string();
        assert!(e.contains("empty compose file"), "{e}");
    }
}
