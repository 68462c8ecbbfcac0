//! Docker's word expansion (BuildKit `frontend/dockerfile/shell/lex.go`) and the scoping of
//! build args: which instructions expand `$VAR`s, global ARGs visible to `FROM`, ARGs
//! re-declared inside a stage, ENV overriding ARG, predefined proxy args and the automatic
//! platform args (`TARGETPLATFORM`, `BUILDARCH`, …).

use std::collections::BTreeMap;

use indexmap::IndexMap;

use crate::dockerfile::{CopyArgs, Dockerfile, Instruction, KeyValue, Located, Source, Stage};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    #[error("unexpected end of statement while looking for matching single-quote")]
    UnterminatedSingleQuote,
    #[error("unexpected end of statement while looking for matching double-quote")]
    UnterminatedDoubleQuote,
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    #[error("unsupported modifier ({0}) in substitution")]
    UnsupportedModifier(String),
    #[error("{name}: {message}")]
    Required { name: String, message: String },
    #[error("invalid platform {0:?}: want os/arch[/variant]")]
    Platform(String),
    #[error("Dockerfile:{line}: {instruction}: {source}")]
    At {
        line: usize,
        instruction: &'static str,
        source: Box<ExpandError>,
    },
}

/// Build args that exist without an `ARG` line and go to `RUN` only when given.
pub const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The shell-like lexer for instruction words, with the Dockerfile's escape char.
#[derive(Debug, Clone, Copy)]
pub struct Lexer {
    pub escape: char,
    /// Keep quote characters (heredoc bodies: only `$` and escapes are special).
    pub raw_quotes: bool,
}

impl Lexer {
    pub fn new(escape: char) -> Self {
        Lexer {
            escape,
            raw_quotes: false,
        }
    }

    /// Expands one word, keeping whitespace (ENV values, WORKDIR, paths).
    pub fn process_word(
        &self,
        word: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<String, ExpandError> {
        let mut words = Words::new(false);
        Scan::new(self, word, env).run(None, &mut words)?;
        Ok(words.finish().pop().unwrap_or_default())
    }

    /// Expands and splits into words on unquoted whitespace (EXPOSE).
    pub fn process_words(
        &self,
        word: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<String>, ExpandError> {
        let mut words = Words::new(true);
        Scan::new(self, word, env).run(None, &mut words)?;
        Ok(words.finish())
    }
}

struct Words {
    list: Vec<String>,
    cur: String,
    in_word: bool,
    split: bool,
}

impl Words {
    fn new(split: bool) -> Self {
        Words {
            list: Vec::new(),
            cur: String::new(),
            in_word: !split,
            split,
        }
    }
    fn raw(&mut self, c: char) {
        self.cur.push(c);
        self.in_word = true;
    }
    fn char(&mut self, c: char) {
        if self.split && c.is_whitespace() {
            if self.in_word {
                self.list.push(std::mem::take(&mut self.cur));
                self.in_word = false;
            }
        } else {
            self.raw(c);
        }
    }
    fn finish(mut self) -> Vec<String> {
        if self.in_word {
            self.list.push(self.cur);
        }
        self.list
    }
}

struct Scan<'a> {
    chars: Vec<char>,
    pos: usize,
    lexer: &'a Lexer,
    env: &'a dyn Fn(&str) -> Option<String>,
    raw_escapes: bool,
}

impl<'a> Scan<'a> {
    fn new(lexer: &'a Lexer, src: &str, env: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Scan {
            chars: src.chars().collect(),
            pos: 0,
            lexer,
            env,
            raw_escapes: false,
        }
    }
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.pos += usize::from(c.is_some());
        c
    }

    /// Processes until `stop` (consumed) or the end of input.
    fn run(&mut self, stop: Option<char>, words: &mut Words) -> Result<(), ExpandError> {
        let escape = self.lexer.escape;
        while let Some(c) = self.next() {
            if Some(c) == stop {
                return Ok(());
            }
            match c {
                '\'' if !self.lexer.raw_quotes => {
                    words.in_word = true;
                    loop {
                        match self.next() {
                            None => return Err(ExpandError::UnterminatedSingleQuote),
                            Some('\'') => break,
                            Some(ch) => words.raw(ch),
                        }
                    }
                }
                '"' if !self.lexer.raw_quotes => {
                    words.in_word = true;
                    loop {
                        match self.next() {
                            None => return Err(ExpandError::UnterminatedDoubleQuote),
                            Some('"') => break,
                            Some(ch) if ch == escape => match self.peek() {
                                Some(n) if n == '"' || n == '$' || n == escape => {
                                    self.pos += 1;
                                    words.raw(n);
                                }
                                _ => words.raw(ch),
                            },
                            Some('$') => {
                                let v = self.dollar()?;
                                v.chars().for_each(|ch| words.raw(ch));
                            }
                            Some(ch) => words.raw(ch),
                        }
                    }
                }
                '$' => {
                    let v = self.dollar()?;
                    v.chars().for_each(|ch| words.char(ch));
                }
                c if c == escape => {
                    if let Some(n) = self.next() {
                        let keep =
                            self.raw_escapes || (self.lexer.raw_quotes && n != '$' && n != escape);
                        if keep {
                            words.raw(c);
                        }
                        words.raw(n);
                    }
                }
                c => words.char(c),
            }
        }
        match stop {
            Some(_) => Err(ExpandError::MissingBrace),
            None => Ok(()),
        }
    }

    /// BuildKit's `processName`: a run of digits, one special parameter (`@*#?-$!0`), or
    /// letters, digits and `_`.
    fn name(&mut self) -> String {
        let mut name = String::new();
        match self.peek() {
            Some(c) if c.is_ascii_digit() => {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    self.pos += 1;
                }
                return name;
            }
            Some(c @ ('@' | '*' | '#' | '?' | '-' | '$' | '!')) => {
                self.pos += 1;
                return c.to_string();
            }
            _ => {}
        }
        while let Some(c) = self.peek().filter(|c| c.is_alphanumeric() || *c == '_') {
            name.push(c);
            self.pos += 1;
        }
        name
    }

    fn lookup(&self, name: &str) -> Option<String> {
        (self.env)(name)
    }

    /// After a `$`: a name, `${…}` with modifiers, or a literal `$`.
    fn dollar(&mut self) -> Result<String, ExpandError> {
        if self.peek() == Some('{') {
            self.pos += 1;
            return self.braced();
        }
        let name = self.name();
        if name.is_empty() {
            return Ok("$".to_string());
        }
        Ok(self.lookup(&name).unwrap_or_default())
    }

    /// The word of a `${name<op>word}` up to `stop`; `raw_escapes` keeps escape chars for
    /// patterns, where `\*` means a literal `*`.
    fn word_until(&mut self, stop: char, raw_escapes: bool) -> Result<String, ExpandError> {
        let saved = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        let mut w = Words::new(false);
        let result = self.run(Some(stop), &mut w);
        self.raw_escapes = saved;
        result?;
        Ok(w.finish().pop().unwrap_or_default())
    }

    fn braced(&mut self) -> Result<String, ExpandError> {
        match self.peek() {
            None => return Err(ExpandError::MissingBrace),
            Some('{' | '}' | ':') => return Err(ExpandError::BadSubstitution),
            _ => {}
        }
        let name = self.name();
        let value = self.lookup(&name);
        let Some(c) = self.next() else {
            return Err(ExpandError::MissingBrace);
        };
        let (colon, op) = match c {
            '}' => return Ok(value.unwrap_or_default()),
            '/' => return self.substitute(value),
            ':' => (true, self.next().ok_or(ExpandError::MissingBrace)?),
            c => (false, c),
        };
        let modifier = format!("{}{op}", if colon { ":" } else { "" });
        let pattern = matches!(op, '#' | '%');
        let allowed = matches!(op, '-' | '+' | '?') || (pattern && !colon);
        if !allowed {
            return Err(ExpandError::UnsupportedModifier(modifier));
        }
        let word = self.word_until('}', pattern)?;
        let set = value.is_some();
        let null = colon && value.as_deref() == Some("");
        let value = value.unwrap_or_default();
        Ok(match op {
            '-' if !set || null => word,
            '-' => value,
            '+' if !set || null => String::new(),
            '+' => word,
            '?' if !set || null => {
                let message = match (word.is_empty(), set) {
                    (false, _) => word,
                    (true, false) => "is not allowed to be unset".to_string(),
                    (true, true) => "is not allowed to be empty".to_string(),
                };
                return Err(ExpandError::Required { name, message });
            }
            '?' => value,
            _ => {
                let (longest, pattern) = match word.strip_prefix(op) {
                    Some(rest) => (true, rest.to_string()),
                    None => (false, word),
                };
                trim_pattern(&value, &pattern, op == '#', longest)
            }
        })
    }

    /// `${name/pattern/replacement}` and `${name//pattern/replacement}`.
    fn substitute(&mut self, value: Option<String>) -> Result<String, ExpandError> {
        let all = self.peek() == Some('/');
        self.pos += usize::from(all);
        let pattern = self.word_until('/', true)?;
        let replacement = self.word_until('}', true)?;
        let value = value.unwrap_or_default();
        let re = pattern_regex(&pattern, true)
            .map_err(|_| ExpandError::UnsupportedModifier(format!("/{pattern}/")))?;
        Ok(if all {
            re.replace_all(&value, regex::NoExpand(&replacement))
                .into_owned()
        } else {
            re.replace(&value, regex::NoExpand(&replacement))
                .into_owned()
        })
    }
}

/// A shell pattern (`*`, `?`, `\x` literal) as a regex; `greedy` picks `.*` over `.*?`.
fn pattern_regex(pattern: &str, greedy: bool) -> Result<regex::Regex, regex::Error> {
    let mut re = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' => re.push_str(if greedy { ".*" } else { ".*?" }),
            '?' => re.push('.'),
            '\\' => {
                if let Some(n) = chars.next() {
                    re.push_str(&regex::escape(&n.to_string()));
                }
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    regex::Regex::new(&re)
}

/// `${v#p}`, `${v##p}`, `${v%p}`, `${v%%p}`: remove the shortest or longest match of a
/// shell pattern from the start or end.
fn trim_pattern(value: &str, pattern: &str, prefix: bool, longest: bool) -> String {
    let Ok(re) = pattern_regex(pattern, true) else {
        return value.to_string();
    };
    let Ok(re) = regex::Regex::new(&format!("^(?:{})$", re.as_str())) else {
        return value.to_string();
    };
    let cuts: Vec<usize> = value
        .char_indices()
        .map(|(i, _)| i)
        .chain([value.len()])
        .collect();
    let ordered: Box<dyn Iterator<Item = &usize>> = match (prefix, longest) {
        (true, false) | (false, true) => Box::new(cuts.iter()),
        _ => Box::new(cuts.iter().rev()),
    };
    for &cut in ordered {
        let (part, keep) = if prefix {
            (&value[..cut], &value[cut..])
        } else {
            (&value[cut..], &value[..cut])
        };
        if re.is_match(part) {
            return keep.to_string();
        }
    }
    value.to_string()
}

/// An `os/arch[/variant]` platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn parse(s: &str) -> Result<Self, ExpandError> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: os.to_string(),
                arch: arch.to_string(),
                variant: None,
            }),
            [os, arch, v] if !os.is_empty() && !arch.is_empty() && !v.is_empty() => Ok(Platform {
                os: os.to_string(),
                arch: arch.to_string(),
                variant: Some(v.to_string()),
            }),
            _ => Err(ExpandError::Platform(s.to_string())),
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        match &self.variant {
            Some(v) => write!(f, "/{v}"),
            None => Ok(()),
        }
    }
}

/// BuildKit's automatic platform args, in the global scope of every Dockerfile.
pub fn platform_args(build: &Platform, target: &Platform) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (prefix, p) in [("BUILD", build), ("TARGET", target)] {
        out.push((format!("{prefix}PLATFORM"), p.to_string()));
        out.push((format!("{prefix}OS"), p.os.clone()));
        out.push((format!("{prefix}ARCH"), p.arch.clone()));
        out.push((
            format!("{prefix}VARIANT"),
            p.variant.clone().unwrap_or_default(),
        ));
    }
    out
}

/// What the caller of a build supplies.
#[derive(Debug, Clone)]
pub struct BuildInputs {
    /// `--build-arg` values.
    pub build_args: BTreeMap<String, String>,
    pub build_platform: Platform,
    pub target_platform: Platform,
}

/// The global scope: automatic platform args and the ARGs before the first `FROM`.
#[derive(Debug, Clone)]
pub struct GlobalScope {
    values: IndexMap<String, Option<String>>,
    lexer: Lexer,
}

impl GlobalScope {
    pub fn new(df: &Dockerfile, inputs: &BuildInputs) -> Result<Self, ExpandError> {
        let mut values: IndexMap<String, Option<String>> =
            platform_args(&inputs.build_platform, &inputs.target_platform)
                .into_iter()
                .map(|(k, v)| (k, Some(v)))
                .collect();
        let lexer = Lexer::new(df.directives.escape);
        for Located { line, value: d, .. } in &df.args_before_from {
            let value = match (inputs.build_args.get(&d.name), &d.default) {
                (Some(v), _) => Some(v.clone()),
                (None, Some(default)) => {
                    let env = |n: &str| values.get(n).cloned().flatten();
                    Some(
                        lexer
                            .process_word(default, &env)
                            .map_err(|e| at(*line, "ARG", e))?,
                    )
                }
                (None, None) => None,
            };
            values.insert(d.name.clone(), value);
        }
        Ok(GlobalScope { values, lexer })
    }

    /// Value of a global arg (None when undeclared or declared without value).
    pub fn get(&self, name: &str) -> Option<String> {
        self.values.get(name).cloned().flatten()
    }

    /// Whether `name` is declared globally (with or without a value).
    pub fn declares(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// The stage's base and platform with global args expanded.
    pub fn expand_from(&self, stage: &Stage) -> Result<(String, Option<String>), ExpandError> {
        let env = |n: &str| self.get(n);
        let base = self
            .lexer
            .process_word(&stage.base, &env)
            .map_err(|e| at(stage.line, "FROM", e))?;
        let platform = match &stage.platform {
            Some(p) => Some(
                self.lexer
                    .process_word(p, &env)
                    .map_err(|e| at(stage.line, "FROM", e))?,
            ),
            None => None,
        };
        Ok((base, platform))
    }
}

fn at(line: usize, instruction: &'static str, e: ExpandError) -> ExpandError {
    ExpandError::At {
        line,
        instruction,
        source: Box::new(e),
    }
}

/// Variables visible inside one stage while its instructions are applied in order.
///
/// As in BuildKit, ENV and ARG values share one ordered environment where the later
/// assignment wins (so `ENV V=1` after `ARG V` overrides it, and an `ARG V=2` after the ENV
/// overrides it again for expansion and RUN, but never enters the image's env).
#[derive(Debug, Clone)]
pub struct StageScope<'g> {
    global: &'g GlobalScope,
    build_args: &'g BTreeMap<String, String>,
    /// BuildKit's state env: base image env, ENV and ARG values.
    vars: IndexMap<String, String>,
    /// The image env: base image env and ENV only.
    image_env: IndexMap<String, String>,
    /// Declared ARGs in order, with their resolved values.
    args: IndexMap<String, Option<String>>,
    lexer: Lexer,
}

impl<'g> StageScope<'g> {
    /// `base_env` is the base image's (or parent stage's) `KEY=value` env.
    pub fn new(global: &'g GlobalScope, inputs: &'g BuildInputs, base_env: &[String]) -> Self {
        let image_env: IndexMap<String, String> = base_env
            .iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (kv.clone(), String::new()),
            })
            .collect();
        StageScope {
            global,
            build_args: &inputs.build_args,
            vars: image_env.clone(),
            image_env,
            args: IndexMap::new(),
            lexer: global.lexer,
        }
    }

    /// The value `$name` expands to at this point of the stage.
    pub fn lookup(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    fn word(&self, w: &str) -> Result<String, ExpandError> {
        self.lexer.process_word(w, &|n| self.lookup(n))
    }

    fn opt(&self, w: &Option<String>) -> Result<Option<String>, ExpandError> {
        w.as_deref().map(|w| self.word(w)).transpose()
    }

    fn pairs(&self, kvs: &[KeyValue]) -> Result<Vec<KeyValue>, ExpandError> {
        kvs.iter()
            .map(|kv| {
                Ok(KeyValue {
                    key: self.word(&kv.key)?,
                    value: self.word(&kv.value)?,
                })
            })
            .collect()
    }

    fn copy_args(&self, c: &CopyArgs) -> Result<CopyArgs, ExpandError> {
        let raw = Lexer {
            raw_quotes: true,
            ..self.lexer
        };
        let sources = c
            .sources
            .iter()
            .map(|s| match s {
                Source::Path(p) => Ok(Source::Path(self.word(p)?)),
                Source::Heredoc(h) if h.expand => {
                    let mut h = h.clone();
                    h.content = raw.process_word(&h.content, &|n| self.lookup(n))?;
                    Ok(Source::Heredoc(h))
                }
                other => Ok(other.clone()),
            })
            .collect::<Result<_, ExpandError>>()?;
        Ok(CopyArgs {
            sources,
            dest: self.word(&c.dest)?,
            from: self.opt(&c.from)?,
            chown: self.opt(&c.chown)?,
            chmod: self.opt(&c.chmod)?,
            exclude: c
                .exclude
                .iter()
                .map(|e| self.word(e))
                .collect::<Result<_, _>>()?,
            checksum: self.opt(&c.checksum)?,
            ..c.clone()
        })
    }

    /// Expands an instruction as Docker does and records its ENV/ARG effects. A RUN's
    /// `--mount` options expand but its command does not (the shell does that); CMD,
    /// ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD and MAINTAINER come back unchanged.
    pub fn apply(&mut self, located: &Located<Instruction>) -> Result<Instruction, ExpandError> {
        let instr = &located.value;
        self.apply_inner(instr)
            .map_err(|e| at(located.line, instr.keyword(), e))
    }

    fn apply_inner(&mut self, instr: &Instruction) -> Result<Instruction, ExpandError> {
        Ok(match instr {
            Instruction::Env(kvs) => {
                let kvs = self.pairs(kvs)?;
                for kv in &kvs {
                    self.vars.insert(kv.key.clone(), kv.value.clone());
                    self.image_env.insert(kv.key.clone(), kv.value.clone());
                }
                Instruction::Env(kvs)
            }
            Instruction::Label(kvs) => Instruction::Label(self.pairs(kvs)?),
            Instruction::Arg(decls) => {
                let mut out = Vec::new();
                for d in decls {
                    let value = match (self.build_args.get(&d.name), &d.default) {
                        (Some(v), _) => Some(v.clone()),
                        (None, Some(default)) => Some(self.word(default)?),
                        (None, None) => self.global.get(&d.name),
                    };
                    self.args.insert(d.name.clone(), value.clone());
                    if let Some(v) = &value {
                        self.vars.insert(d.name.clone(), v.clone());
                    }
                    out.push(crate::dockerfile::ArgDecl {
                        name: d.name.clone(),
                        default: value,
                    });
                }
                Instruction::Arg(out)
            }
            Instruction::Expose(ports) => {
                let mut out = Vec::new();
                for p in ports {
                    out.extend(self.lexer.process_words(p, &|n| self.lookup(n))?);
                }
                Instruction::Expose(out)
            }
            Instruction::Run(run) => {
                let mut run = run.clone();
                for m in &mut run.mounts {
                    m.target = self.opt(&m.target)?;
                    for o in &mut m.options {
                        o.value = self.word(&o.value)?;
                    }
                }
                Instruction::Run(run)
            }
            Instruction::Copy(c) => Instruction::Copy(self.copy_args(c)?),
            Instruction::Add(c) => Instruction::Add(self.copy_args(c)?),
            Instruction::Workdir(w) => Instruction::Workdir(self.word(w)?),
            Instruction::User(u) => Instruction::User(self.word(u)?),
            Instruction::StopSignal(s) => Instruction::StopSignal(self.word(s)?),
            Instruction::Volume(v) => {
                Instruction::Volume(v.iter().map(|w| self.word(w)).collect::<Result<_, _>>()?)
            }
            other => other.clone(),
        })
    }

    /// The image env so far (base env and ENV), `KEY=value`.
    pub fn env(&self) -> Vec<String> {
        self.image_env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }

    /// Every declared ARG in order with its current value (empty when unset): BuildKit's
    /// `RUN |N k=v …` history prefix.
    pub fn arg_values(&self) -> Vec<(String, String)> {
        self.args
            .iter()
            .map(|(k, v)| {
                let value = self
                    .vars
                    .get(k)
                    .cloned()
                    .or_else(|| v.clone())
                    .unwrap_or_default();
                (k.clone(), value)
            })
            .collect()
    }

    /// Environment of a `RUN`: the stage's variables, plus proxy build args not set there.
    pub fn run_env(&self) -> Vec<String> {
        let mut all = self.vars.clone();
        for p in PROXY_ARGS {
            if let Some(v) = self.build_args.get(p) {
                all.entry(p.to_string()).or_insert_with(|| v.clone());
            }
        }
        all.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
    }
}

#[cfg(test)]
#[path = "expand_tests.rs"]
mod tests;
