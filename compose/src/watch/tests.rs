//! Unit tests of the watch core: rule checking, path filtering (with the build crate's real
//! `.dockerignore` matcher), debouncing over a hand-driven clock, and golden batch plans.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_build::dockerignore::Matcher;

use super::*;
use crate::testutil::project;

#[derive(Debug)]
struct Real(Matcher);

impl PathMatcher for Real {
    fn excluded(&self, rel: &str) -> bool {
        self.0.excluded(rel)
    }
    fn can_skip_dir(&self, rel_dir: &str) -> bool {
        self.0.can_skip_dir(rel_dir)
    }
}

/// Patterns compiled by the real matcher; `.dockerignore` texts by context directory.
#[derive(Default)]
struct Factory(BTreeMap<PathBuf, String>);

impl MatcherFactory for Factory {
    fn compile(&self, patterns: &[String]) -> Result<Box<dyn PathMatcher>, String> {
        Matcher::new(patterns)
            .map(|m| Box::new(Real(m)) as Box<dyn PathMatcher>)
            .map_err(|e| e.to_string())
    }
}

impl ContextIgnores for Factory {
    fn context_ignore(&self, context: &Path) -> Result<Option<Box<dyn PathMatcher>>, String> {
        self.0
            .get(context)
            .map(|text| {
                Matcher::parse(text)
                    .map(|m| Box::new(Real(m)) as Box<dyn PathMatcher>)
                    .map_err(|e| e.to_string())
            })
            .transpose()
    }
}

const WEB: &str = "services:
  web:
    build: .
    scale: 2
    develop:
      watch:
        - path: ./src
          action: sync
          target: /app/src
          ignore: [node_modules/, '*.tmp']
        - path: ./conf
          action: sync+restart
          target: /etc/app
        - path: ./hooks
          action: sync+exec
          target: /app/hooks
          exec:
            command: [sh, -c, 'echo reload']
            user: root
            environment: {MODE: dev}
        - path: ./package.json
          action: rebuild
  db:
    image: busybox
";

fn set(text: &str, services: &[&str]) -> Result<WatchSet, WatchError> {
    let mut f = Factory::default();
    f.0.insert(PathBuf::from("/p"), "secret.txt\n**/*.log\n".into());
    let services: Vec<String> = services.iter().map(|s| s.to_string()).collect();
    WatchSet::new(&project(text, "p"), &services, &f)
}

fn file(p: &str) -> Change {
    Change::Present {
        path: PathBuf::from(p),
        dir: false,
    }
}

fn gone(p: &str) -> Change {
    Change::Missing {
        path: PathBuf::from(p),
    }
}

fn replicas() -> BTreeMap<String, Vec<String>> {
    BTreeMap::from([(
        "web".to_owned(),
        vec!["p-web-1".to_owned(), "p-web-2".to_owned()],
    )])
}

fn plan(changes: &[Change]) -> String {
    let s = set(WEB, &[]).unwrap();
    plan_batch(&s, changes, &replicas(), Trigger::Changes).to_string()
}

#[test]
fn rules_compile_with_actions_targets_and_exec() {
    let s = set(WEB, &[]).unwrap();
    assert_eq!(s.services(), vec!["web"]);
    let actions: Vec<Action> = s.rules.iter().map(|r| r.action).collect();
    assert_eq!(
        actions,
        vec![
            Action::Sync,
            Action::SyncRestart,
            Action::SyncExec,
            Action::Rebuild
        ]
    );
    let exec = s.rules[2].exec.clone().unwrap();
    assert_eq!(exec.user.as_deref(), Some("root"));
    assert_eq!(exec.environment, vec!["MODE=dev"]);
    assert_eq!(
        s.roots(),
        ["/p/conf", "/p/hooks", "/p/package.json", "/p/src"]
            .iter()
            .map(Path::new)
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_project_without_develop_is_an_error_naming_the_services() {
    let e = set("services:\n  a: {image: x}\n  b: {image: x}\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("none of the services has a develop.watch section (a, b)"),
        "{e}"
    );
    assert!(e.contains("hint"), "{e}");
    let e = set(WEB, &["db"]).unwrap_err().to_string();
    assert!(e.contains("service db has no develop.watch section"), "{e}");
    let e = set(WEB, &["nope"]).unwrap_err().to_string();
    assert_eq!(e, "no such service: nope");
}

#[test]
fn bad_rules_say_which_rule_and_why() {
    let bad = |rule: &str| {
        let text = format!(
            "services:\n  w:\n    image: x\n    develop:\n      watch:\n        - {rule}\n"
        );
        set(&text, &[]).unwrap_err().to_string()
    };
    let e = bad("{path: ./a, action: sync, target: rel}");
    assert!(
        e.contains("service w, develop.watch[0]: target \"rel\" must be an absolute path"),
        "{e}"
    );
    let e = bad("{path: ./a, action: sync+exec, target: /a}");
    assert!(e.contains("needs an exec.command"), "{e}");
    let e = bad("{path: ./a, action: rebuild}");
    assert!(e.contains("needs a build section"), "{e}");
    let e = bad("{path: ./a, action: sync, target: /a, ignore: ['!']}");
    assert!(e.contains("develop.watch[0]: ignore"), "{e}");
}

#[test]
fn filters_apply_ignore_dockerignore_git_and_editor_files() {
    let s = set(WEB, &[]).unwrap();
    let yes = |p: &str| s.matches(Path::new(p));
    assert!(yes("/p/src/main.js"));
    assert!(yes("/p/src/deep/er/x.rs"));
    assert!(!yes("/p/src/node_modules/lib/index.js"), "rule ignore");
    assert!(!yes("/p/src/a.tmp"), "rule ignore glob");
    assert!(
        !yes("/p/src/debug.log"),
        ".dockerignore of the build context"
    );
    assert!(!yes("/p/src/.git/HEAD"), ".git");
    assert!(!yes("/p/src/.main.js.swp") && !yes("/p/src/main.js~") && !yes("/p/src/4913"));
    assert!(!yes("/p/other/x"), "outside every rule");
    assert!(yes("/p/package.json"), "a rule on a single file");
    assert!(s.skip_dir(Path::new("/p/src/node_modules")));
    assert!(s.skip_dir(Path::new("/p/src/.git")));
    assert!(!s.skip_dir(Path::new("/p/src/lib")));
}

#[test]
fn include_limits_a_rule_to_matching_paths() {
    let text = "services:\n  w:\n    image: x\n    develop:\n      watch:\n        - {path: ./a, action: sync, target: /a, include: ['*.js', 'lib']}\n";
    let s = set(text, &[]).unwrap();
    assert!(s.matches(Path::new("/p/a/x.js")));
    assert!(s.matches(Path::new("/p/a/lib/deep.txt")));
    assert!(!s.matches(Path::new("/p/a/x.css")));
}

#[test]
fn debouncer_waits_for_quiet_and_caps_the_delay() {
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let mut d = Debouncer::new(Duration::from_millis(50), Duration::from_millis(200));
    assert_eq!(d.deadline(), None);
    assert_eq!(d.poll(ms(0)), None);
    d.push("/b".into(), ms(0), false);
    d.push("/a".into(), ms(10), true);
    d.push("/b".into(), ms(20), true);
    assert_eq!(d.deadline(), Some(ms(70)));
    assert_eq!(d.poll(ms(69)), None);
    let batch = d.poll(ms(70)).unwrap();
    assert_eq!(batch.paths, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
    assert_eq!(
        batch.fresh.into_iter().collect::<Vec<_>>(),
        vec![PathBuf::from("/a")],
        "/b existed before its creation event in this batch"
    );
    assert!(d.is_empty());
    for n in 0..20 {
        d.push(format!("/f{n}").into(), ms(100 + n * 10), false);
    }
    assert_eq!(
        d.deadline(),
        Some(ms(300)),
        "a steady stream flushes after max_delay"
    );
    assert_eq!(d.poll(ms(300)).map(|b| b.paths.len()), Some(20));
}

#[test]
fn a_batch_syncs_every_replica_in_one_archive() {
    let out = plan(&[
        file("/p/src/a.js"),
        file("/p/src/lib/b.js"),
        gone("/p/src/old.js"),
        file("/p/src/node_modules/x.js"),
    ]);
    assert_eq!(
        out,
        "sync p-web-1
  + /app/src/a.js <- /p/src/a.js
  + /app/src/lib/b.js <- /p/src/lib/b.js
  - /app/src/old.js
sync p-web-2
  + /app/src/a.js <- /p/src/a.js
  + /app/src/lib/b.js <- /p/src/lib/b.js
  - /app/src/old.js
"
    );
}

#[test]
fn restart_and_exec_follow_the_sync() {
    let out = plan(&[file("/p/conf/app.ini"), file("/p/hooks/h.sh")]);
    assert_eq!(
        out,
        "sync p-web-1
  + /app/hooks/h.sh <- /p/hooks/h.sh
  + /etc/app/app.ini <- /p/conf/app.ini
sync p-web-2
  + /app/hooks/h.sh <- /p/hooks/h.sh
  + /etc/app/app.ini <- /p/conf/app.ini
restart p-web-1
restart p-web-2
exec p-web-1: sh -c echo reload
exec p-web-2: sh -c echo reload
"
    );
}

#[test]
fn a_rebuild_path_supersedes_syncs_of_the_service() {
    assert_eq!(
        plan(&[file("/p/src/a.js"), file("/p/package.json")]),
        "rebuild web\n"
    );
}

#[test]
fn renames_and_directories() {
    let dir = Change::Present {
        path: "/p/src/new".into(),
        dir: true,
    };
    let out = plan(&[
        gone("/p/src/a.js.tmp-save"),
        gone("/p/src/gone"),
        gone("/p/src/gone/inner.js"),
        dir,
        file("/p/src/new/x.js"),
    ]);
    assert_eq!(
        out.split("sync p-web-2").next().unwrap(),
        "sync p-web-1
  + /app/src/new/ <- /p/src/new
  + /app/src/new/x.js <- /p/src/new/x.js
  - /app/src/a.js.tmp-save
  - /app/src/gone
"
    );
}

#[test]
fn initial_sync_only_runs_the_sync_of_initial_rules() {
    let text = "services:
  w:
    image: x
    develop:
      watch:
        - {path: ./a, action: sync+restart, target: /a, initial_sync: true}
        - {path: ./b, action: sync, target: /b}
";
    let s = set(text, &[]).unwrap();
    let r = BTreeMap::from([("w".to_owned(), vec!["p-w-1".to_owned()])]);
    let p = plan_batch(&s, &[file("/p/a/x"), file("/p/b/y")], &r, Trigger::Initial);
    assert_eq!(p.to_string(), "sync p-w-1\n  + /a/x <- /p/a/x\n");
}

#[test]
fn summaries_are_one_line_per_action() {
    let s = set(WEB, &[]).unwrap();
    let p = plan_batch(
        &s,
        &[
            file("/p/src/a"),
            file("/p/src/b"),
            file("/p/src/c"),
            file("/p/conf/x"),
        ],
        &replicas(),
        Trigger::Changes,
    );
    let lines: Vec<String> = p.steps.iter().map(Step::summary).collect();
    assert_eq!(lines[0], "synced 4 files to p-web-1");
    assert_eq!(lines[2], "restarted p-web-1");
    assert_eq!(
        Step::Rebuild {
            service: "web".into()
        }
        .summary(),
        "rebuilt web"
    );
    let gone_only = plan_batch(&s, &[gone("/p/src/a")], &replicas(), Trigger::Changes);
    assert_eq!(gone_only.steps[0].summary(), "deleted 1 path in p-web-1");
}

#[test]
fn container_paths_join_cleanly() {
    assert_eq!(plan::container_path("/app/", "a/b"), "/app/a/b");
    assert_eq!(plan::container_path("/app", ""), "/app");
    assert_eq!(plan::container_path("/", "x"), "/x");
    assert_eq!(plan::container_path("/", ""), "/");
}

#[test]
fn a_temporary_file_created_and_renamed_away_in_one_batch_is_not_deleted() {
    let fresh = [PathBuf::from("/p/src/a.js.tmp")].into_iter().collect();
    let changes = settle(
        vec![
            gone("/p/src/a.js.tmp"),
            file("/p/src/a.js"),
            gone("/p/src/b.js"),
        ],
        &fresh,
    );
    assert_eq!(changes, vec![file("/p/src/a.js"), gone("/p/src/b.js")]);
}
