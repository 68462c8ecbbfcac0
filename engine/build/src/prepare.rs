//! The one call the engine's builder makes before running anything: parse, expand the
//! `FROM` lines with global args, plan the stages for the target, and for each stage turn
//! its instructions (after any ONBUILD triggers of its base) into expanded steps with the
//! env, user, workdir and shell each step runs with, plus the resulting image config.

use oci_spec::image::Config;

use crate::config::{ConfigError, ImageState};
use crate::dockerfile::{self, Dockerfile, Instruction, Located, ParseError};
use crate::expand::{BuildInputs, ExpandError, GlobalScope, PROXY_ARGS, StageScope};
use crate::stages::{self, StageError, StagePlan};

#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Expand(#[from] ExpandError),
    #[error(transparent)]
    Stages(#[from] StageError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("stage index {index} out of range ({stages} stages)")]
    StageIndex { index: usize, stages: usize },
    #[error("ONBUILD trigger {trigger:?} of the base image: {source}")]
    Trigger {
        trigger: String,
        source: Box<ParseError>,
    },
}

/// A parsed Dockerfile with its global scope and the plan for one target.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub dockerfile: Dockerfile,
    pub global: GlobalScope,
    /// Per stage: base name and platform with global args expanded.
    pub bases: Vec<(String, Option<String>)>,
    pub plan: StagePlan,
}

/// Parses and plans a build of `target` (the last stage when `None`).
pub fn prepare(
    text: &str,
    inputs: &BuildInputs,
    target: Option<&str>,
) -> Result<Prepared, PrepareError> {
    let dockerfile = dockerfile::parse(text)?;
    let global = GlobalScope::new(&dockerfile, inputs)?;
    let bases = dockerfile
        .stages
        .iter()
        .map(|s| global.expand_from(s))
        .collect::<Result<Vec<_>, _>>()?;
    let names: Vec<String> = bases.iter().map(|(b, _)| b.clone()).collect();
    let plan = stages::plan(
        &with_expanded_froms(&dockerfile, &global, inputs),
        &names,
        target,
    )?;
    Ok(Prepared {
        dockerfile,
        global,
        bases,
        plan,
    })
}

/// A copy of the Dockerfile whose `COPY --from` and `RUN --mount=from=` values are
/// expanded with each stage's args, so `--from=$BUILDER` names the right stage. Expansion
/// errors leave the raw value; `stage_steps` reports them with their line.
fn with_expanded_froms(df: &Dockerfile, global: &GlobalScope, inputs: &BuildInputs) -> Dockerfile {
    let mut out = df.clone();
    for stage in &mut out.stages {
        let mut scope = StageScope::new(global, inputs, &[]);
        for located in &mut stage.instructions {
            let expanded = scope.apply(located);
            match (&mut located.value, expanded) {
                (Instruction::Copy(c), Ok(Instruction::Copy(e))) => c.from = e.from,
                (Instruction::Run(r), Ok(Instruction::Run(e))) => r.mounts = e.mounts,
                _ => {}
            }
        }
    }
    out
}

/// One instruction ready to execute, with the context it runs in.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub instruction: Located<Instruction>,
    /// True for the base image's ONBUILD triggers run before the stage's own instructions.
    pub trigger: bool,
    /// `KEY=value` env for a RUN (ENV, ARG values, given proxy args).
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub shell: Vec<String>,
}

/// The steps of a stage and the image config they produce.
#[derive(Debug, Clone)]
pub struct StageSteps {
    pub steps: Vec<Step>,
    pub image: ImageState,
}

impl Prepared {
    /// Build args declared by no ARG in the file (and not a predefined proxy arg): Docker
    /// warns "One or more build-args [..] were not consumed".
    pub fn unused_build_args(&self, inputs: &BuildInputs) -> Vec<String> {
        let declared = |name: &str| {
            self.dockerfile
                .args_before_from
                .iter()
                .any(|a| a.value.name == name)
                || self.dockerfile.stages.iter().any(|s| {
                    s.instructions.iter().any(|i| match &i.value {
                        Instruction::Arg(decls) => decls.iter().any(|d| d.name == name),
                        _ => false,
                    })
                })
        };
        inputs
            .build_args
            .keys()
            .filter(|k| !PROXY_ARGS.contains(&k.as_str()) && !declared(k))
            .cloned()
            .collect()
    }

    /// Expands stage `index` on top of `base` (the base image's config, or the config a
    /// parent stage produced) and `base_on_build` (its ONBUILD triggers).
    pub fn stage_steps(
        &self,
        index: usize,
        inputs: &BuildInputs,
        base: Config,
        base_on_build: &[String],
    ) -> Result<StageSteps, PrepareError> {
        let stage = self
            .dockerfile
            .stages
            .get(index)
            .ok_or(PrepareError::StageIndex {
                index,
                stages: self.dockerfile.stages.len(),
            })?;
        let escape = self.dockerfile.directives.escape;
        let mut all: Vec<(bool, Located<Instruction>)> = Vec::new();
        for trigger in base_on_build {
            let value =
                dockerfile::parse_trigger(trigger, escape).map_err(|e| PrepareError::Trigger {
                    trigger: trigger.clone(),
                    source: Box::new(e),
                })?;
            all.push((
                true,
                Located {
                    line: stage.line,
                    end_line: stage.line,
                    value,
                },
            ));
        }
        all.extend(stage.instructions.iter().map(|i| (false, i.clone())));

        let base_env = base.env().clone().unwrap_or_default();
        let mut scope = StageScope::new(&self.global, inputs, &base_env);
        let mut image = ImageState::from_base(base);
        let mut steps = Vec::with_capacity(all.len());
        for (trigger, located) in all {
            let value = scope.apply(&located)?;
            let expanded = Located { value, ..located };
            steps.push(Step {
                instruction: expanded.clone(),
                trigger,
                env: scope.run_env(),
                user: image.config.user().clone(),
                workdir: image.config.working_dir().clone(),
                shell: image.shell.clone(),
            });
            image.apply(&expanded, &scope.arg_values())?;
        }
        Ok(StageSteps { steps, image })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::expand::Platform;

    fn inputs(args: &[(&str, &str)]) -> BuildInputs {
        BuildInputs {
            build_args: args
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            build_platform: Platform::parse("linux/amd64").expect("platform"),
            target_platform: Platform::parse("linux/arm64").expect("platform"),
        }
    }

    const APP: &str = "\
ARG GO=1.22
FROM --platform=$BUILDPLATFORM golang:${GO} AS build
ARG TARGETARCH
WORKDIR /src
ENV CGO_ENABLED=0
RUN GOARCH=$TARGETARCH go build -o /out/app
FROM alpine:3.19 AS final
COPY --from=build /out/app /usr/bin/app
USER nobody
ENTRYPOINT [\"app\"]
";

    #[test]
    fn prepare_expands_bases_and_plans() {
        let inp = inputs(&[("GO", "1.23")]);
        let p = prepare(APP, &inp, None).unwrap();
        assert_eq!(
            p.bases,
            [
                ("golang:1.23".to_string(), Some("linux/amd64".to_string())),
                ("alpine:3.19".to_string(), None)
            ]
        );
        assert_eq!(p.plan.order, [0, 1]);
        let build = p.stage_steps(0, &inp, Config::default(), &[]).unwrap();
        let run = &build.steps[3];
        assert_eq!(run.workdir.as_deref(), Some("/src"));
        assert_eq!(run.env, ["TARGETARCH=arm64", "CGO_ENABLED=0"]);
        assert_eq!(
            build.image.history.last().unwrap().created_by().as_deref(),
            Some(
                "RUN |1 TARGETARCH=arm64 /bin/sh -c GOARCH=$TARGETARCH go build -o /out/app # buildkit"
            )
        );
        let fin = p.stage_steps(1, &inp, Config::default(), &[]).unwrap();
        assert_eq!(fin.image.config.user().as_deref(), Some("nobody"));
        assert_eq!(fin.image.config.entrypoint().clone().unwrap(), ["app"]);
    }

    #[test]
    fn copy_from_with_args_resolves_the_stage() {
        let inp = inputs(&[("SRC", "build")]);
        let text =
            "FROM a AS build\nFROM b AS other\nFROM c\nARG SRC=other\nCOPY --from=$SRC /x /x\n";
        let p = prepare(text, &inp, None).unwrap();
        assert_eq!(p.plan.order, [0, 2]);
        let p = prepare(text, &inputs(&[]), None).unwrap();
        assert_eq!(p.plan.order, [1, 2]);
    }

    #[test]
    fn unused_build_args_are_reported() {
        let inp = inputs(&[
            ("GO", "1"),
            ("TARGETARCH", "x"),
            ("NOPE", "1"),
            ("http_proxy", "p"),
        ]);
        let p = prepare(APP, &inp, None).unwrap();
        assert_eq!(p.unused_build_args(&inp), ["NOPE"]);
    }

    #[test]
    fn onbuild_triggers_run_first() {
        let inp = inputs(&[]);
        let p = prepare("FROM base\nRUN make\n", &inp, None).unwrap();
        let s = p
            .stage_steps(0, &inp, Config::default(), &["WORKDIR /app".to_string()])
            .unwrap();
        assert!(s.steps[0].trigger);
        assert_eq!(s.steps[1].workdir.as_deref(), Some("/app"));
        let bad = p.stage_steps(0, &inp, Config::default(), &["FROM x".to_string()]);
        assert!(matches!(bad, Err(PrepareError::Trigger { .. })));
        let two = p.stage_steps(0, &inp, Config::default(), &["RUN a\nRUN b".to_string()]);
        assert!(matches!(two, Err(PrepareError::Trigger { .. })));
        let df = crate::parse("FROM a\nONBUILD RUN <<EOF\necho hi\nEOF\n").unwrap();
        let Instruction::Onbuild(o) = &df.stages[0].instructions[0].value else {
            panic!("not onbuild")
        };
        let s = p
            .stage_steps(
                0,
                &inp,
                Config::default(),
                std::slice::from_ref(&o.expression),
            )
            .unwrap();
        let Instruction::Run(run) = &s.steps[0].instruction.value else {
            panic!("trigger is not a run")
        };
        assert_eq!(run.heredocs[0].content, "echo hi\n");
    }

    #[test]
    fn errors_pass_through() {
        let inp = inputs(&[]);
        assert!(matches!(
            prepare("FROM a\nNOPE\n", &inp, None),
            Err(PrepareError::Parse(_))
        ));
        assert!(matches!(
            prepare("FROM a AS x\n", &inp, Some("y")),
            Err(PrepareError::Stages(_))
        ));
        assert!(matches!(
            prepare("FROM ${A:?}\n", &inp, None),
            Err(PrepareError::Expand(_))
        ));
    }
}
