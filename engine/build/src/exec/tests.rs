//! Executor tests over a temp image store with a fake [`StepRunner`] that turns
//! `touch PATH` / `echo TEXT > PATH` / `exit N` into upper-dir changes.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::Path;

use berth_image::{ImageStore, ImportOptions};

use super::layer::{EntryKind, LayerEntry, write_layer};
use super::*;

#[derive(Debug, thiserror::Error)]
#[error("fake runner: {0}")]
struct FakeError(String);

/// Interprets the shell word of `sh -c WORD`.
#[derive(Default)]
struct FakeRunner {
    calls: RefCell<Vec<RunSpec>>,
}

impl StepRunner for FakeRunner {
    type Error = FakeError;

    fn run(&self, spec: &RunSpec, output: &mut dyn FnMut(&str)) -> Result<i64, FakeError> {
        self.calls.borrow_mut().push(spec.clone());
        let script = spec.args.last().cloned().unwrap_or_default();
        for cmd in script.split("&&").map(str::trim) {
            let words: Vec<&str> = cmd.split_whitespace().collect();
            match words.as_slice() {
                ["touch", path] => write(&spec.upper, path, ""),
                ["echo", text, ">", path] => write(&spec.upper, path, text),
                ["exit", n] => return Ok(n.parse().unwrap_or(1)),
                ["say", text] => output(text),
                other => return Err(FakeError(format!("unknown command {other:?}"))),
            }
        }
        Ok(0)
    }
}

fn write(upper: &Path, path: &str, text: &str) {
    let p = upper.join(path.trim_start_matches('/'));
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: ImageStore,
    builder_root: std::path::PathBuf,
    context: std::path::PathBuf,
}

fn base_tar() -> Vec<u8> {
    let mut entries = layer::Entries::new();
    for (p, kind, mode) in [
        ("bin", EntryKind::Dir, 0o755),
        ("bin/sh", EntryKind::Bytes(b"#!fake".to_vec()), 0o755),
        ("etc", EntryKind::Dir, 0o755),
        (
            "etc/passwd",
            EntryKind::Bytes(
                b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n".to_vec(),
            ),
            0o644,
        ),
        (
            "etc/group",
            EntryKind::Bytes(b"root:x:0:\nstaff:x:50:\n".to_vec()),
            0o644,
        ),
        ("srv", EntryKind::Dir, 0o755),
    ] {
        layer::insert(
            &mut entries,
            LayerEntry {
                path: p.into(),
                kind,
                mode,
                uid: 0,
                gid: 0,
            },
        );
    }
    let mut out = Vec::new();
    write_layer(&entries, 0, &mut out).unwrap();
    out
}

fn fixture(files: &[(&str, &str)]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(&dir.path().join("images")).unwrap();
    store
        .import(
            &base_tar()[..],
            &ImportOptions {
                reference: Some("base:1".into()),
                changes: vec!["ENV PATH=/bin".into(), "CMD [\"sh\"]".into()],
                created: Some("2020-01-01T00:00:00Z".into()),
                ..ImportOptions::default()
            },
        )
        .unwrap();
    let context = dir.path().join("ctx");
    for (p, text) in files {
        let path = context.join(p);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    fs::create_dir_all(&context).unwrap();
    Fixture {
        builder_root: dir.path().join("builder"),
        store,
        context,
        _dir: dir,
    }
}

impl Fixture {
    fn build(
        &self,
        runner: &FakeRunner,
        dockerfile: &str,
    ) -> Result<(Built, Vec<BuildEvent>), BuildError> {
        self.build_with(runner, dockerfile, |_| {})
    }

    fn build_with(
        &self,
        runner: &FakeRunner,
        dockerfile: &str,
        tweak: impl FnOnce(&mut BuildRequest),
    ) -> Result<(Built, Vec<BuildEvent>), BuildError> {
        let mut req = BuildRequest {
            context: self.context.clone(),
            dockerfile: dockerfile.to_string(),
            tags: vec!["out:1".into()],
            network: "none".into(),
            ..BuildRequest::default()
        };
        tweak(&mut req);
        let mut events = Vec::new();
        let b = Builder::new(&self.store, runner, &self.builder_root)?;
        let built = b.build(&req, &mut |e| events.push(e))?;
        Ok((built, events))
    }

    fn config(&self, name: &str) -> serde_json::Value {
        let s = self.store.resolve(name).unwrap();
        serde_json::from_slice(&self.store.content().read_blob(&s.id).unwrap()).unwrap()
    }

    /// Paths in the image's top `n`-th layer from the bottom.
    fn layer_paths(&self, name: &str, index: usize) -> Vec<String> {
        let s = self.store.resolve(name).unwrap();
        let m = self.store.read_manifest(&s.manifest).unwrap();
        let d: berth_image::digest::Digest =
            m.layers()[index].digest().to_string().parse().unwrap();
        let mut data = Vec::new();
        fs::File::open(self.store.content().blob_path(&d))
            .unwrap()
            .read_to_end(&mut data)
            .unwrap();
        let mut a = tar::Archive::new(&data[..]);
        a.entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect()
    }
}

const APP: &str = "\
FROM base:1
WORKDIR /app
COPY . .
RUN touch /app/built
ENV A=1
CMD [\"app\"]
";

#[test]
fn builds_layers_and_config() {
    let f = fixture(&[
        ("main.c", "int main;"),
        ("secret.key", "k"),
        (".dockerignore", "*.key\n"),
    ]);
    let runner = FakeRunner::default();
    let (built, events) = f.build(&runner, APP).unwrap();
    assert_eq!(built.image.layers, 4);
    assert_eq!(built.runs, 1);
    assert!(built.image.references.contains(&"out:1".to_string()));
    let cfg = f.config("out:1");
    assert_eq!(
        cfg["config"]["Env"],
        serde_json::json!(["PATH=/bin", "A=1"])
    );
    assert_eq!(cfg["config"]["Cmd"], serde_json::json!(["app"]));
    assert_eq!(cfg["config"]["WorkingDir"], "/app");
    assert_eq!(cfg["created"], "1970-01-01T00:00:00Z");
    assert_eq!(cfg["history"].as_array().unwrap().len(), 6);
    let copied = f.layer_paths("out:1", 2);
    assert!(copied.contains(&"app/main.c".to_string()), "{copied:?}");
    assert!(copied.contains(&"app/.dockerignore".to_string()));
    assert!(!copied.iter().any(|p| p.contains("secret")), "{copied:?}");
    assert_eq!(f.layer_paths("out:1", 3), ["app/", "app/built"]);
    let spec = &runner.calls.borrow()[0];
    assert_eq!(spec.args, ["/bin/sh", "-c", "touch /app/built"]);
    assert_eq!(spec.workdir.as_deref(), Some("/app"));
    assert!(
        matches!(&events[0], BuildEvent::Step { index: 1, total: 6, text } if text == "FROM base:1")
    );
    assert!(events.contains(&BuildEvent::Tagged {
        name: "out:1".into()
    }));
}

#[test]
fn rebuild_uses_cache_and_gives_the_same_image() {
    let f = fixture(&[("main.c", "v1"), ("other.c", "o")]);
    let runner = FakeRunner::default();
    let (first, _) = f.build(&runner, APP).unwrap();
    let (second, events) = f.build(&runner, APP).unwrap();
    assert_eq!(first.image.id, second.image.id);
    assert_eq!((second.runs, second.cache_hits), (0, 3));
    assert_eq!(runner.calls.borrow().len(), 1);
    assert_eq!(
        events
            .iter()
            .filter(|e| **e == BuildEvent::UsingCache)
            .count(),
        3
    );
    // Without the cache every step runs again and still gives the same image.
    let (fresh, _) = f.build_with(&runner, APP, |r| r.no_cache = true).unwrap();
    assert_eq!(fresh.runs, 1);
    assert_eq!(fresh.image.id, first.image.id);
}

#[test]
fn a_changed_source_reruns_only_later_steps() {
    let f = fixture(&[("main.c", "v1")]);
    let runner = FakeRunner::default();
    let (first, _) = f.build(&runner, APP).unwrap();
    fs::write(f.context.join("main.c"), "v2").unwrap();
    let (second, _) = f.build(&runner, APP).unwrap();
    assert_eq!((second.runs, second.cache_hits), (1, 1));
    assert_ne!(first.image.id, second.image.id);
}

#[test]
fn multi_stage_copies_from_a_stage_and_honours_target() {
    let f = fixture(&[]);
    let df = "\
FROM base:1 AS build
ARG VERSION=1
RUN echo $VERSION > /out/app
FROM base:1 AS unused
RUN touch /never
FROM base:1
COPY --from=build --chown=app:staff --chmod=750 /out/app /usr/bin/app
USER app
";
    let runner = FakeRunner::default();
    let (built, _) = f
        .build_with(&runner, df, |r| {
            r.build_args = BTreeMap::from([("VERSION".to_string(), "7".to_string())]);
        })
        .unwrap();
    assert_eq!(
        runner.calls.borrow().len(),
        1,
        "the unused stage is not built"
    );
    assert_eq!(runner.calls.borrow()[0].env, ["VERSION=7"]);
    assert_eq!(built.image.layers, 2);
    assert_eq!(
        f.layer_paths("out:1", 1),
        ["usr/", "usr/bin/", "usr/bin/app"]
    );
    let s = f.store.resolve("out:1").unwrap();
    let m = f.store.read_manifest(&s.manifest).unwrap();
    let d: berth_image::digest::Digest = m.layers()[1].digest().to_string().parse().unwrap();
    let data = fs::read(f.store.content().blob_path(&d)).unwrap();
    let mut a = tar::Archive::new(&data[..]);
    let app = a
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .find(|e| e.path().unwrap().ends_with("app"))
        .unwrap();
    let h = app.header();
    assert_eq!(
        (h.uid().unwrap(), h.gid().unwrap(), h.mode().unwrap()),
        (1000, 50, 0o750)
    );
    assert_eq!(f.config("out:1")["config"]["User"], "app");

    let runner = FakeRunner::default();
    let (t, _) = f
        .build_with(&runner, df, |r| r.target = Some("unused".into()))
        .unwrap();
    assert_eq!(t.image.layers, 2);
    assert_eq!(runner.calls.borrow()[0].args[2], "touch /never");
}

#[test]
fn add_extracts_a_local_tar() {
    let f = fixture(&[]);
    let mut entries = layer::Entries::new();
    layer::insert(
        &mut entries,
        LayerEntry {
            path: "inner/file.txt".into(),
            kind: EntryKind::Bytes(b"x".to_vec()),
            mode: 0o600,
            uid: 0,
            gid: 0,
        },
    );
    let mut tarball = Vec::new();
    write_layer(&entries, 0, &mut tarball).unwrap();
    fs::write(f.context.join("bundle.tar"), tarball).unwrap();
    let runner = FakeRunner::default();
    f.build(
        &runner,
        "FROM scratch\nADD bundle.tar /opt/\nCOPY bundle.tar /raw/\n",
    )
    .unwrap();
    assert_eq!(f.layer_paths("out:1", 0), ["opt/", "opt/inner/file.txt"]);
    assert_eq!(f.layer_paths("out:1", 1), ["raw/", "raw/bundle.tar"]);
}

#[test]
fn failures_are_clear() {
    let f = fixture(&[("a", "1"), ("b", "2")]);
    let runner = FakeRunner::default();
    let err = f.build(&runner, "FROM base:1\nRUN exit 3\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "Dockerfile:2: The command '/bin/sh -c exit 3' returned a non-zero code: 3"
    );
    let err = f
        .build(&runner, "FROM base:1\nCOPY missing /x\n")
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("Dockerfile:2: COPY failed: file not found"),
        "{err}"
    );
    let err = f.build(&runner, "FROM base:1\nCOPY a b /x\n").unwrap_err();
    assert!(
        err.to_string()
            .contains("must be a directory and end with a /"),
        "{err}"
    );
    let err = f.build(&runner, "FROM nope:1\n").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("Dockerfile:1: base image \"nope:1\""),
        "{err}"
    );
    let err = f
        .build(&runner, "FROM base:1\nADD http://example.invalid/x /x\n")
        .unwrap_err();
    assert!(
        err.to_string().contains("remote sources are not supported"),
        "{err}"
    );
    let err = f
        .build(&runner, "FROM base:1\nCOPY --chown=ghost a /x\n")
        .unwrap_err();
    assert!(
        err.to_string().contains("unable to find user ghost"),
        "{err}"
    );
    // A failed build leaves no scratch directories behind.
    let runs = f.builder_root.join("runs");
    assert!(fs::read_dir(&runs).map_or(true, |mut d| d.next().is_none()));
}

#[test]
fn prune_empties_the_cache() {
    let f = fixture(&[("main.c", "v1")]);
    let runner = FakeRunner::default();
    f.build(&runner, APP).unwrap();
    let report = prune(&f.builder_root).unwrap();
    assert_eq!(report.entries, 3);
    let (again, _) = f.build(&runner, APP).unwrap();
    assert_eq!(again.runs, 1);
}

#[test]
fn layer_tars_are_deterministic() {
    let mut entries = layer::Entries::new();
    for p in ["b", "a/c", "a"] {
        layer::insert(&mut entries, LayerEntry::dir(p, 0o755, 0, 0));
    }
    layer::insert(
        &mut entries,
        LayerEntry {
            path: "a/gone".into(),
            kind: EntryKind::Whiteout,
            mode: 0,
            uid: 0,
            gid: 0,
        },
    );
    let (mut one, mut two) = (Vec::new(), Vec::new());
    write_layer(&entries, 7, &mut one).unwrap();
    write_layer(&entries, 7, &mut two).unwrap();
    assert_eq!(one, two);
    let mut a = tar::Archive::new(&one[..]);
    let names: Vec<(String, u64)> = a
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.path().unwrap().to_string_lossy().into_owned(),
                e.header().mtime().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("a/".to_string(), 7),
            ("a/.wh.gone".to_string(), 7),
            ("a/c/".to_string(), 7),
            ("b/".to_string(), 7)
        ]
    );
}

#[test]
fn upper_dirs_become_oci_changes() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (mknod of an overlay whiteout)"
    );
    let dir = tempfile::tempdir().unwrap();
    let upper = dir.path();
    fs::create_dir_all(upper.join("dev/pts")).unwrap();
    fs::create_dir_all(upper.join("proc")).unwrap();
    fs::create_dir_all(upper.join("etc")).unwrap();
    fs::write(upper.join("etc/new.conf"), "x").unwrap();
    std::os::unix::fs::symlink("new.conf", upper.join("etc/link")).unwrap();
    nix::sys::stat::mknod(
        &upper.join("etc/gone"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::empty(),
        0,
    )
    .unwrap();
    fs::create_dir_all(upper.join("sys/kept")).unwrap();
    fs::write(upper.join("sys/kept/file"), "y").unwrap();
    let entries = layer::diff_upper(upper).unwrap();
    let kinds: Vec<(String, String)> = entries
        .values()
        .map(|e| {
            let k = match &e.kind {
                EntryKind::Dir => "dir",
                EntryKind::File(_) => "file",
                EntryKind::Symlink(_) => "link",
                EntryKind::Whiteout => "whiteout",
                _ => "other",
            };
            (e.path.clone(), k.to_string())
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("etc", "dir"),
        ("etc/gone", "whiteout"),
        ("etc/link", "link"),
        ("etc/new.conf", "file"),
        ("sys", "dir"),
        ("sys/kept", "dir"),
        ("sys/kept/file", "file"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(kinds, want);
}
