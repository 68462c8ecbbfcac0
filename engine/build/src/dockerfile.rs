//! Dockerfile parser, following BuildKit's frontend (`frontend/dockerfile/parser` and
//! `instructions`): parser directives, line continuations, comments, heredocs, flags and
//! every instruction, into a typed [`Dockerfile`] whose errors name the line and instruction.
//!
//! The parser does no variable expansion: words keep their quotes and `$VAR`s exactly as
//! written; [`crate::expand`] turns them into values once build args are known.

mod instr;
mod lines;

use serde::Serialize;

pub use lines::{Directives, heredoc_of_word, parse_words};

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dockerfile {
    pub directives: Directives,
    /// `ARG`s before the first `FROM` (the global scope, usable in `FROM` lines).
    pub args_before_from: Vec<Located<ArgDecl>>,
    pub stages: Vec<Stage>,
    /// Non-fatal findings BuildKit also reports (empty continuation lines, MAINTAINER).
    pub warnings: Vec<Warning>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub line: usize,
    pub message: String,
}

/// A value with the 1-based lines it spans in the Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Located<T> {
    pub line: usize,
    pub end_line: usize,
    pub value: T,
}

/// One build stage: a `FROM` line and the instructions that follow it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stage {
    /// The `AS` name, lower-cased as BuildKit does.
    pub name: Option<String>,
    /// Image reference or earlier stage name, unexpanded.
    pub base: String,
    pub platform: Option<String>,
    /// Line of the `FROM` instruction.
    pub line: usize,
    pub instructions: Vec<Located<Instruction>>,
}

/// Every instruction other than `FROM` (which starts a [`Stage`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Instruction {
    Run(Run),
    Cmd(CommandForm),
    Entrypoint(CommandForm),
    Env(Vec<KeyValue>),
    Arg(Vec<ArgDecl>),
    Label(Vec<KeyValue>),
    Expose(Vec<String>),
    Copy(CopyArgs),
    Add(CopyArgs),
    Workdir(String),
    User(String),
    Volume(Vec<String>),
    Shell(Vec<String>),
    StopSignal(String),
    Healthcheck(Healthcheck),
    Onbuild(OnBuild),
    Maintainer(String),
}

impl Instruction {
    /// The instruction keyword, upper-case.
    pub fn keyword(&self) -> &'static str {
        match self {
            Instruction::Run(_) => "RUN",
            Instruction::Cmd(_) => "CMD",
            Instruction::Entrypoint(_) => "ENTRYPOINT",
            Instruction::Env(_) => "ENV",
            Instruction::Arg(_) => "ARG",
            Instruction::Label(_) => "LABEL",
            Instruction::Expose(_) => "EXPOSE",
            Instruction::Copy(_) => "COPY",
            Instruction::Add(_) => "ADD",
            Instruction::Workdir(_) => "WORKDIR",
            Instruction::User(_) => "USER",
            Instruction::Volume(_) => "VOLUME",
            Instruction::Shell(_) => "SHELL",
            Instruction::StopSignal(_) => "STOPSIGNAL",
            Instruction::Healthcheck(_) => "HEALTHCHECK",
            Instruction::Onbuild(_) => "ONBUILD",
            Instruction::Maintainer(_) => "MAINTAINER",
        }
    }
}

/// Exec (JSON array) or shell (one string run through `SHELL`) form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum CommandForm {
    Exec(Vec<String>),
    Shell(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Run {
    pub command: CommandForm,
    pub heredocs: Vec<Heredoc>,
    pub mounts: Vec<Mount>,
    pub network: Option<String>,
    pub security: Option<String>,
}

/// `--mount=type=…,target=…` of `RUN`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    /// bind (default), cache, tmpfs, secret or ssh.
    pub kind: String,
    pub target: Option<String>,
    /// The other `key=value` options, in order (`source`, `from`, `id`, `sharing`, …).
    pub options: Vec<KeyValue>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArgDecl {
    pub name: String,
    pub default: Option<String>,
}

/// A heredoc body attached to `RUN`, `COPY` or `ADD`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Heredoc {
    pub name: String,
    /// Body lines, each ending in `\n`; leading tabs already removed for `<<-`.
    pub content: String,
    /// False when the delimiter was quoted (`<<"EOF"`, `<<'EOF'`).
    pub expand: bool,
    pub chomp: bool,
    /// File descriptor prefix (`3<<EOF`), if any.
    pub fd: Option<u32>,
}

/// A `COPY`/`ADD` source: a path (or URL) or an inline heredoc file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Source {
    Path(String),
    Heredoc(Heredoc),
}

/// Arguments of `COPY` and `ADD` (`from` only for COPY; `checksum`, `keep_git_dir` only ADD).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct CopyArgs {
    pub sources: Vec<Source>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub exclude: Vec<String>,
    pub checksum: Option<String>,
    pub keep_git_dir: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Healthcheck {
    None,
    Cmd(HealthcheckCmd),
}

/// `HEALTHCHECK [flags] CMD …`; durations in nanoseconds, `None` when not given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthcheckCmd {
    pub command: CommandForm,
    pub interval: Option<u64>,
    pub timeout: Option<u64>,
    pub start_period: Option<u64>,
    pub start_interval: Option<u64>,
    pub retries: Option<i64>,
}

/// `ONBUILD <instruction>`: the trigger text as stored in the image, and its parse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OnBuild {
    pub expression: String,
    pub instruction: Box<Instruction>,
}

/// A parse error at a line of the Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Dockerfile:{line}: {kind}")]
pub struct ParseError {
    pub line: usize,
    pub kind: ParseErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    #[error("unknown instruction: {word}{}", suggestion.as_ref().map(|s| format!(" (did you mean {s}?)")).unwrap_or_default())]
    UnknownInstruction {
        word: String,
        suggestion: Option<String>,
    },
    #[error("invalid escape token '{0}' does not match ` or \\")]
    InvalidEscape(String),
    #[error("only one {0} parser directive can be used")]
    DuplicateDirective(String),
    #[error("{0}: no build stage in current context (only ARG may come before the first FROM)")]
    NoBuildStage(&'static str),
    #[error("dockerfile contains no stages to build")]
    NoStages,
    #[error("file with no instructions")]
    Empty,
    #[error("{instruction}: unknown flag: {flag}")]
    UnknownFlag {
        instruction: &'static str,
        flag: String,
    },
    #[error("{instruction}: missing a value on flag: {flag}")]
    FlagMissingValue {
        instruction: &'static str,
        flag: String,
    },
    #[error("{instruction}: duplicate flag specified: {flag}")]
    DuplicateFlag {
        instruction: &'static str,
        flag: String,
    },
    #[error("{instruction}: expecting boolean value for flag {flag}, not: {value}")]
    BadBoolFlag {
        instruction: &'static str,
        flag: String,
        value: String,
    },
    #[error("{0} requires the arguments to be in JSON form")]
    NotJson(&'static str),
    #[error("{0} requires at least one argument")]
    AtLeastOneArgument(&'static str),
    #[error("{0} requires exactly one argument")]
    ExactlyOneArgument(&'static str),
    #[error(
        "{0} requires at least two arguments, but only one was provided. Destination could not be determined"
    )]
    NoDestination(&'static str),
    #[error("{0} must have two arguments")]
    TwoArguments(&'static str),
    #[error(
        "{instruction}: Syntax error - can't find = in {word:?}. Must be of the form: name=value"
    )]
    MissingEquals {
        instruction: &'static str,
        word: String,
    },
    #[error("FROM requires either one or three arguments")]
    FromArguments,
    #[error(
        "invalid name for build stage: {0:?}, name can't start with a number or contain symbols"
    )]
    InvalidStageName(String),
    #[error("duplicate stage name {0:?}")]
    DuplicateStageName(String),
    #[error(
        "{instruction}: unterminated heredoc {name:?} (no line equal to {name:?} before end of file)"
    )]
    UnterminatedHeredoc {
        instruction: &'static str,
        name: String,
    },
    #[error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")]
    OnbuildChain,
    #[error("{0} isn't allowed as an ONBUILD trigger")]
    OnbuildForbidden(&'static str),
    #[error("HEALTHCHECK: Missing command after HEALTHCHECK CMD")]
    HealthcheckNoCommand,
    #[error("{0}: when using JSON array syntax, arrays must be comprised of strings only")]
    NotStringArray(&'static str),
    #[error("HEALTHCHECK NONE takes no arguments")]
    HealthcheckNoneArgs,
    #[error("HEALTHCHECK: Unknown type {0:?} in HEALTHCHECK (try CMD)")]
    HealthcheckType(String),
    #[error("HEALTHCHECK: invalid duration {value:?} for --{flag}")]
    BadDuration { flag: String, value: String },
    #[error("HEALTHCHECK: Interval {flag:?} cannot be less than 1ms")]
    DurationTooShort { flag: String },
    #[error("HEALTHCHECK: invalid value {0:?} for --retries")]
    BadRetries(String),
    #[error("HEALTHCHECK: --retries cannot be negative ({0})")]
    NegativeRetries(i64),
    #[error("RUN: invalid --mount {spec:?}: {reason}")]
    BadMount { spec: String, reason: String },
    #[error("{0} names can not be blank")]
    BlankName(&'static str),
    #[error("onbuild trigger should be a single expression")]
    TriggerNotSingle,
    #[error("{0} cannot accept a heredoc as a destination")]
    HeredocDestination(&'static str),
    #[error("VOLUME specified can not be an empty string")]
    EmptyVolume,
}

impl ParseErrorKind {
    fn at(self, line: usize) -> ParseError {
        ParseError { line, kind: self }
    }
}

/// Parses a Dockerfile's text.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let (directives, logical) = lines::split(text)?;
    if logical.is_empty() {
        return Err(ParseErrorKind::Empty.at(text.lines().count().max(1)));
    }
    let mut df = Dockerfile {
        directives,
        args_before_from: Vec::new(),
        stages: Vec::new(),
        warnings: Vec::new(),
    };
    for line in &logical {
        if line.empty_continuation {
            df.warnings.push(Warning {
                line: line.start,
                message: format!("Empty continuation line found in: {}", line.text.trim()),
            });
        }
        let parsed = instr::parse_line(line, df.directives.escape)?;
        let located = |value| Located {
            line: line.start,
            end_line: line.end,
            value,
        };
        match parsed {
            instr::Parsed::From(from) => {
                if let Some(name) = &from.name
                    && df.stages.iter().any(|s| s.name.as_ref() == Some(name))
                {
                    return Err(ParseErrorKind::DuplicateStageName(name.clone()).at(line.start));
                }
                df.stages.push(Stage {
                    name: from.name,
                    base: from.base,
                    platform: from.platform,
                    line: line.start,
                    instructions: Vec::new(),
                });
            }
            instr::Parsed::Instruction(instruction) => {
                if let Instruction::Maintainer(_) = instruction {
                    df.warnings.push(Warning {
                        line: line.start,
                        message: "MAINTAINER instruction is deprecated in favor of using label"
                            .to_string(),
                    });
                }
                match df.stages.last_mut() {
                    Some(stage) => stage.instructions.push(located(instruction)),
                    None => match instruction {
                        Instruction::Arg(decls) => {
                            df.args_before_from
                                .extend(decls.into_iter().map(|d| Located {
                                    line: line.start,
                                    end_line: line.end,
                                    value: d,
                                }))
                        }
                        other => {
                            return Err(
                                ParseErrorKind::NoBuildStage(other.keyword()).at(line.start)
                            );
                        }
                    },
                }
            }
        }
    }
    if df.stages.is_empty() {
        let last = logical.last().map_or(1, |l| l.start);
        return Err(ParseErrorKind::NoStages.at(last));
    }
    Ok(df)
}

/// Parses an ONBUILD trigger stored in a base image (`"RUN make"`, possibly followed by
/// heredoc bodies), as run after `FROM`.
pub fn parse_trigger(expression: &str, escape: char) -> Result<Instruction, ParseError> {
    let (_, logical) = lines::split(expression)?;
    let [line] = logical.as_slice() else {
        return Err(ParseErrorKind::TriggerNotSingle.at(1));
    };
    match instr::parse_line(line, escape)? {
        instr::Parsed::From(_) => Err(ParseErrorKind::OnbuildForbidden("FROM").at(1)),
        instr::Parsed::Instruction(Instruction::Onbuild(_)) => {
            Err(ParseErrorKind::OnbuildChain.at(1))
        }
        instr::Parsed::Instruction(Instruction::Maintainer(_)) => {
            Err(ParseErrorKind::OnbuildForbidden("MAINTAINER").at(1))
        }
        instr::Parsed::Instruction(i) => Ok(i),
    }
}
