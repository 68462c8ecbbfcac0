//! Unit tests of word expansion and ARG/ENV scoping.

use super::*;
use crate::dockerfile::parse;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |n: &str| map.get(n).cloned()
}

fn word(w: &str) -> String {
    let env = env_of(&[("A", "apple"), ("EMPTY", ""), ("SP", "a b")]);
    Lexer::new('\\').process_word(w, &env).expect(w)
}

#[test]
fn plain_and_braced_variables() {
    assert_eq!(word("$A"), "apple");
    assert_eq!(word("${A}s"), "apples");
    assert_eq!(word("x$UNSET-y"), "x-y");
    assert_eq!(word("$"), "$");
    assert_eq!(word("a$ b"), "a$ b");
    assert_eq!(word("$A$A"), "appleapple");
}

#[test]
fn default_and_alternate_modifiers() {
    assert_eq!(word("${UNSET:-dflt}"), "dflt");
    assert_eq!(word("${EMPTY:-dflt}"), "dflt");
    assert_eq!(word("${EMPTY-dflt}"), "");
    assert_eq!(word("${UNSET-dflt}"), "dflt");
    assert_eq!(word("${A:-dflt}"), "apple");
    assert_eq!(word("${A:+alt}"), "alt");
    assert_eq!(word("${EMPTY:+alt}"), "");
    assert_eq!(word("${EMPTY+alt}"), "alt");
    assert_eq!(word("${UNSET+alt}"), "");
    assert_eq!(word("${UNSET:-$A}"), "apple");
    assert_eq!(word("${UNSET:-${A}-x}"), "apple-x");
}

#[test]
fn required_modifier_errors() {
    let lx = Lexer::new('\\');
    let env = env_of(&[("EMPTY", "")]);
    assert_eq!(
        lx.process_word("${X:?must be set}", &env)
            .unwrap_err()
            .to_string(),
        "X: must be set"
    );
    assert_eq!(lx.process_word("${EMPTY?}", &env).unwrap(), "");
    assert!(lx.process_word("${EMPTY:?}", &env).is_err());
}

#[test]
fn prefix_and_suffix_removal() {
    let env = env_of(&[("F", "archive.tar.gz")]);
    let lx = Lexer::new('\\');
    assert_eq!(lx.process_word("${F%.*}", &env).unwrap(), "archive.tar");
    assert_eq!(lx.process_word("${F%%.*}", &env).unwrap(), "archive");
    assert_eq!(lx.process_word("${F#*.}", &env).unwrap(), "tar.gz");
    assert_eq!(lx.process_word("${F##*.}", &env).unwrap(), "gz");
    assert_eq!(
        lx.process_word("${F#nomatch}", &env).unwrap(),
        "archive.tar.gz"
    );
    let env = env_of(&[("S", "a*b*c")]);
    assert_eq!(lx.process_word(r"${S#*\*}", &env).unwrap(), "b*c");
    assert_eq!(lx.process_word(r"${S%\**}", &env).unwrap(), "a*b");
}

#[test]
fn pattern_substitution() {
    let env = env_of(&[("P", "a-b-c")]);
    let lx = Lexer::new('\\');
    assert_eq!(lx.process_word("${P/-/_}", &env).unwrap(), "a_b-c");
    assert_eq!(lx.process_word("${P//-/_}", &env).unwrap(), "a_b_c");
    assert_eq!(lx.process_word("${P/?-/}", &env).unwrap(), "b-c");
    assert_eq!(lx.process_word("${P//x/y}", &env).unwrap(), "a-b-c");
}

#[test]
fn special_and_positional_parameters_expand_empty() {
    assert_eq!(word("a$-b"), "ab");
    assert_eq!(word("$12x"), "x");
    assert_eq!(word("$@"), "");
    assert_eq!(word("${#}"), "");
}

#[test]
fn quotes_and_escapes() {
    assert_eq!(word("'$A'"), "$A");
    assert_eq!(word("\"$A b\""), "apple b");
    assert_eq!(word(r"\$A"), "$A");
    assert_eq!(word(r#""a\"b""#), "a\"b");
    assert_eq!(word(r#""a\nb""#), r"a\nb");
    assert_eq!(word(r"esc\ aped"), "esc aped");
    assert_eq!(word(r#"a"b"'c'd"#), "abcd");
    assert_eq!(word("trailing\\"), "trailing");
}

#[test]
fn lexer_errors() {
    let lx = Lexer::new('\\');
    let env = env_of(&[]);
    assert_eq!(
        lx.process_word("'open", &env),
        Err(ExpandError::UnterminatedSingleQuote)
    );
    assert_eq!(
        lx.process_word("\"open", &env),
        Err(ExpandError::UnterminatedDoubleQuote)
    );
    assert_eq!(lx.process_word("${A", &env), Err(ExpandError::MissingBrace));
    assert_eq!(
        lx.process_word("${A:-x", &env),
        Err(ExpandError::MissingBrace)
    );
    assert_eq!(lx.process_word("${", &env), Err(ExpandError::MissingBrace));
    for bad in ["${}", "${:x}", "${{x}"] {
        assert_eq!(
            lx.process_word(bad, &env),
            Err(ExpandError::BadSubstitution),
            "{bad}"
        );
    }
    assert_eq!(
        lx.process_word("${A:=x}", &env).unwrap_err().to_string(),
        "unsupported modifier (:=) in substitution"
    );
    assert_eq!(
        lx.process_word("${A:#x}", &env),
        Err(ExpandError::UnsupportedModifier(":#".into()))
    );
}

#[test]
fn backtick_escape() {
    let env = env_of(&[("A", "x")]);
    let lx = Lexer::new('`');
    assert_eq!(lx.process_word(r"C:\dir\$A", &env).unwrap(), r"C:\dir\x");
    assert_eq!(lx.process_word("`$A", &env).unwrap(), "$A");
}

#[test]
fn words_split_on_unquoted_whitespace_and_variables() {
    let env = env_of(&[("SP", "80 443")]);
    let lx = Lexer::new('\\');
    assert_eq!(
        lx.process_words("$SP 22", &env).unwrap(),
        ["80", "443", "22"]
    );
    assert_eq!(lx.process_words("\"$SP\"", &env).unwrap(), ["80 443"]);
    assert_eq!(lx.process_words("'' x", &env).unwrap(), ["", "x"]);
}

fn inputs(args: &[(&str, &str)]) -> BuildInputs {
    BuildInputs {
        build_args: args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        build_platform: Platform::parse("linux/amd64").unwrap(),
        target_platform: Platform::parse("linux/arm64/v8").unwrap(),
    }
}

#[test]
fn global_args_reach_from_but_not_stage_until_redeclared() {
    let df = parse(
        "ARG V=3.19\nARG IMG=alpine\nFROM --platform=$TARGETPLATFORM ${IMG}:$V\nWORKDIR /$V\nARG V\nWORKDIR /$V\n",
    )
    .unwrap();
    let inp = inputs(&[]);
    let global = GlobalScope::new(&df, &inp).unwrap();
    let stage = &df.stages[0];
    assert_eq!(
        global.expand_from(stage).unwrap(),
        (
            "alpine:3.19".to_string(),
            Some("linux/arm64/v8".to_string())
        )
    );
    let mut scope = StageScope::new(&global, &inp, &[]);
    let got: Vec<Instruction> = stage
        .instructions
        .iter()
        .map(|i| scope.apply(i).unwrap())
        .collect();
    assert_eq!(got[0], Instruction::Workdir("/".into()));
    assert_eq!(got[2], Instruction::Workdir("/3.19".into()));
}

#[test]
fn build_arg_overrides_defaults_and_env_overrides_arg() {
    let df =
        parse("ARG G=global\nFROM x\nARG G=stage\nARG B=b\nENV B=fromenv\nUSER $G:$B\n").unwrap();
    let inp = inputs(&[("G", "cli")]);
    let global = GlobalScope::new(&df, &inp).unwrap();
    assert_eq!(global.get("G").as_deref(), Some("cli"));
    let mut scope = StageScope::new(&global, &inp, &[]);
    let last = df.stages[0]
        .instructions
        .iter()
        .map(|i| scope.apply(i).unwrap())
        .last()
        .unwrap();
    assert_eq!(last, Instruction::User("cli:fromenv".into()));
    assert_eq!(
        scope.arg_values(),
        vec![("G".into(), "cli".into()), ("B".into(), "fromenv".into())]
    );
    assert_eq!(
        scope.env(),
        ["B=fromenv"],
        "ARG values stay out of the image env"
    );
}

#[test]
fn later_arg_overrides_env_for_expansion_only() {
    let df = parse("FROM x\nENV V=env\nARG V=arg\nWORKDIR /$V\nARG NOVAL\n").unwrap();
    let inp = inputs(&[]);
    let global = GlobalScope::new(&df, &inp).unwrap();
    let mut scope = StageScope::new(&global, &inp, &[]);
    let got: Vec<_> = df.stages[0]
        .instructions
        .iter()
        .map(|i| scope.apply(i).unwrap())
        .collect();
    assert_eq!(got[2], Instruction::Workdir("/arg".into()));
    assert_eq!(scope.env(), ["V=env"]);
    assert_eq!(scope.run_env(), ["V=arg"]);
    assert_eq!(
        scope.arg_values(),
        vec![("V".into(), "arg".into()), ("NOVAL".into(), String::new())]
    );
}

#[test]
fn env_on_one_line_sees_previous_values() {
    let df = parse("FROM x\nENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$abc\n").unwrap();
    let inp = inputs(&[]);
    let global = GlobalScope::new(&df, &inp).unwrap();
    let mut scope = StageScope::new(&global, &inp, &["PATH=/bin".to_string()]);
    for i in &df.stages[0].instructions {
        scope.apply(i).unwrap();
    }
    assert_eq!(
        scope.env(),
        ["PATH=/bin", "abc=bye", "def=hello", "ghi=bye"]
    );
}

#[test]
fn platform_args_need_declaration_inside_stage() {
    let df = parse("FROM x\nWORKDIR /$TARGETARCH\nARG TARGETARCH\nARG BUILDOS\nWORKDIR /$TARGETARCH/$BUILDOS\n")
        .unwrap();
    let inp = inputs(&[]);
    let global = GlobalScope::new(&df, &inp).unwrap();
    let mut scope = StageScope::new(&global, &inp, &[]);
    let got: Vec<_> = df.stages[0]
        .instructions
        .iter()
        .map(|i| scope.apply(i).unwrap())
        .collect();
    assert_eq!(got[0], Instruction::Workdir("/".into()));
    assert_eq!(got[3], Instruction::Workdir("/arm64/linux".into()));
}

#[test]
fn proxy_args_go_to_run_env_without_declaration_but_not_expansion() {
    let df = parse("FROM x\nWORKDIR /a$HTTP_PROXY\nENV X=1\n").unwrap();
    let inp = inputs(&[("HTTP_PROXY", "http://proxy:3128"), ("UNDECLARED", "1")]);
    let global = GlobalScope::new(&df, &inp).unwrap();
    let mut scope = StageScope::new(&global, &inp, &[]);
    let got: Vec<_> = df.stages[0]
        .instructions
        .iter()
        .map(|i| scope.apply(i).unwrap())
        .collect();
    assert_eq!(got[0], Instruction::Workdir("/a".into()));
    assert_eq!(scope.run_env(), ["X=1", "HTTP_PROXY=http://proxy:3128"]);
}

#[test]
fn run_cmd_and_onbuild_are_not_expanded() {
    let df = parse(
        "FROM x\nENV A=1\nRUN echo $A\nCMD echo $A\nONBUILD WORKDIR $A\nHEALTHCHECK CMD echo $A\nSHELL [\"$A\"]\n",
    )
    .unwrap();
    let inp = inputs(&[]);
    let global = GlobalScope::new(&df, &inp).unwrap();
    let mut scope = StageScope::new(&global, &inp, &[]);
    for i in &df.stages[0].instructions {
        assert_eq!(scope.apply(i).unwrap(), i.value);
    }
}

#[test]
fn copy_paths_flags_and_heredoc_bodies_expand() {
    let df = parse(
        "FROM x\nARG U=app\nARG SRC=out\nCOPY --chown=$U:$U --from=${SRC}stage $SRC/bin /usr/$U/\nCOPY <<EOF <<'RAW' /etc/\nuser=\"$U\"\nEOF\nuser=$U\nRAW\n",
    )
    .unwrap();
    let inp = inputs(&[]);
    let global = GlobalScope::new(&df, &inp).unwrap();
    let mut scope = StageScope::new(&global, &inp, &[]);
    let got: Vec<_> = df.stages[0]
        .instructions
        .iter()
        .map(|i| scope.apply(i).unwrap())
        .collect();
    let Instruction::Copy(c) = &got[2] else {
        panic!("not a copy: {:?}", got[2])
    };
    assert_eq!(c.chown.as_deref(), Some("app:app"));
    assert_eq!(c.from.as_deref(), Some("outstage"));
    assert_eq!(c.sources, [Source::Path("out/bin".into())]);
    assert_eq!(c.dest, "/usr/app/");
    let Instruction::Copy(c) = &got[3] else {
        panic!("not a copy")
    };
    let bodies: Vec<&str> = c
        .sources
        .iter()
        .map(|s| match s {
            Source::Heredoc(h) => h.content.as_str(),
            Source::Path(p) => p.as_str(),
        })
        .collect();
    assert_eq!(bodies, ["user=\"app\"\n", "user=$U\n"]);
}

#[test]
fn errors_name_line_and_instruction() {
    let df = parse("FROM x\n\nWORKDIR \"/unterminated\n").unwrap();
    let inp = inputs(&[]);
    let global = GlobalScope::new(&df, &inp).unwrap();
    let mut scope = StageScope::new(&global, &inp, &[]);
    let e = scope.apply(&df.stages[0].instructions[0]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Dockerfile:3: WORKDIR: unexpected end of statement while looking for matching double-quote"
    );
}

#[test]
fn expose_expands_to_several_words() {
    let df = parse("FROM x\nARG PORTS=\"80 443\"\nEXPOSE $PORTS 22/udp\n").unwrap();
    let inp = inputs(&[]);
    let global = GlobalScope::new(&df, &inp).unwrap();
    let mut scope = StageScope::new(&global, &inp, &[]);
    let got: Vec<_> = df.stages[0]
        .instructions
        .iter()
        .map(|i| scope.apply(i).unwrap())
        .collect();
    assert_eq!(
        got[1],
        Instruction::Expose(vec!["80".into(), "443".into(), "22/udp".into()])
    );
}

#[test]
fn run_mount_options_expand_but_command_does_not() {
    let df = parse("FROM x\nARG C=/cache\nRUN --mount=type=cache,target=$C,id=${C}-id echo $C\n")
        .unwrap();
    let inp = inputs(&[]);
    let global = GlobalScope::new(&df, &inp).unwrap();
    let mut scope = StageScope::new(&global, &inp, &[]);
    scope.apply(&df.stages[0].instructions[0]).unwrap();
    let Instruction::Run(run) = scope.apply(&df.stages[0].instructions[1]).unwrap() else {
        panic!("not a run")
    };
    assert_eq!(run.mounts[0].target.as_deref(), Some("/cache"));
    assert_eq!(run.mounts[0].options[0].value, "/cache-id");
    assert_eq!(
        run.command,
        crate::dockerfile::CommandForm::Shell("echo $C".into())
    );
}
