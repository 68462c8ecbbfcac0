//! Unit tests of image config application and history strings.

use std::collections::BTreeMap;

use super::*;
use crate::dockerfile::parse;
use crate::expand::{BuildInputs, GlobalScope, Platform, StageScope};

fn build_on(text: &str, base: Config, args: &[(&str, &str)]) -> Result<ImageState, ConfigError> {
    let df = parse(text).expect("parse");
    let inputs = BuildInputs {
        build_args: args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        build_platform: Platform::parse("linux/amd64").expect("platform"),
        target_platform: Platform::parse("linux/amd64").expect("platform"),
    };
    let global = GlobalScope::new(&df, &inputs).expect("global");
    let base_env = base.env().clone().unwrap_or_default();
    let mut scope = StageScope::new(&global, &inputs, &base_env);
    let mut state = ImageState::from_base(base);
    for located in &df.stages[0].instructions {
        let value = scope.apply(located).expect("expand");
        let expanded = Located {
            value,
            ..located.clone()
        };
        state.apply(&expanded, &scope.arg_values())?;
    }
    Ok(state)
}

fn build(text: &str) -> ImageState {
    build_on(text, Config::default(), &[]).expect("config")
}

fn history(state: &ImageState) -> Vec<String> {
    state
        .history
        .iter()
        .map(|h| h.created_by().clone().unwrap_or_default())
        .collect()
}

#[test]
fn env_label_user_stopsignal() {
    let s = build(
        "FROM x\nENV A=1 B=\"two words\"\nENV A=3\nLABEL a=b \"c.d\"=e\nUSER app\nSTOPSIGNAL SIGQUIT\n",
    );
    assert_eq!(s.config.env().clone().unwrap(), ["A=3", "B=two words"]);
    let labels = s.config.labels().clone().unwrap();
    assert_eq!(labels.get("c.d").map(String::as_str), Some("e"));
    assert_eq!(s.config.user().as_deref(), Some("app"));
    assert_eq!(s.config.stop_signal().as_deref(), Some("SIGQUIT"));
    assert_eq!(
        history(&s),
        [
            "ENV A=1 B=two words",
            "ENV A=3",
            "LABEL a=b c.d=e",
            "USER app",
            "STOPSIGNAL SIGQUIT"
        ]
    );
}

#[test]
fn workdir_relative_to_previous() {
    let s = build("FROM x\nWORKDIR a\nWORKDIR b/../c\nWORKDIR /abs/\nWORKDIR d\n");
    assert_eq!(s.config.working_dir().as_deref(), Some("/abs/d"));
    assert_eq!(
        history(&s),
        [
            "WORKDIR /a",
            "WORKDIR /a/c",
            "WORKDIR /abs",
            "WORKDIR /abs/d"
        ]
    );
    assert_eq!(normalize_workdir(Some("/app"), "../x"), "/x");
}

#[test]
fn expose_ports_and_ranges() {
    let s = build("FROM x\nEXPOSE 80 53/UDP\nEXPOSE 8000-8002/tcp 80/tcp\n");
    assert_eq!(
        s.config.exposed_ports().clone().unwrap(),
        ["53/udp", "80/tcp", "8000/tcp", "8001/tcp", "8002/tcp"],
        "BuildKit sorts EXPOSE arguments"
    );
    assert_eq!(history(&s)[0], "EXPOSE [53/udp 80/tcp]");
    assert_eq!(history(&s)[1], "EXPOSE [80/tcp 8000/tcp 8001/tcp 8002/tcp]");
    let e = build_on("FROM x\nEXPOSE 70000\n", Config::default(), &[]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Dockerfile:2: EXPOSE: invalid port \"70000\": invalid port number"
    );
    assert!(parse_port_spec("80/icmp").is_err());
    assert!(parse_port_spec("90-80").is_err());
}

#[test]
fn entrypoint_resets_inherited_cmd() {
    let mut base = Config::default();
    base.set_cmd(Some(vec!["bash".into()]));
    let s = build_on("FROM x\nENTRYPOINT [\"/e\"]\n", base.clone(), &[]).unwrap();
    assert_eq!(s.config.entrypoint().clone().unwrap(), ["/e"]);
    assert_eq!(s.config.cmd(), &None);
    let s = build_on(
        "FROM x\nCMD [\"c\"]\nENTRYPOINT [\"/e\"]\n",
        base.clone(),
        &[],
    )
    .unwrap();
    assert_eq!(s.config.cmd().clone().unwrap(), ["c"]);
    let s = build_on("FROM x\nUSER u\n", base, &[]).unwrap();
    assert_eq!(
        s.config.cmd().clone().unwrap(),
        ["bash"],
        "kept without ENTRYPOINT"
    );
}

#[test]
fn shell_form_wraps_with_shell() {
    let s = build(
        "FROM x\nCMD echo $HOME\nSHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\nENTRYPOINT exec app\nRUN make | tee log\n",
    );
    assert_eq!(
        s.config.cmd().clone().unwrap(),
        ["/bin/sh", "-c", "echo $HOME"]
    );
    assert_eq!(
        s.config.entrypoint().clone().unwrap(),
        ["/bin/bash", "-o", "pipefail", "-c", "exec app"]
    );
    assert_eq!(
        history(&s),
        [
            r#"CMD ["/bin/sh" "-c" "echo $HOME"]"#,
            "SHELL [/bin/bash -o pipefail -c]",
            r#"ENTRYPOINT ["/bin/bash" "-o" "pipefail" "-c" "exec app"]"#,
            "RUN /bin/bash -o pipefail -c make | tee log # buildkit",
        ]
    );
    let json = s.docker_config_json();
    assert_eq!(json["Shell"][0], "/bin/bash");
}

#[test]
fn run_history_with_build_args_prefix() {
    let s = build_on(
        "FROM x\nARG V=1\nARG W\nARG U\nRUN apt-get update\nRUN [\"echo\", \"hi\"]\n",
        Config::default(),
        &[("W", "2")],
    )
    .unwrap();
    assert_eq!(
        history(&s),
        [
            "ARG V=1",
            "ARG W=2",
            "ARG U",
            "RUN |3 V=1 W=2 U= /bin/sh -c apt-get update # buildkit",
            "RUN |3 V=1 W=2 U= echo hi # buildkit",
        ]
    );
    assert_eq!(s.history[3].empty_layer(), None);
    assert_eq!(s.history[0].empty_layer(), Some(true));
}

#[test]
fn copy_add_history() {
    let s =
        build("FROM x\nCOPY --chown=1:1 --from=b a b /dst/\nADD --chmod=644 <<EOF /f\nx\nEOF\n");
    assert_eq!(
        history(&s),
        [
            "COPY --chown=1:1 a b /dst/ # buildkit",
            "ADD --chmod=644 <<EOF /f # buildkit"
        ]
    );
}

#[test]
fn volumes_onbuild_maintainer() {
    let s =
        build("FROM x\nVOLUME /a /b\nVOLUME [\"/a\", \"/c\"]\nONBUILD RUN make\nMAINTAINER me\n");
    assert_eq!(s.config.volumes().clone().unwrap(), ["/a", "/b", "/c"]);
    assert_eq!(s.on_build, ["RUN make"]);
    assert_eq!(s.history.len(), 3, "ONBUILD writes no history entry");
    assert_eq!(s.author.as_deref(), Some("me"));
    assert_eq!(history(&s)[0], "VOLUME [/a /b]");
    assert_eq!(s.docker_config_json()["OnBuild"][0], "RUN make");
}

#[test]
fn healthcheck_shape_and_history() {
    let s = build(
        "FROM x\nHEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD curl -f http://localhost/\n",
    );
    let h = s.healthcheck.clone().unwrap();
    assert_eq!(h.test, ["CMD-SHELL", "curl -f http://localhost/"]);
    assert_eq!(h.interval, 30_000_000_000);
    assert_eq!(h.retries, 3);
    assert_eq!(
        serde_json::to_value(&h).unwrap(),
        serde_json::json!({"Test": ["CMD-SHELL", "curl -f http://localhost/"], "Interval": 30_000_000_000u64, "Timeout": 5_000_000_000u64, "Retries": 3})
    );
    assert_eq!(
        history(&s),
        [r#"HEALTHCHECK &{["CMD-SHELL" "curl -f http://localhost/"] "30s" "5s" "0s" "0s" '\x03'}"#]
    );
    let s = build("FROM x\nHEALTHCHECK CMD [\"/check\"]\nHEALTHCHECK NONE\n");
    assert_eq!(s.healthcheck.unwrap().test, ["NONE"]);
    let s = build("FROM x\nHEALTHCHECK CMD [\"/check\", \"-q\"]\n");
    assert_eq!(s.healthcheck.unwrap().test, ["CMD", "/check", "-q"]);
}

#[test]
fn stop_signals() {
    for ok in ["SIGTERM", "term", "9", "SIGRTMIN+3", "RTMAX-1", "sigusr1"] {
        assert!(valid_signal(ok), "{ok}");
    }
    for bad in ["0", "65", "SIGFOO", "RTMIN+20", ""] {
        assert!(!valid_signal(bad), "{bad}");
    }
    let e = build_on("FROM x\nSTOPSIGNAL NOPE\n", Config::default(), &[]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Dockerfile:2: STOPSIGNAL: invalid signal: NOPE"
    );
}

#[test]
fn go_durations_print_like_go() {
    assert_eq!(go_duration(0), "0s");
    assert_eq!(go_duration(1_500_000), "1.5ms");
    assert_eq!(go_duration(90_000_000_000), "1m30s");
    assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
    assert_eq!(go_duration(2_500_000_000), "2.5s");
    assert_eq!(go_duration(999), "999ns");
}

#[test]
fn cmd_sets_args_escaped() {
    let s = build("FROM x\nCMD [\"a\"]\n");
    assert_eq!(s.docker_config_json()["ArgsEscaped"], true);
    assert!(
        build("FROM x\nUSER u\n")
            .docker_config_json()
            .get("ArgsEscaped")
            .is_none()
    );
}

#[test]
fn run_heredocs_become_shell_scripts_as_buildkit() {
    let s = build("FROM x\nRUN <<EOF\napk add curl\necho done\nEOF\n");
    assert_eq!(
        history(&s),
        ["RUN /bin/sh -c apk add curl\necho done\n # buildkit"]
    );
    let df = parse("FROM x\nRUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\nRUN python3 <<A && cat <<-B\nprint(2)\nA\n\tb\n\tB\nRUN [\"echo\", \"<<X\"]\n").unwrap();
    let run = |i: usize| match &df.stages[0].instructions[i].value {
        Instruction::Run(r) => run_command(r, &default_shell()),
        other => panic!("not a run: {other:?}"),
    };
    let script = run(0);
    assert_eq!(script.args, ["/bin/sh", "-c", "/dev/pipes/EOF"]);
    assert_eq!(
        script.script.map(|h| h.content),
        Some("#!/usr/bin/env python3\nprint(1)\n".to_string())
    );
    let inline = run(1);
    assert_eq!(
        inline.args,
        [
            "/bin/sh",
            "-c",
            "python3 <<A && cat <<-B\nprint(2)\nA\nb\nB"
        ]
    );
    assert!(inline.script.is_none());
    assert_eq!(run(2).args, ["echo", "<<X"]);
}

#[test]
fn copy_and_add_dispatch_checks() {
    let err = |text: &str| {
        build_on(text, Config::default(), &[])
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err("FROM x\nCOPY --chmod=u+x a /b\n"),
        "Dockerfile:2: COPY: invalid chmod parameter: 'u+x'. it should be octal string and between 0 and 07777"
    );
    assert!(err("FROM x\nADD --chmod=17777 a /b\n").contains("invalid chmod"));
    assert_eq!(
        err("FROM x\nCOPY https://example.invalid/f /f\n"),
        "Dockerfile:2: COPY: source can't be a URL for COPY"
    );
    assert_eq!(
        err("FROM x\nADD --checksum=sha256:00 a b /d/\n"),
        "Dockerfile:2: ADD: checksum can't be specified for multiple sources"
    );
    assert_eq!(
        err("FROM x\nADD --checksum=sha256:00 local.tar /d/\n"),
        "Dockerfile:2: ADD: checksum can't be specified for non-HTTP(S) sources"
    );
    build(
        "FROM x\nADD --checksum=sha256:00 --chmod=0755 https://example.invalid/f /f\nCOPY --chmod=644 a /b\n",
    );
}

#[test]
fn empty_entrypoint_clears_it() {
    let mut base = Config::default();
    base.set_entrypoint(Some(vec!["/old".into()]));
    let s = build_on("FROM x\nENTRYPOINT []\n", base, &[]).unwrap();
    assert_eq!(s.config.entrypoint(), &None);
    assert_eq!(history(&s), ["ENTRYPOINT []"]);
}
