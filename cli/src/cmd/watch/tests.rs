//! Tests of the watch shell on a real temporary tree: the inotify watcher registers no
//! watch inside ignored directories, sees files in directories created after it started and
//! editor saves (write temp + rename); the sync archive holds the container paths.

use std::path::Path;
use std::time::Duration;

use berth_compose::watch::{Copy, WatchSet};

use super::Ignores;
use super::apply::{archive, observe_changes};
use super::fs::{FsWatcher, list_tree};

fn project(dir: &Path) -> berth_compose::model::Project {
    let text = "services:
  web:
    build: .
    develop:
      watch:
        - path: ./src
          action: sync
          target: /app
          ignore: [node_modules/]
";
    std::fs::write(dir.join("compose.yaml"), text).unwrap();
    std::fs::write(dir.join(".dockerignore"), "**/*.log\n").unwrap();
    let opts = berth_compose::LoadOptions {
        project_name: Some("w".into()),
        cwd: dir.to_path_buf(),
        ..berth_compose::LoadOptions::default()
    };
    berth_compose::load_project(&opts).unwrap().project
}

fn tree() -> (tempfile::TempDir, WatchSet) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    for d in ["src/lib", "src/node_modules/a/b", "src/.git"] {
        std::fs::create_dir_all(p.join(d)).unwrap();
    }
    for f in [
        "src/main.js",
        "src/lib/x.js",
        "src/node_modules/a/b/i.js",
        "src/run.log",
    ] {
        std::fs::write(p.join(f), "x").unwrap();
    }
    let set = WatchSet::new(&project(p), &[], &Ignores).unwrap();
    (dir, set)
}

#[test]
fn ignored_directories_get_no_watch_and_no_walk() {
    let (dir, set) = tree();
    let (mut w, _rx) = FsWatcher::start().unwrap();
    w.watch_roots(&set).unwrap();
    assert_eq!(w.len(), 2, "src and src/lib only");
    let mut listed: Vec<String> = list_tree(&set, &dir.path().join("src"))
        .iter()
        .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        vec!["src", "src/lib", "src/lib/x.js", "src/main.js"]
    );
}

/// Collects what the watcher reports until `want` is seen (bounded, so a miss fails).
fn wait_for(
    w: &mut FsWatcher,
    set: &WatchSet,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<notify::Result<notify::Event>>,
    want: &Path,
) -> Vec<std::path::PathBuf> {
    let mut seen = Vec::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        while !seen.iter().any(|p| p == want) {
            let e = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .unwrap_or_else(|_| panic!("no event for {} (saw {seen:?})", want.display()))
                .unwrap()
                .unwrap();
            seen.extend(w.handle(set, &e).unwrap().paths.into_iter().map(|(p, _)| p));
        }
    });
    seen
}

#[test]
fn new_directories_and_editor_saves_are_seen() {
    let (dir, set) = tree();
    let src = dir.path().join("src");
    let (mut w, mut rx) = FsWatcher::start().unwrap();
    w.watch_roots(&set).unwrap();
    std::fs::create_dir_all(src.join("new/deep")).unwrap();
    std::fs::write(src.join("new/deep/f.js"), "1").unwrap();
    let seen = wait_for(&mut w, &set, &mut rx, &src.join("new/deep/f.js"));
    assert!(seen.contains(&src.join("new")), "{seen:?}");
    assert!(w.len() >= 4, "new and new/deep are watched: {}", w.len());
    std::fs::write(src.join(".main.js.swp"), "tmp").unwrap();
    std::fs::write(src.join("main.js.tmp~"), "new").unwrap();
    std::fs::rename(src.join("main.js.tmp~"), src.join("main.js")).unwrap();
    let seen = wait_for(&mut w, &set, &mut rx, &src.join("main.js"));
    assert!(
        !seen.iter().any(|p| p.to_string_lossy().contains("swp")),
        "{seen:?}"
    );
    std::fs::write(src.join("node_modules/a/b/i.js"), "ignored").unwrap();
    std::fs::write(src.join("lib/x.js"), "2").unwrap();
    let seen = wait_for(&mut w, &set, &mut rx, &src.join("lib/x.js"));
    assert!(
        !seen.iter().any(|p| p.starts_with(src.join("node_modules"))),
        "{seen:?}"
    );
}

#[test]
fn the_archive_names_entries_by_container_path() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "hello").unwrap();
    let copies = vec![
        Copy {
            container: "/app/d".into(),
            host: dir.path().to_path_buf(),
            dir: true,
        },
        Copy {
            container: "/app/d/a.txt".into(),
            host: dir.path().join("a.txt"),
            dir: false,
        },
        Copy {
            container: "/app/d/vanished".into(),
            host: dir.path().join("vanished"),
            dir: false,
        },
    ];
    let bytes = archive(&copies).unwrap();
    let mut tar = tar::Archive::new(&bytes[..]);
    let mut names = Vec::new();
    for e in tar.entries().unwrap() {
        let mut e = e.unwrap();
        let mut body = String::new();
        std::io::Read::read_to_string(&mut e, &mut body).unwrap();
        names.push(format!("{}={body}", e.path().unwrap().display()));
    }
    assert_eq!(names, vec!["app/d=", "app/d/a.txt=hello"]);
    let changes = observe_changes(&[dir.path().join("a.txt"), dir.path().join("gone")]);
    assert!(matches!(
        &changes[0],
        berth_compose::watch::Change::Present { dir: false, .. }
    ));
    assert!(matches!(
        &changes[1],
        berth_compose::watch::Change::Missing { .. }
    ));
}
