//! Physical lines to logical lines, as BuildKit's `parser.Parse`: parser directives at the
//! top, comments, escape-char continuations (comment and blank lines inside a continuation
//! are skipped), and heredoc bodies read after the line that opens them.

use serde::Serialize;

use super::{Heredoc, ParseError, ParseErrorKind};

/// Parser directives (`# syntax=…`, `# escape=…`, `# check=…`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Directives {
    pub syntax: Option<String>,
    pub escape: char,
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            syntax: None,
            escape: '\\',
            check: None,
        }
    }
}

/// One instruction's text with continuations joined, and its heredoc bodies.
#[derive(Debug, Clone)]
pub(super) struct LogicalLine {
    pub start: usize,
    pub end: usize,
    pub text: String,
    pub heredocs: Vec<Heredoc>,
    /// A blank line sat inside the continuation (BuildKit warns about it).
    pub empty_continuation: bool,
}

struct DirectiveParser {
    directives: Directives,
    seen: Vec<String>,
    done: bool,
}

impl DirectiveParser {
    /// Looks at a physical line while directives are still allowed.
    fn feed(&mut self, raw: &str, line: usize) -> Result<(), ParseError> {
        if self.done {
            return Ok(());
        }
        let Some((key, value)) = directive_of(raw) else {
            self.done = true;
            return Ok(());
        };
        let key = key.to_ascii_lowercase();
        if !matches!(key.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(());
        }
        if self.seen.contains(&key) {
            return Err(ParseErrorKind::DuplicateDirective(key).at(line));
        }
        match key.as_str() {
            "escape" => match value {
                "\\" => self.directives.escape = '\\',
                "`" => self.directives.escape = '`',
                other => return Err(ParseErrorKind::InvalidEscape(other.to_string()).at(line)),
            },
            "syntax" => self.directives.syntax = Some(value.to_string()),
            _ => self.directives.check = Some(value.to_string()),
        }
        self.seen.push(key);
        Ok(())
    }
}

/// Matches `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`.
fn directive_of(raw: &str) -> Option<(&str, &str)> {
    let rest = raw.strip_prefix('#')?.trim_start();
    let key_len = rest
        .char_indices()
        .find(|(_, c)| !c.is_ascii_alphanumeric())
        .map_or(rest.len(), |(i, _)| i);
    let key = &rest[..key_len];
    if !key.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let value = rest[key_len..].trim_start().strip_prefix('=')?.trim();
    (!value.is_empty()).then_some((key, value))
}

fn is_comment(raw: &str) -> bool {
    raw.trim_start().starts_with('#')
}

/// Strips a trailing escape char (and whitespace after it); true when the line continues.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    match trimmed.strip_suffix(escape) {
        Some(rest) => (rest, true),
        None => (line, false),
    }
}

/// Splits text into directives and logical lines.
pub(super) fn split(text: &str) -> Result<(Directives, Vec<LogicalLine>), ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let physical: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut dp = DirectiveParser {
        directives: Directives::default(),
        seen: Vec::new(),
        done: false,
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < physical.len() {
        let raw = physical[i];
        let start = i + 1;
        dp.feed(raw.trim_start(), start)?;
        i += 1;
        let escape = dp.directives.escape;
        let first = raw.trim_start();
        if first.starts_with('#') {
            continue;
        }
        let (mut line, mut continues) = trim_continuation(first, escape);
        let mut line_owned = line.to_string();
        if !continues && line.trim().is_empty() {
            continue;
        }
        let mut empty_continuation = false;
        while continues && i < physical.len() {
            let next = physical[i];
            dp.feed(next, i + 1)?;
            i += 1;
            if is_comment(next) {
                continue;
            }
            if next.trim().is_empty() {
                empty_continuation = true;
                continue;
            }
            (line, continues) = trim_continuation(next, escape);
            line_owned.push_str(line);
        }
        let mut logical = LogicalLine {
            start,
            end: i,
            text: line_owned,
            heredocs: Vec::new(),
            empty_continuation,
        };
        if super::instr::heredoc_capable(&logical.text) {
            for mut doc in heredocs_of(&logical.text) {
                let mut terminated = false;
                while i < physical.len() {
                    let body = physical[i];
                    i += 1;
                    let candidate = if doc.chomp {
                        body.trim_start_matches('\t')
                    } else {
                        body
                    };
                    if candidate == doc.name {
                        terminated = true;
                        break;
                    }
                    doc.content.push_str(candidate);
                    doc.content.push('\n');
                }
                if !terminated {
                    let instruction = super::instr::keyword_of(&logical.text);
                    return Err(ParseErrorKind::UnterminatedHeredoc {
                        instruction,
                        name: doc.name,
                    }
                    .at(start));
                }
                logical.heredocs.push(doc);
            }
            logical.end = i;
        }
        out.push(logical);
    }
    Ok((dp.directives, out))
}

/// Heredoc openers among the words of a line (`<<EOF`, `<<-EOF`, `3<<"EOF"`).
fn heredocs_of(line: &str) -> Vec<Heredoc> {
    parse_words(line, '\\')
        .iter()
        .filter_map(|w| heredoc_of_word(w))
        .collect()
}

/// Parses one word as a heredoc opener (`^(\d*)<<(-?)([^<]*)$` with a non-empty name);
/// the returned heredoc has no content yet.
pub fn heredoc_of_word(word: &str) -> Option<Heredoc> {
    let digits = word.chars().take_while(char::is_ascii_digit).count();
    let rest = word[digits..].strip_prefix("<<")?;
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let fd = word[..digits].parse().ok();
    let mut name = String::new();
    let mut quote = None;
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (q, '\\') if q != Some('\'') => name.extend(chars.next()),
            (None, c) if c.is_whitespace() => return None,
            (_, c) => name.push(c),
        }
    }
    if name.is_empty() || quote.is_some() {
        return None;
    }
    Some(Heredoc {
        name,
        content: String::new(),
        expand: !rest.contains(['\'', '"']),
        chomp,
        fd,
    })
}

/// BuildKit's `parseWords`: splits on whitespace outside quotes, keeping quotes and escapes
/// in the words (they are removed by expansion later).
pub fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote(char),
    }
    let mut words = Vec::new();
    let mut word = String::new();
    let mut phase = Phase::Spaces;
    let mut blank_ok = false;
    let mut chars = rest.chars().peekable();
    while let Some(ch) = chars.next() {
        if phase == Phase::Spaces {
            if ch.is_whitespace() {
                continue;
            }
            phase = Phase::Word;
        }
        match phase {
            Phase::Word => {
                if ch.is_whitespace() {
                    if blank_ok || !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    blank_ok = false;
                    phase = Phase::Spaces;
                    continue;
                }
                if ch == '\'' || ch == '"' {
                    blank_ok = true;
                    phase = Phase::Quote(ch);
                }
                if ch == escape {
                    match chars.next() {
                        None => continue,
                        Some(next) => {
                            word.push(ch);
                            word.push(next);
                            continue;
                        }
                    }
                }
                word.push(ch);
            }
            Phase::Quote(q) => {
                if ch == q {
                    phase = Phase::Word;
                }
                if ch == escape && q != '\'' {
                    match chars.next() {
                        None => {
                            phase = Phase::Word;
                            continue;
                        }
                        Some(next) => {
                            word.push(ch);
                            word.push(next);
                            continue;
                        }
                    }
                }
                word.push(ch);
            }
            Phase::Spaces => {}
        }
    }
    if phase != Phase::Spaces && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_words_keeps_quotes_and_escapes() {
        assert_eq!(
            parse_words(r#"a="b c" d=e\ f  'g h'"#, '\\'),
            vec![r#"a="b c""#, r"d=e\ f", "'g h'"]
        );
        assert_eq!(parse_words(r#"x="""#, '\\'), vec![r#"x="""#]);
    }

    #[test]
    fn heredoc_words() {
        let d = heredoc_of_word("<<-\"EOF\"").unwrap();
        assert_eq!((d.name.as_str(), d.chomp, d.expand), ("EOF", true, false));
        let d = heredoc_of_word("3<<EOT").unwrap();
        assert_eq!((d.name.as_str(), d.fd, d.expand), ("EOT", Some(3), true));
        assert!(heredoc_of_word("<<").is_none());
        assert!(heredoc_of_word("a<<EOF").is_none());
    }

    #[test]
    fn directive_regex() {
        assert_eq!(directive_of("# escape = `"), Some(("escape", "`")));
        assert_eq!(
            directive_of("#syntax=docker/dockerfile:1"),
            Some(("syntax", "docker/dockerfile:1"))
        );
        assert_eq!(directive_of("# just a comment"), None);
    }
}
