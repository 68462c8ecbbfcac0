//! One logical line to one typed instruction: keyword, `--flags` (checked per instruction
//! like BuildKit's `BFlags`), and the argument shape each instruction takes (JSON or shell
//! form, whitespace words, `key=value` pairs, one string).

use std::collections::BTreeMap;

use super::lines::{LogicalLine, parse_words};
use super::{
    ArgDecl, CommandForm, CopyArgs, Healthcheck, HealthcheckCmd, Heredoc, Instruction, KeyValue,
    Mount, OnBuild, ParseError, ParseErrorKind, Run, Source,
};

const KEYWORDS: &[&str] = &[
    "FROM",
    "RUN",
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "ARG",
    "LABEL",
    "EXPOSE",
    "COPY",
    "ADD",
    "WORKDIR",
    "USER",
    "VOLUME",
    "SHELL",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "ONBUILD",
    "MAINTAINER",
];

/// `FROM` line contents.
pub(super) struct From {
    pub base: String,
    pub name: Option<String>,
    pub platform: Option<String>,
}

pub(super) enum Parsed {
    From(From),
    Instruction(Instruction),
}

#[derive(Clone, Copy, PartialEq)]
enum FlagKind {
    Str,
    Bool,
    List,
}

fn flag_specs(keyword: &str) -> &'static [(&'static str, FlagKind)] {
    use FlagKind::*;
    match keyword {
        "FROM" => &[("platform", Str)],
        "RUN" => &[("mount", List), ("network", Str), ("security", Str)],
        "COPY" => &[
            ("from", Str),
            ("chown", Str),
            ("chmod", Str),
            ("link", Bool),
            ("parents", Bool),
            ("exclude", List),
        ],
        "ADD" => &[
            ("chown", Str),
            ("chmod", Str),
            ("link", Bool),
            ("keep-git-dir", Bool),
            ("checksum", Str),
            ("exclude", List),
        ],
        "HEALTHCHECK" => &[
            ("interval", Str),
            ("timeout", Str),
            ("start-period", Str),
            ("start-interval", Str),
            ("retries", Str),
        ],
        _ => &[],
    }
}

#[derive(Default)]
struct Flags {
    strings: BTreeMap<&'static str, String>,
    lists: BTreeMap<&'static str, Vec<String>>,
    bools: BTreeMap<&'static str, bool>,
}

impl Flags {
    fn string(&mut self, name: &str) -> Option<String> {
        self.strings.remove(name)
    }
    fn list(&mut self, name: &str) -> Vec<String> {
        self.lists.remove(name).unwrap_or_default()
    }
    fn flag(&self, name: &str) -> bool {
        self.bools.get(name).copied().unwrap_or(false)
    }
}

/// The upper-case keyword of a line, or "UNKNOWN".
pub(super) fn keyword_of(text: &str) -> &'static str {
    let word = text.split_whitespace().next().unwrap_or("");
    KEYWORDS
        .iter()
        .find(|k| k.eq_ignore_ascii_case(word))
        .copied()
        .unwrap_or("UNKNOWN")
}

/// Whether BuildKit reads heredocs for this line: RUN, COPY or ADD not in JSON form.
/// `ONBUILD` looks at its inner instruction, as BuildKit's `canContainHeredoc`.
pub(super) fn heredoc_capable(text: &str) -> bool {
    let mut text = text.trim_start();
    let mut keyword = keyword_of(text);
    if keyword == "ONBUILD" {
        text = text[keyword.len()..].trim_start();
        keyword = keyword_of(text);
    }
    if !matches!(keyword, "RUN" | "COPY" | "ADD") || !text.contains("<<") {
        return false;
    }
    let rest = text[keyword.len()..].to_string();
    let (_, args) = split_flags(&rest);
    matches!(json_array(keyword, args), Ok(None))
}

/// Splits leading `--name[=value]` words off; quotes in values are removed and `\\`
/// escapes whatever the escape directive says, as BuildKit's `extractBuilderFlags`.
fn split_flags(rest: &str) -> (Vec<String>, &str) {
    let escape = '\\';
    let mut flags = Vec::new();
    let mut rest = rest;
    loop {
        let s = rest.trim_start();
        if !s.starts_with("--") {
            return (flags, s);
        }
        let mut value = String::new();
        let mut quote = None;
        let mut end = s.len();
        let mut chars = s.char_indices();
        while let Some((i, c)) = chars.next() {
            match (quote, c) {
                (None, c) if c.is_whitespace() => {
                    end = i;
                    break;
                }
                (None, '\'' | '"') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (q, c) if c == escape && q != Some('\'') => {
                    if let Some((_, n)) = chars.next() {
                        value.push(n);
                    }
                }
                (_, c) => value.push(c),
            }
        }
        if value == "--" {
            return (flags, s[end..].trim_start());
        }
        flags.push(value[2..].to_string());
        rest = &s[end..];
    }
}

fn check_flags(keyword: &'static str, raw: Vec<String>, line: usize) -> Result<Flags, ParseError> {
    let specs = flag_specs(keyword);
    let mut flags = Flags::default();
    for f in raw {
        let (name, value) = match f.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (f, None),
        };
        let Some(&(spec_name, kind)) = specs.iter().find(|(n, _)| *n == name) else {
            return Err(ParseErrorKind::UnknownFlag {
                instruction: keyword,
                flag: name,
            }
            .at(line));
        };
        match (kind, value) {
            (FlagKind::Bool, value) => {
                let v = match value.as_deref().map(str::to_ascii_lowercase).as_deref() {
                    None | Some("true") => true,
                    Some("false") => false,
                    Some(_) => {
                        return Err(ParseErrorKind::BadBoolFlag {
                            instruction: keyword,
                            flag: name,
                            value: value.unwrap_or_default(),
                        }
                        .at(line));
                    }
                };
                flags.bools.insert(spec_name, v);
            }
            (_, None) => {
                return Err(ParseErrorKind::FlagMissingValue {
                    instruction: keyword,
                    flag: name,
                }
                .at(line));
            }
            (FlagKind::List, Some(v)) => flags.lists.entry(spec_name).or_default().push(v),
            (FlagKind::Str, Some(v)) => {
                if flags.strings.insert(spec_name, v).is_some() {
                    return Err(ParseErrorKind::DuplicateFlag {
                        instruction: keyword,
                        flag: name,
                    }
                    .at(line));
                }
            }
        }
    }
    Ok(flags)
}

/// BuildKit's `parseJSON`: `Ok(None)` when not a JSON array, an error when an array holds
/// something other than strings.
fn json_array(keyword: &'static str, args: &str) -> Result<Option<Vec<String>>, ParseErrorKind> {
    let t = args.trim();
    if !t.starts_with('[') {
        return Ok(None);
    }
    // Like Go's json.Decoder, read the first value and ignore what follows it.
    let first = serde_json::Deserializer::from_str(t)
        .into_iter::<Vec<serde_json::Value>>()
        .next();
    match first {
        None | Some(Err(_)) => Ok(None),
        Some(Ok(values)) => values
            .into_iter()
            .map(|v| match v {
                serde_json::Value::String(s) => Ok(s),
                _ => Err(ParseErrorKind::NotStringArray(keyword)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
    }
}

fn maybe_json(keyword: &'static str, args: &str) -> Result<CommandForm, ParseErrorKind> {
    Ok(match json_array(keyword, args)? {
        Some(v) => CommandForm::Exec(v),
        None => CommandForm::Shell(args.trim().to_string()),
    })
}

fn maybe_json_list(keyword: &'static str, args: &str) -> Result<Vec<String>, ParseErrorKind> {
    Ok(json_array(keyword, args)?
        .unwrap_or_else(|| args.split_whitespace().map(str::to_string).collect()))
}

fn one_string(keyword: &'static str, args: &str, line: usize) -> Result<String, ParseError> {
    let t = args.trim();
    if t.is_empty() {
        return Err(ParseErrorKind::ExactlyOneArgument(keyword).at(line));
    }
    Ok(t.to_string())
}

fn name_values(
    keyword: &'static str,
    args: &str,
    escape: char,
    line: usize,
) -> Result<Vec<KeyValue>, ParseError> {
    let words = parse_words(args, escape);
    let Some(first) = words.first() else {
        return Err(ParseErrorKind::AtLeastOneArgument(keyword).at(line));
    };
    if !first.contains('=') {
        let t = args.trim();
        return match t.split_once(char::is_whitespace) {
            Some((k, v)) => Ok(vec![KeyValue {
                key: k.to_string(),
                value: v.trim_start().to_string(),
            }]),
            None => Err(ParseErrorKind::TwoArguments(keyword).at(line)),
        };
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some(("", _)) => Err(ParseErrorKind::BlankName(keyword).at(line)),
            Some((k, v)) => Ok(KeyValue {
                key: k.to_string(),
                value: v.to_string(),
            }),
            None => Err(ParseErrorKind::MissingEquals {
                instruction: keyword,
                word: w,
            }
            .at(line)),
        })
        .collect()
}

fn suggestion(word: &str) -> Option<String> {
    let upper = word.to_ascii_uppercase();
    KEYWORDS
        .iter()
        .map(|k| (!upper.starts_with(k), distance(&upper, k), *k))
        .filter(|(not_prefix, d, _)| !not_prefix || *d <= (upper.len() / 2).max(2))
        .min()
        .map(|(_, _, k)| k.to_string())
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Parses one logical line.
pub(super) fn parse_line(line: &LogicalLine, escape: char) -> Result<Parsed, ParseError> {
    parse_text(&line.text, &line.heredocs, escape, line.start)
}

fn parse_text(
    text: &str,
    heredocs: &[Heredoc],
    escape: char,
    line: usize,
) -> Result<Parsed, ParseError> {
    let text = text.trim();
    let word = text.split_whitespace().next().unwrap_or("");
    let keyword = keyword_of(text);
    if keyword == "UNKNOWN" {
        return Err(ParseErrorKind::UnknownInstruction {
            word: word.to_string(),
            suggestion: suggestion(word),
        }
        .at(line));
    }
    let rest = &text[word.len()..];
    let (raw_flags, args) = if keyword == "ONBUILD" {
        (Vec::new(), rest.trim_start())
    } else {
        split_flags(rest)
    };
    let mut flags = check_flags(keyword, raw_flags, line)?;
    let err = |kind: ParseErrorKind| Err(kind.at(line));
    let instruction = match keyword {
        "FROM" => {
            let words: Vec<&str> = args.split_whitespace().collect();
            let name = match words.as_slice() {
                [_] => None,
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(name.to_ascii_lowercase()),
                _ => return err(ParseErrorKind::FromArguments),
            };
            if let Some(n) = &name
                && !valid_stage_name(n)
            {
                return err(ParseErrorKind::InvalidStageName(n.clone()));
            }
            return Ok(Parsed::From(From {
                base: words[0].to_string(),
                name,
                platform: flags.string("platform"),
            }));
        }
        "RUN" => {
            if args.trim().is_empty() {
                return err(ParseErrorKind::AtLeastOneArgument(keyword));
            }
            let mounts = flags
                .list("mount")
                .iter()
                .map(|m| parse_mount(m).map_err(|k| k.at(line)))
                .collect::<Result<_, _>>()?;
            Instruction::Run(Run {
                command: maybe_json(keyword, args).map_err(|k| k.at(line))?,
                heredocs: heredocs.to_vec(),
                mounts,
                network: flags.string("network"),
                security: flags.string("security"),
            })
        }
        "CMD" | "ENTRYPOINT" => {
            if args.trim().is_empty() {
                return err(ParseErrorKind::AtLeastOneArgument(keyword));
            }
            let form = maybe_json(keyword, args).map_err(|k| k.at(line))?;
            if keyword == "CMD" {
                Instruction::Cmd(form)
            } else {
                Instruction::Entrypoint(form)
            }
        }
        "ENV" => Instruction::Env(name_values(keyword, args, escape, line)?),
        "LABEL" => Instruction::Label(name_values(keyword, args, escape, line)?),
        "ARG" => {
            let words = parse_words(args, escape);
            if words.is_empty() {
                return err(ParseErrorKind::AtLeastOneArgument(keyword));
            }
            Instruction::Arg(
                words
                    .into_iter()
                    .map(|w| match w.split_once('=') {
                        Some(("", _)) => Err(ParseErrorKind::BlankName(keyword).at(line)),
                        Some((n, d)) => Ok(ArgDecl {
                            name: n.to_string(),
                            default: Some(d.to_string()),
                        }),
                        None => Ok(ArgDecl {
                            name: w,
                            default: None,
                        }),
                    })
                    .collect::<Result<_, _>>()?,
            )
        }
        "EXPOSE" => {
            let mut ports: Vec<String> = args.split_whitespace().map(str::to_string).collect();
            ports.sort();
            if ports.is_empty() {
                return err(ParseErrorKind::AtLeastOneArgument(keyword));
            }
            Instruction::Expose(ports)
        }
        "COPY" | "ADD" => {
            let mut words = maybe_json_list(keyword, args).map_err(|k| k.at(line))?;
            if words.len() < 2 {
                return err(ParseErrorKind::NoDestination(keyword));
            }
            let dest = words.pop().unwrap_or_default();
            if super::lines::heredoc_of_word(&dest).is_some() {
                return err(ParseErrorKind::HeredocDestination(keyword));
            }
            let sources = words
                .into_iter()
                .map(|w| {
                    let doc = super::lines::heredoc_of_word(&w)
                        .and_then(|h| heredocs.iter().find(|d| d.name == h.name));
                    match doc {
                        Some(d) => Source::Heredoc(d.clone()),
                        None => Source::Path(w),
                    }
                })
                .collect();
            let args = CopyArgs {
                sources,
                dest,
                from: flags.string("from"),
                chown: flags.string("chown"),
                chmod: flags.string("chmod"),
                link: flags.flag("link"),
                parents: flags.flag("parents"),
                exclude: flags.list("exclude"),
                checksum: flags.string("checksum"),
                keep_git_dir: flags.flag("keep-git-dir"),
            };
            if keyword == "COPY" {
                Instruction::Copy(args)
            } else {
                Instruction::Add(args)
            }
        }
        "WORKDIR" => Instruction::Workdir(one_string(keyword, args, line)?),
        "USER" => Instruction::User(one_string(keyword, args, line)?),
        "STOPSIGNAL" => Instruction::StopSignal(one_string(keyword, args, line)?),
        "MAINTAINER" => Instruction::Maintainer(one_string(keyword, args, line)?),
        "VOLUME" => {
            let vols: Vec<String> = maybe_json_list(keyword, args)
                .map_err(|k| k.at(line))?
                .iter()
                .map(|v| v.trim().to_string())
                .collect();
            if vols.is_empty() {
                return err(ParseErrorKind::AtLeastOneArgument(keyword));
            }
            if vols.iter().any(|v| v.trim().is_empty()) {
                return err(ParseErrorKind::EmptyVolume);
            }
            Instruction::Volume(vols)
        }
        "SHELL" => match json_array(keyword, args).map_err(|k| k.at(line))? {
            Some(v) if v.is_empty() => return err(ParseErrorKind::AtLeastOneArgument(keyword)),
            Some(v) => Instruction::Shell(v),
            None => return err(ParseErrorKind::NotJson(keyword)),
        },
        "HEALTHCHECK" => {
            Instruction::Healthcheck(parse_healthcheck(args, &mut flags).map_err(|k| k.at(line))?)
        }
        _ => {
            let inner_keyword = keyword_of(args);
            match inner_keyword {
                "ONBUILD" => return err(ParseErrorKind::OnbuildChain),
                "FROM" | "MAINTAINER" => {
                    return err(ParseErrorKind::OnbuildForbidden(inner_keyword));
                }
                _ => {}
            }
            if args.is_empty() {
                return err(ParseErrorKind::AtLeastOneArgument(keyword));
            }
            let Parsed::Instruction(inner) = parse_text(args, heredocs, escape, line)? else {
                return err(ParseErrorKind::OnbuildForbidden("FROM"));
            };
            let mut expression = args.to_string();
            for doc in heredocs {
                expression.push('\n');
                expression.push_str(&doc.content);
                expression.push_str(&doc.name);
            }
            Instruction::Onbuild(OnBuild {
                expression,
                instruction: Box::new(inner),
            })
        }
    };
    Ok(Parsed::Instruction(instruction))
}

/// BuildKit's stage name rule `^[a-z][a-z0-9-_.]*$` (after lower-casing).
fn valid_stage_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

fn parse_mount(spec: &str) -> Result<Mount, ParseErrorKind> {
    let bad = |reason: String| ParseErrorKind::BadMount {
        spec: spec.to_string(),
        reason,
    };
    let mut kind = "bind".to_string();
    let mut target = None;
    let mut options = Vec::new();
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (key, value) = field.split_once('=').unwrap_or((field, ""));
        match key.to_ascii_lowercase().as_str() {
            "type" => kind = value.to_ascii_lowercase(),
            "target" | "dst" | "destination" => target = Some(value.to_string()),
            "source" | "src" | "from" | "id" | "sharing" | "mode" | "uid" | "gid" | "readonly"
            | "ro" | "rw" | "readwrite" | "required" | "size" | "env" => options.push(KeyValue {
                key: key.to_ascii_lowercase(),
                value: value.to_string(),
            }),
            other => return Err(bad(format!("unexpected key '{other}'"))),
        }
    }
    if !matches!(kind.as_str(), "bind" | "cache" | "tmpfs" | "secret" | "ssh") {
        return Err(bad(format!("unsupported mount type {kind:?}")));
    }
    if target.is_none() && matches!(kind.as_str(), "bind" | "cache" | "tmpfs") {
        return Err(bad(format!("mount type={kind} requires a target")));
    }
    if let Some(s) = options.iter().find(|o| o.key == "sharing")
        && !matches!(s.value.as_str(), "shared" | "private" | "locked")
    {
        return Err(bad(format!("unsupported sharing value {:?}", s.value)));
    }
    Ok(Mount {
        kind,
        target,
        options,
    })
}

fn parse_healthcheck(args: &str, flags: &mut Flags) -> Result<Healthcheck, ParseErrorKind> {
    let args = args.trim();
    let (typ, rest) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
    match typ.to_ascii_uppercase().as_str() {
        "NONE" => {
            if !rest.trim().is_empty() {
                return Err(ParseErrorKind::HealthcheckNoneArgs);
            }
            Ok(Healthcheck::None)
        }
        "CMD" => {
            if rest.trim().is_empty() {
                return Err(ParseErrorKind::HealthcheckNoCommand);
            }
            let mut duration = |name: &str| -> Result<Option<u64>, ParseErrorKind> {
                let Some(v) = flags.string(name) else {
                    return Ok(None);
                };
                if v.is_empty() {
                    return Ok(None);
                }
                let negative = v.starts_with('-');
                let ns = parse_go_duration(v.strip_prefix('-').unwrap_or(&v)).ok_or_else(|| {
                    ParseErrorKind::BadDuration {
                        flag: name.to_string(),
                        value: v.clone(),
                    }
                })?;
                if ns != 0 && (negative || ns < 1_000_000) {
                    return Err(ParseErrorKind::DurationTooShort {
                        flag: name.to_string(),
                    });
                }
                Ok(Some(ns))
            };
            let interval = duration("interval")?;
            let timeout = duration("timeout")?;
            let start_period = duration("start-period")?;
            let start_interval = duration("start-interval")?;
            let retries = match flags.string("retries") {
                None => None,
                Some(v) => {
                    let n: i64 = v
                        .parse()
                        .map_err(|_| ParseErrorKind::BadRetries(v.clone()))?;
                    if n < 0 {
                        return Err(ParseErrorKind::NegativeRetries(n));
                    }
                    Some(n)
                }
            };
            Ok(Healthcheck::Cmd(HealthcheckCmd {
                command: maybe_json("HEALTHCHECK", rest)?,
                interval,
                timeout,
                start_period,
                start_interval,
                retries,
            }))
        }
        _ => Err(ParseErrorKind::HealthcheckType(typ.to_string())),
    }
}

/// Go's `time.ParseDuration` for non-negative values, in nanoseconds.
pub fn parse_go_duration(s: &str) -> Option<u64> {
    if s == "0" {
        return Some(0);
    }
    let mut total = 0f64;
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * factor;
    }
    Some(total.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("30s"), Some(30_000_000_000));
        assert_eq!(parse_go_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_go_duration("1.5h"), Some(5_400_000_000_000));
        assert_eq!(parse_go_duration("500ms"), Some(500_000_000));
        assert_eq!(parse_go_duration("10"), None);
        assert_eq!(parse_go_duration("-1s"), None);
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggestion("RUNCMD").as_deref(), Some("RUN"));
        assert_eq!(suggestion("COPPY").as_deref(), Some("COPY"));
        assert_eq!(suggestion("xyzzyqwerty"), None);
    }

    #[test]
    fn flags_split_quotes() {
        let (f, rest) = split_flags(r#" --chown="a b" --link -- --x y"#);
        assert_eq!(f, vec!["chown=a b", "link"]);
        assert_eq!(rest, "--x y");
    }
}
