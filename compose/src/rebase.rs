//! Rebasing relative paths of services and resources that come from another directory.
//!
//! A service taken from another file by `extends`, or a project pulled in by `include`, wrote
//! its relative paths (build context, bind-mount sources, `env_file`, secret and config files)
//! against its own directory. Once it joins the including project those paths must be read
//! against the project's working directory, so they are prefixed with the relative path from
//! the project's directory to theirs. Absolute paths, `~` paths and remote build contexts are
//! left alone; relative results keep a leading `./` so a volume source still reads as a path.

use std::path::Path;

use crate::discover::normalize;
use crate::yaml::{Node, Value};

/// Rebases one relative path onto `prefix`.
pub fn rebase_path(p: &str, prefix: &Path) -> String {
    if prefix.as_os_str().is_empty() || p.starts_with('/') || p.starts_with('~') {
        return p.to_string();
    }
    let joined = normalize(&prefix.join(p));
    if joined.is_absolute() {
        return joined.display().to_string();
    }
    let s = joined.display().to_string();
    if s.is_empty() {
        ".".into()
    } else if s.starts_with("..") {
        s
    } else {
        format!("./{s}")
    }
}

fn is_remote(context: &str) -> bool {
    context.contains("://") || context.starts_with("git@") || context.starts_with("github.com/")
}

fn set_text(node: &mut Node, f: impl FnOnce(&str) -> Option<String>) {
    if let Value::Scalar(s) = &mut node.value {
        if let Some(new) = f(&s.text) {
            s.text = new;
        }
    }
}

/// Rebases the paths of every service and of file-based secrets and configs in `doc`.
pub fn project(doc: &mut Node, prefix: &Path) {
    if prefix.as_os_str().is_empty() {
        return;
    }
    if let Some(services) = doc.get_mut("services").and_then(Node::as_map_mut) {
        for e in services {
            service(&mut e.value, prefix);
        }
    }
    for section in ["secrets", "configs"] {
        if let Some(items) = doc.get_mut(section).and_then(Node::as_map_mut) {
            for e in items {
                if let Some(file) = e.value.get_mut("file") {
                    set_text(file, |t| Some(rebase_path(t, prefix)));
                }
            }
        }
    }
}

/// Rebases the paths of one service definition.
pub fn service(svc: &mut Node, prefix: &Path) {
    if prefix.as_os_str().is_empty() {
        return;
    }
    if let Some(build) = svc.get_mut("build") {
        match &build.value {
            Value::Scalar(_) => {
                set_text(build, |t| (!is_remote(t)).then(|| rebase_path(t, prefix)));
            }
            Value::Map(_) => match build.get_mut("context") {
                Some(ctx) => set_text(ctx, |t| (!is_remote(t)).then(|| rebase_path(t, prefix))),
                None => build.insert(
                    "context",
                    Node::string(rebase_path(".", prefix), build.loc.clone()),
                ),
            },
            Value::Seq(_) => {}
        }
    }
    for key in ["env_file", "label_file"] {
        if let Some(files) = svc.get_mut(key) {
            match &mut files.value {
                Value::Scalar(_) => set_text(files, |t| Some(rebase_path(t, prefix))),
                Value::Seq(items) => {
                    for item in items {
                        if let Some(path) = item.get_mut("path") {
                            set_text(path, |t| Some(rebase_path(t, prefix)));
                        } else {
                            set_text(item, |t| Some(rebase_path(t, prefix)));
                        }
                    }
                }
                Value::Map(_) => {}
            }
        }
    }
    if let Some(volumes) = svc.get_mut("volumes").and_then(Node::as_seq_mut) {
        for v in volumes {
            volume(v, prefix);
        }
    }
}

fn volume(v: &mut Node, prefix: &Path) {
    match &v.value {
        Value::Scalar(_) => set_text(v, |t| {
            let (src, rest) = t.split_once(':')?;
            src.starts_with('.')
                .then(|| format!("{}:{rest}", rebase_path(src, prefix)))
        }),
        Value::Map(_) => {
            let bind = v
                .get("type")
                .and_then(Node::as_str)
                .is_none_or(|t| t == "bind");
            if let Some(src) = v.get_mut("source").filter(|_| bind) {
                set_text(src, |t| t.starts_with('.').then(|| rebase_path(t, prefix)));
            }
        }
        Value::Seq(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(text: &str, prefix: &str) -> serde_json::Value {
        let mut n = crate::yaml::parse(text, Path::new("t.yaml"))
            .unwrap()
            .remove(0);
        service(&mut n, Path::new(prefix));
        n.to_json()
    }

    #[test]
    fn paths_table() {
        let cases = [
            ("./app", "sub", "./sub/app"),
            ("app", "sub", "./sub/app"),
            (".", "sub", "./sub"),
            ("../x", "sub", "./x"),
            ("./x", "..", "../x"),
            ("/abs", "sub", "/abs"),
            ("~/h", "sub", "~/h"),
            ("./a", "", "./a"),
            ("./a", "/abs/dir", "/abs/dir/a"),
            (".", "../common", "../common"),
        ];
        for (p, prefix, want) in cases {
            assert_eq!(rebase_path(p, Path::new(prefix)), want, "{p} on {prefix}");
        }
    }

    #[test]
    fn service_fields() {
        let out = svc(
            "build: ./app\nenv_file: [a.env, {path: b.env, required: false}]\nvolumes: ['./data:/data:ro', 'named:/n', '/abs:/abs', {type: bind, source: ./s, target: /t}, {type: volume, source: v, target: /v}]\n",
            "sub",
        );
        assert_eq!(
            out,
            json!({"build": "./sub/app",
                   "env_file": ["./sub/a.env", {"path": "./sub/b.env", "required": false}],
                   "volumes": ["./sub/data:/data:ro", "named:/n", "/abs:/abs",
                               {"type": "bind", "source": "./sub/s", "target": "/t"},
                               {"type": "volume", "source": "v", "target": "/v"}]})
        );
    }

    #[test]
    fn build_map_gets_a_context_and_remote_is_kept() {
        assert_eq!(
            svc("build: {dockerfile: Dockerfile.dev}\n", "sub")["build"],
            json!({"dockerfile": "Dockerfile.dev", "context": "./sub"})
        );
        assert_eq!(
            svc("build: https://github.com/a/b.git#main\n", "sub")["build"],
            json!("https://github.com/a/b.git#main")
        );
    }

    #[test]
    fn secrets_and_configs_files() {
        let mut doc = crate::yaml::parse(
            "secrets:\n  s: {file: ./s.txt}\n  e: {external: true}\nconfigs:\n  c: {file: c.conf}\n",
            Path::new("t.yaml"),
        )
        .unwrap()
        .remove(0);
        project(&mut doc, Path::new("inc"));
        assert_eq!(
            doc.to_json(),
            json!({"secrets": {"s": {"file": "./inc/s.txt"}, "e": {"external": true}},
                   "configs": {"c": {"file": "./inc/c.conf"}}})
        );
    }
}
