//! Which compose files make up a project, where the project lives, and what it is called.
//!
//! Mirrors `docker compose` v2: `-f` (repeatable, `-` for standard input) or `COMPOSE_FILE`
//! (split on `COMPOSE_PATH_SEPARATOR`, default `:`), else the first of `compose.yaml`,
//! `compose.yml`, `docker-compose.yaml`, `docker-compose.yml` found in the directory or its
//! parents, plus the matching override file next to it. The project directory defaults to the
//! directory of the first file. The project name comes from `-p`, then `COMPOSE_PROJECT_NAME`,
//! then the top-level `name:`, then the directory's base name normalized.
//!
//! File-system access is a parameter (`exists`), so the rules are tested without files.

use std::path::{Component, Path, PathBuf};

use indexmap::IndexMap;

use crate::error::{Error, ErrorKind, Loc, Result};

/// Default compose file names, in order of preference.
pub const DEFAULT_FILES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// Override file names, in order of preference.
pub const OVERRIDE_FILES: [&str; 4] = [
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yaml",
    "docker-compose.override.yml",
];

/// The compose files found by default discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The directory holding them.
    pub dir: PathBuf,
    /// The main file, then the override file if there is one.
    pub files: Vec<PathBuf>,
    /// Warnings (several candidate names present).
    pub warnings: Vec<String>,
}

/// Looks for the default compose files in `start` and then in its parents.
pub fn find_default_files(start: &Path, exists: &dyn Fn(&Path) -> bool) -> Result<Found> {
    let mut dir = Some(start);
    while let Some(d) = dir {
        if let Some(found) = find_in(d, exists) {
            return Ok(found);
        }
        dir = d.parent();
    }
    Err(Error::Project {
        message: format!(
            "no compose file found in {} or any parent directory",
            start.display()
        ),
        hint: Some(format!(
            "create one of {} or pass -f <file>",
            DEFAULT_FILES.join(", ")
        )),
    })
}

fn find_in(dir: &Path, exists: &dyn Fn(&Path) -> bool) -> Option<Found> {
    let pick = |names: &[&str], what: &str, warnings: &mut Vec<String>| -> Option<PathBuf> {
        let present: Vec<PathBuf> = names
            .iter()
            .map(|n| dir.join(n))
            .filter(|p| exists(p))
            .collect();
        if present.len() > 1 {
            let names: Vec<String> = present.iter().map(|p| p.display().to_string()).collect();
            warnings.push(format!(
                "Found multiple {what} files with supported names: {}\nUsing {}",
                names.join(", "),
                names[0]
            ));
        }
        present.into_iter().next()
    };
    let mut warnings = Vec::new();
    let main = pick(&DEFAULT_FILES, "config", &mut warnings)?;
    let mut files = vec![main];
    files.extend(pick(&OVERRIDE_FILES, "override", &mut warnings));
    Some(Found {
        dir: dir.to_path_buf(),
        files,
        warnings,
    })
}

/// The files listed in `COMPOSE_FILE`, split on `COMPOSE_PATH_SEPARATOR` (default `:`).
pub fn compose_file_env(env: &IndexMap<String, String>) -> Vec<PathBuf> {
    let Some(list) = env.get("COMPOSE_FILE").filter(|s| !s.is_empty()) else {
        return Vec::new();
    };
    let sep = env
        .get("COMPOSE_PATH_SEPARATOR")
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or(":");
    list.split(sep)
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .collect()
}

/// Docker's normalization of a directory name into a project name: lowercase, characters
/// outside `[a-z0-9_-]` dropped, leading `_` and `-` trimmed.
pub fn normalize_project_name(name: &str) -> String {
    let s: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    s.trim_start_matches(['_', '-']).to_string()
}

/// True when `name` is a valid explicit project name: `^[a-z0-9][a-z0-9_-]*$`.
pub fn is_valid_project_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn invalid_name(name: &str, source: &str) -> (String, String) {
    let suggestion = normalize_project_name(name);
    let hint = if suggestion.is_empty() {
        "use lowercase letters, digits, `-` and `_`, starting with a letter or digit".to_string()
    } else {
        format!("did you mean `{suggestion}`?")
    };
    (
        format!(
            "invalid project name {name:?} ({source}): must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number"
        ),
        hint,
    )
}

/// The project name, by precedence: `flag` (`-p`) > `COMPOSE_PROJECT_NAME` > the top-level
/// `name:` (with its location) > the base name of `working_dir`, normalized.
pub fn project_name(
    flag: Option<&str>,
    env: &IndexMap<String, String>,
    top_level: Option<(&str, &Loc)>,
    working_dir: &Path,
) -> Result<String> {
    let explicit = flag
        .filter(|s| !s.is_empty())
        .map(|s| (s, "-p"))
        .or_else(|| {
            env.get("COMPOSE_PROJECT_NAME")
                .map(String::as_str)
                .filter(|s| !s.is_empty())
                .map(|s| (s, "COMPOSE_PROJECT_NAME"))
        });
    if let Some((name, source)) = explicit {
        if !is_valid_project_name(name) {
            let (message, hint) = invalid_name(name, source);
            return Err(Error::Project {
                message,
                hint: Some(hint),
            });
        }
        return Ok(name.to_string());
    }
    if let Some((name, loc)) = top_level.filter(|(n, _)| !n.is_empty()) {
        if !is_valid_project_name(name) {
            let (message, hint) = invalid_name(name, "top-level `name`");
            return Err(Error::at_hint(ErrorKind::Project, loc, message, hint));
        }
        return Ok(name.to_string());
    }
    let base = working_dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = normalize_project_name(&base);
    if name.is_empty() {
        return Err(Error::Project {
            message: format!(
                "cannot derive a project name from the directory {}",
                working_dir.display()
            ),
            hint: Some("set one with -p, COMPOSE_PROJECT_NAME or a top-level `name:`".into()),
        });
    }
    Ok(name)
}

/// `path` made absolute against `base` and cleaned of `.` and `..` components (lexically).
pub fn absolute(base: &Path, path: &Path) -> PathBuf {
    normalize(&base.join(path))
}

/// Removes `.` and resolves `..` components lexically.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(".."),
            },
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The relative path from directory `from` to `to` (both absolute and normalized), using `..`
/// where needed.
pub fn relative(to: &Path, from: &Path) -> PathBuf {
    let t: Vec<Component<'_>> = to.components().collect();
    let f: Vec<Component<'_>> = from.components().collect();
    let common = t.iter().zip(&f).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..f.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c.as_os_str());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn fs(files: &'static [&'static str]) -> impl Fn(&Path) -> bool {
        move |p: &Path| files.iter().any(|f| Path::new(f) == p)
    }

    #[test]
    fn default_file_preference_and_override() {
        let exists = fs(&[
            "/p/compose.yml",
            "/p/docker-compose.yaml",
            "/p/compose.override.yaml",
        ]);
        let found = find_default_files(Path::new("/p"), &exists).unwrap();
        assert_eq!(
            found.files,
            [
                PathBuf::from("/p/compose.yml"),
                PathBuf::from("/p/compose.override.yaml")
            ]
        );
        assert_eq!(found.dir, PathBuf::from("/p"));
        assert!(found.warnings[0].starts_with("Found multiple config files"));
    }

    #[test]
    fn docker_compose_yml_alone_and_its_override() {
        let exists = fs(&["/p/docker-compose.yml", "/p/docker-compose.override.yml"]);
        let found = find_default_files(Path::new("/p"), &exists).unwrap();
        assert_eq!(found.files.len(), 2);
        assert!(found.warnings.is_empty());
    }

    #[test]
    fn discovery_walks_up_to_parents() {
        let exists = fs(&["/a/compose.yaml"]);
        let found = find_default_files(Path::new("/a/b/c"), &exists).unwrap();
        assert_eq!(found.dir, PathBuf::from("/a"));
        assert_eq!(found.files, [PathBuf::from("/a/compose.yaml")]);
    }

    #[test]
    fn nothing_found_names_dir_and_accepted_names() {
        let e = find_default_files(Path::new("/x/y"), &fs(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/x/y"), "{e}");
        assert!(e.contains("compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml"));
    }

    #[test]
    fn compose_file_variable() {
        let mut env = IndexMap::new();
        env.insert("COMPOSE_FILE".into(), "a.yml:b.yml".into());
        assert_eq!(
            compose_file_env(&env),
            [PathBuf::from("a.yml"), "b.yml".into()]
        );
        env.insert("COMPOSE_PATH_SEPARATOR".into(), ";".into());
        env.insert("COMPOSE_FILE".into(), "a.yml;c/b.yml".into());
        assert_eq!(
            compose_file_env(&env),
            [PathBuf::from("a.yml"), "c/b.yml".into()]
        );
        assert!(compose_file_env(&IndexMap::new()).is_empty());
    }

    #[test]
    fn normalization_table() {
        let cases = [
            ("MyApp", "myapp"),
            ("my app.v2", "myappv2"),
            ("_-x", "x"),
            ("a_b-c", "a_b-c"),
            ("Ünïcode", "ncode"),
            ("...", ""),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_project_name(input), want, "{input}");
        }
        for ok in ["a", "0", "a-b_c", "x1"] {
            assert!(is_valid_project_name(ok), "{ok}");
        }
        for bad in ["", "A", "-a", "_a", "a.b", "a b"] {
            assert!(!is_valid_project_name(bad), "{bad}");
        }
    }

    #[test]
    fn name_precedence() {
        let loc = Loc::new(Arc::from(Path::new("compose.yaml")), 1, 7);
        let mut env = IndexMap::new();
        let dir = Path::new("/home/u/My_Project");
        assert_eq!(project_name(None, &env, None, dir).unwrap(), "my_project");
        assert_eq!(
            project_name(None, &env, Some(("fromfile", &loc)), dir).unwrap(),
            "fromfile"
        );
        env.insert("COMPOSE_PROJECT_NAME".into(), "fromenv".into());
        assert_eq!(
            project_name(None, &env, Some(("fromfile", &loc)), dir).unwrap(),
            "fromenv"
        );
        assert_eq!(
            project_name(Some("flag"), &env, Some(("f", &loc)), dir).unwrap(),
            "flag"
        );
    }

    #[test]
    fn invalid_explicit_names_error_with_hint() {
        let env = IndexMap::new();
        let e = project_name(Some("My App"), &env, None, Path::new("/p"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid project name \"My App\" (-p)"), "{e}");
        assert!(e.contains("hint: did you mean `myapp`?"), "{e}");
        let loc = Loc::new(Arc::from(Path::new("compose.yaml")), 1, 7);
        let e = project_name(None, &env, Some(("Bad.Name", &loc)), Path::new("/p"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("compose.yaml:1:7: invalid project name"),
            "{e}"
        );
        assert!(project_name(None, &env, None, Path::new("/")).is_err());
    }

    #[test]
    fn path_helpers() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(normalize(Path::new("./x/../../y")), PathBuf::from("../y"));
        assert_eq!(
            normalize(Path::new("../../a/../b")),
            PathBuf::from("../../b")
        );
        assert_eq!(normalize(Path::new("/../a")), PathBuf::from("/a"));
        assert_eq!(
            relative(Path::new("/a/b/c"), Path::new("/a")),
            PathBuf::from("b/c")
        );
        assert_eq!(
            relative(Path::new("/a/x"), Path::new("/a/b")),
            PathBuf::from("../x")
        );
        assert_eq!(relative(Path::new("/a"), Path::new("/a")), PathBuf::new());
    }
}
