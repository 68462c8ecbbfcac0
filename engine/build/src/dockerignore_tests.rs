//! Unit tests of `.dockerignore` semantics, with the examples of Docker's documentation.

use super::*;

fn m(text: &str) -> Matcher {
    Matcher::parse(text).expect("patterns")
}

#[test]
fn go_clean() {
    assert_eq!(clean("./a//b/../c/"), "a/c");
    assert_eq!(clean("/"), "/");
    assert_eq!(clean("../x"), "../x");
    assert_eq!(clean("/../x"), "/x");
    assert_eq!(clean("./"), ".");
}

#[test]
fn reading_cleans_and_skips_comments() {
    assert_eq!(
        read_patterns("# comment\n\n/abs\n./rel/\n  spaced  \n! neg \n!/root\n  #notcomment\n"),
        ["abs", "rel", "spaced", "!neg", "!root", "#notcomment"]
    );
}

#[test]
fn matcher_keeps_cleaned_patterns() {
    assert_eq!(m("/a/\n!./b\n\n").patterns(), ["a", "!b"]);
}

#[test]
fn docs_examples() {
    let mt = m("*/temp*\n*/*/temp*\ntemp?\n");
    assert!(mt.excluded("somedir/temporary.txt"));
    assert!(mt.excluded("somedir/temp"));
    assert!(!mt.excluded("temporary.txt"));
    assert!(mt.excluded("somedir/subdir/temporary.txt"));
    assert!(mt.excluded("tempa"));
    assert!(!mt.excluded("tempab"));
}

#[test]
fn star_does_not_cross_slash_but_doublestar_does() {
    let mt = m("*.md\n");
    assert!(mt.excluded("README.md"));
    assert!(!mt.excluded("docs/guide.md"));
    let mt = m("**/*.go\n");
    assert!(mt.excluded("main.go"));
    assert!(mt.excluded("pkg/a/b.go"));
    assert!(!mt.excluded("main.gox"));
    let mt = m("a/**/b\n");
    assert!(mt.excluded("a/b"));
    assert!(mt.excluded("a/x/y/b"));
    assert!(!mt.excluded("a/x/y/bb"));
}

#[test]
fn exception_after_and_before() {
    let mt = m("*.md\n!important.md\n");
    assert!(mt.excluded("README.md"));
    assert!(!mt.excluded("important.md"));
    let mt = m("!important.md\n*.md\n");
    assert!(mt.excluded("important.md"), "last match wins");
    let mt = m("*.md\n!README*.md\nREADME-secret.md\n");
    assert!(mt.excluded("README-secret.md"));
    assert!(!mt.excluded("README-public.md"));
}

#[test]
fn dir_with_and_without_slash_exclude_contents() {
    for text in ["dir\n", "dir/\n", "/dir\n", "./dir\n"] {
        let mt = m(text);
        assert!(mt.excluded("dir"), "{text}");
        assert!(mt.excluded("dir/file"), "{text}");
        assert!(mt.excluded("dir/sub/deep"), "{text}");
        assert!(!mt.excluded("dirx"), "{text}");
        assert!(
            !mt.excluded("other/dir/file"),
            "{text}: anchored at the root"
        );
    }
    let mt = m("dir/*\n");
    assert!(!mt.excluded("dir"));
    assert!(mt.excluded("dir/a"));
    assert!(mt.excluded("dir/sub/deep"));
    let mt = m("foo/**\n");
    assert!(!mt.excluded("foo"));
    assert!(mt.excluded("foo/x/y"));
}

#[test]
fn question_mark_and_classes() {
    let mt = m("?.txt\n[a-c]x\nlog[0-9]\n");
    assert!(mt.excluded("a.txt"));
    assert!(!mt.excluded("ab.txt"));
    assert!(!mt.excluded("/.txt"));
    assert!(mt.excluded("bx"));
    assert!(!mt.excluded("dx"));
    assert!(mt.excluded("log7"));
    assert!(!mt.excluded("logx"));
    let mt = m("x[^a]y\n");
    assert!(mt.excluded("xby"));
    assert!(!mt.excluded("xay"));
    assert!(!mt.excluded("x/y"), "a class never matches the separator");
    let mt = m("x[!a]y\n");
    assert!(mt.excluded("x!y"), "as Go's filepath.Match, only ^ negates");
    assert!(mt.excluded("xay"));
    assert!(!mt.excluded("xby"));
}

#[test]
fn escapes_and_regex_metacharacters_are_literal() {
    let mt = m("a+b(1).txt\n\\*star\n{x}|$\n");
    assert!(mt.excluded("a+b(1).txt"));
    assert!(!mt.excluded("aab1.txt"));
    assert!(mt.excluded("*star"));
    assert!(!mt.excluded("xstar"));
    assert!(mt.excluded("{x}|$"));
}

#[test]
fn everything_but() {
    let mt = m("**\n!Dockerfile\n!src\n");
    assert!(mt.excluded("README"));
    assert!(!mt.excluded("Dockerfile"));
    assert!(!mt.excluded("src/main.rs"));
    assert!(mt.excluded("target/debug/x"));
}

#[test]
fn empty_exclusion_is_an_error() {
    assert!(matches!(
        Matcher::parse("a\n!\n"),
        Err(IgnoreError::EmptyExclusion { line: 2 })
    ));
}

#[test]
fn excluded_dir_with_exception_inside_is_walked() {
    let mt = m("vendor\n!vendor/keep/**\n");
    assert!(!mt.can_skip_dir("vendor"));
    assert!(mt.can_skip_dir("other"));
    let mt = m("vendor\n");
    assert!(mt.can_skip_dir("vendor"));
    let mt = m("a\n!a/*/c.txt\n");
    assert!(!mt.can_skip_dir("a/b"));
    assert!(mt.can_skip_dir("x"));
}

fn touch(root: &Path, rel: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    fs::write(p, rel).expect("write");
}

#[test]
fn walk_lists_included_files_sorted() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    for f in [
        "Dockerfile",
        "README.md",
        "important.md",
        "src/main.go",
        "src/util/x.go",
        "src/notes.md",
        "vendor/lib/a.c",
        "vendor/keep/b.c",
        "node_modules/pkg/index.js",
        "build/out.bin",
    ] {
        touch(root, f);
    }
    fs::create_dir_all(root.join("emptydir")).expect("mkdir");
    std::os::unix::fs::symlink("README.md", root.join("link")).expect("symlink");
    let mt = m(
        "*.md\n!important.md\nnode_modules/\nvendor\n!vendor/keep\n/build\n**/*.go\n!src/main.go\n",
    );
    let files = walk_context(root, &mt).expect("walk");
    let files: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    assert_eq!(
        files,
        [
            "Dockerfile",
            "important.md",
            "link",
            "src/main.go",
            "src/notes.md",
            "vendor/keep/b.c",
        ]
    );
}

#[test]
fn walk_missing_root_is_an_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let err = walk_context(&tmp.path().join("absent"), &Matcher::default()).unwrap_err();
    assert!(matches!(err, IgnoreError::Io { .. }));
}
