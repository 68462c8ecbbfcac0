//! Multi-stage planning: which stages a `--target` needs (through `FROM <stage>`,
//! `COPY --from=<stage|index>` and `RUN --mount=from=<stage>`) and the order to build them,
//! with errors for an unknown target, a dependency cycle or a stage index not defined yet.

use serde::Serialize;

use crate::dockerfile::{Dockerfile, Instruction, Source};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StageError {
    #[error("target stage {target:?} could not be found (stages: {available})")]
    UnknownTarget { target: String, available: String },
    #[error("circular dependency detected on stage: {0}")]
    Cycle(String),
    #[error(
        "Dockerfile:{line}: {instruction}: --from={index} refers to stage {index}, but only stages 0..{current} come before it"
    )]
    StageIndex {
        line: usize,
        instruction: &'static str,
        index: usize,
        current: usize,
    },
    #[error("dockerfile contains no stages to build")]
    NoStages,
    #[error("{given} base names given for {stages} stages")]
    BaseCount { given: usize, stages: usize },
}

/// What a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Base {
    Scratch,
    Stage(usize),
    Image(String),
}

/// A dependency of a stage on something outside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Dependency {
    Stage(usize),
    /// `COPY --from=<image>` / `RUN --mount=from=<image>` naming no stage.
    Image(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StagePlan {
    /// Index of the stage the build produces.
    pub target: usize,
    /// Needed stages, dependencies before dependents, lower index first when free.
    pub order: Vec<usize>,
    /// Per stage (all stages, by index): its base.
    pub bases: Vec<Base>,
    /// Per stage: what it depends on (base stage first, then `--from`s in order).
    pub dependencies: Vec<Vec<Dependency>>,
}

impl StagePlan {
    /// Images to pull for the needed stages: their image bases and `--from` images.
    pub fn images(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for &i in &self.order {
            let from_base = match &self.bases[i] {
                Base::Image(img) => Some(img.clone()),
                _ => None,
            };
            let extra = self.dependencies[i].iter().filter_map(|d| match d {
                Dependency::Image(img) => Some(img.clone()),
                Dependency::Stage(_) => None,
            });
            for img in from_base.into_iter().chain(extra) {
                if !out.contains(&img) {
                    out.push(img);
                }
            }
        }
        out
    }
}

fn stage_by_name(df: &Dockerfile, name: &str, before: usize) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    df.stages[..before]
        .iter()
        .position(|s| s.name.as_deref() == Some(lower.as_str()))
}

fn resolve_from(
    df: &Dockerfile,
    from: &str,
    current: usize,
    line: usize,
    instruction: &'static str,
) -> Result<Dependency, StageError> {
    if let Ok(index) = from.parse::<usize>() {
        if index >= current {
            return Err(StageError::StageIndex {
                line,
                instruction,
                index,
                current,
            });
        }
        return Ok(Dependency::Stage(index));
    }
    Ok(match stage_by_name(df, from, df.stages.len()) {
        Some(i) => Dependency::Stage(i),
        None => Dependency::Image(from.to_string()),
    })
}

/// Plans the build of `target` (the last stage when `None`). `bases` are the stages' base
/// names with global ARGs expanded (see `GlobalScope::expand_from`), one per stage.
pub fn plan(
    df: &Dockerfile,
    bases: &[String],
    target: Option<&str>,
) -> Result<StagePlan, StageError> {
    let n = df.stages.len();
    if n == 0 {
        return Err(StageError::NoStages);
    }
    if bases.len() != n {
        return Err(StageError::BaseCount {
            given: bases.len(),
            stages: n,
        });
    }
    let target = match target {
        None => n - 1,
        Some(t) => stage_by_name(df, t, n).ok_or_else(|| StageError::UnknownTarget {
            target: t.to_string(),
            available: df
                .stages
                .iter()
                .filter_map(|s| s.name.clone())
                .collect::<Vec<_>>()
                .join(", "),
        })?,
    };
    let mut plan_bases = Vec::with_capacity(n);
    let mut dependencies = Vec::with_capacity(n);
    for (i, stage) in df.stages.iter().enumerate() {
        let base = if bases[i].eq_ignore_ascii_case("scratch") {
            Base::Scratch
        } else {
            match stage_by_name(df, &bases[i], i) {
                Some(s) => Base::Stage(s),
                None => Base::Image(bases[i].clone()),
            }
        };
        let mut deps = Vec::new();
        if let Base::Stage(s) = base {
            deps.push(Dependency::Stage(s));
        }
        for located in &stage.instructions {
            let froms: Vec<&str> = match &located.value {
                Instruction::Copy(c) => c.from.as_deref().into_iter().collect(),
                Instruction::Run(r) => r
                    .mounts
                    .iter()
                    .flat_map(|m| m.options.iter())
                    .filter(|o| o.key == "from")
                    .map(|o| o.value.as_str())
                    .collect(),
                _ => Vec::new(),
            };
            for from in froms {
                let dep = resolve_from(df, from, i, located.line, located.value.keyword())?;
                if !deps.contains(&dep) {
                    deps.push(dep);
                }
            }
        }
        plan_bases.push(base);
        dependencies.push(deps);
    }
    let order = build_order(df, &dependencies, target)?;
    Ok(StagePlan {
        target,
        order,
        bases: plan_bases,
        dependencies,
    })
}

fn stage_label(df: &Dockerfile, i: usize) -> String {
    df.stages[i].name.clone().unwrap_or_else(|| i.to_string())
}

fn build_order(
    df: &Dockerfile,
    deps: &[Vec<Dependency>],
    target: usize,
) -> Result<Vec<usize>, StageError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    fn visit(
        i: usize,
        deps: &[Vec<Dependency>],
        marks: &mut [Mark],
        df: &Dockerfile,
    ) -> Result<(), StageError> {
        match marks[i] {
            Mark::Done => return Ok(()),
            Mark::Active => return Err(StageError::Cycle(stage_label(df, i))),
            Mark::New => {}
        }
        marks[i] = Mark::Active;
        for d in &deps[i] {
            if let Dependency::Stage(s) = d {
                visit(*s, deps, marks, df)?;
            }
        }
        marks[i] = Mark::Done;
        Ok(())
    }
    let mut marks = vec![Mark::New; deps.len()];
    visit(target, deps, &mut marks, df)?;
    let needed: Vec<usize> = (0..deps.len())
        .filter(|&i| marks[i] == Mark::Done)
        .collect();
    let mut order = Vec::with_capacity(needed.len());
    while order.len() < needed.len() {
        let next = needed
            .iter()
            .copied()
            .find(|i| {
                !order.contains(i)
                    && deps[*i].iter().all(|d| match d {
                        Dependency::Stage(s) => order.contains(s),
                        Dependency::Image(_) => true,
                    })
            })
            .ok_or_else(|| StageError::Cycle(stage_label(df, target)))?;
        order.push(next);
    }
    Ok(order)
}

/// Sources of a `COPY`/`ADD` that are plain paths (heredoc sources need no context).
pub fn context_sources(instr: &Instruction) -> Vec<&str> {
    match instr {
        Instruction::Copy(c) if c.from.is_none() => paths(&c.sources),
        Instruction::Add(c) => paths(&c.sources),
        _ => Vec::new(),
    }
}

fn paths(sources: &[Source]) -> Vec<&str> {
    sources
        .iter()
        .filter_map(|s| match s {
            Source::Path(p) => Some(p.as_str()),
            Source::Heredoc(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dockerfile::parse;

    fn plan_of(text: &str, target: Option<&str>) -> Result<StagePlan, StageError> {
        let df = parse(text).expect("parse");
        let bases: Vec<String> = df.stages.iter().map(|s| s.base.clone()).collect();
        plan(&df, &bases, target)
    }

    const MULTI: &str = "FROM golang AS build\nRUN make\n\
        FROM alpine AS unused\nRUN true\n\
        FROM build AS test\nRUN make test\n\
        FROM node AS web\nRUN npm run build\n\
        FROM scratch AS final\nCOPY --from=build /app /app\nCOPY --from=WEB /dist /www\n";

    #[test]
    fn default_target_is_last_stage_and_skips_unneeded() {
        let p = plan_of(MULTI, None).unwrap();
        assert_eq!(p.target, 4);
        assert_eq!(p.order, [0, 3, 4]);
        assert_eq!(p.bases[4], Base::Scratch);
        assert_eq!(p.bases[2], Base::Stage(0));
        assert_eq!(p.images(), ["golang", "node"]);
    }

    #[test]
    fn named_target_case_insensitive() {
        let p = plan_of(MULTI, Some("Test")).unwrap();
        assert_eq!(p.order, [0, 2]);
    }

    #[test]
    fn unknown_target() {
        let e = plan_of(MULTI, Some("nope")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "target stage \"nope\" could not be found (stages: build, unused, test, web, final)"
        );
    }

    #[test]
    fn copy_from_index_and_images() {
        let p = plan_of(
            "FROM alpine\nFROM busybox\nCOPY --from=0 /a /a\nCOPY --from=nginx:latest /etc/nginx /n\n",
            None,
        )
        .unwrap();
        assert_eq!(p.order, [0, 1]);
        assert_eq!(
            p.dependencies[1],
            [
                Dependency::Stage(0),
                Dependency::Image("nginx:latest".into())
            ]
        );
        assert_eq!(p.images(), ["alpine", "busybox", "nginx:latest"]);
    }

    #[test]
    fn copy_from_undefined_index() {
        let e = plan_of("FROM alpine\nCOPY --from=1 /a /a\nFROM busybox\n", None).unwrap_err();
        assert_eq!(
            e,
            StageError::StageIndex {
                line: 2,
                instruction: "COPY",
                index: 1,
                current: 0
            }
        );
    }

    #[test]
    fn cycle_through_copy_from_later_stage() {
        let e = plan_of(
            "FROM alpine AS a\nCOPY --from=b /x /x\nFROM a AS b\nRUN true\n",
            Some("b"),
        )
        .unwrap_err();
        assert!(matches!(e, StageError::Cycle(_)), "{e}");
    }

    #[test]
    fn from_later_stage_name_is_an_image() {
        let p = plan_of("FROM later AS first\nFROM alpine AS later\n", Some("first")).unwrap();
        assert_eq!(p.bases[0], Base::Image("later".into()));
        assert_eq!(p.order, [0]);
    }

    #[test]
    fn run_mount_from_is_a_dependency() {
        let p = plan_of(
            "FROM alpine AS deps\nRUN true\nFROM alpine\nRUN --mount=type=bind,from=deps,target=/d ls /d\n",
            None,
        )
        .unwrap();
        assert_eq!(p.order, [0, 1]);
    }

    #[test]
    fn context_sources_skip_heredocs_and_from() {
        let df = parse("FROM a\nCOPY <<EOF x /d/\nhi\nEOF\nCOPY --from=b y /d\n").unwrap();
        let i = &df.stages[0].instructions;
        assert_eq!(context_sources(&i[0].value), ["x"]);
        assert!(context_sources(&i[1].value).is_empty());
    }
}
