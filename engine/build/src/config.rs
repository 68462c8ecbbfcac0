//! Applying a stage's (expanded) metadata instructions to an OCI image config as Docker
//! does: ENV/LABEL/EXPOSE/WORKDIR/USER/VOLUME/STOPSIGNAL, ENTRYPOINT resetting an
//! inherited CMD, shell form wrapped with SHELL, HEALTHCHECK in Docker's shape, ONBUILD
//! triggers, and the `created_by` history strings BuildKit writes.

use oci_spec::image::{Config, History};
use serde::{Deserialize, Serialize};

use crate::dockerfile::{
    CommandForm, CopyArgs, Healthcheck, Heredoc, Instruction, Located, Run, Source, heredoc_of_word,
};

/// The `comment` BuildKit puts on every history entry of a Dockerfile build.
pub const HISTORY_COMMENT: &str = "buildkit.dockerfile.v0";

/// What a `RUN` executes: its argv, and for a lone `RUN <<EOF` whose body starts with `#!`,
/// the heredoc to mount read-only at `/dev/pipes/<name>` (mode 0755) and run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCommand {
    pub args: Vec<String>,
    pub script: Option<Heredoc>,
}

/// BuildKit's `dispatchRun` argv: exec form as is; shell form through `shell`, where a
/// lone heredoc's body becomes the script and other heredocs are appended for the shell.
pub fn run_command(run: &Run, shell: &[String]) -> RunCommand {
    let text = match &run.command {
        CommandForm::Exec(v) => {
            return RunCommand {
                args: v.clone(),
                script: None,
            };
        }
        CommandForm::Shell(s) => s,
    };
    let mut script = None;
    let body = match (run.heredocs.first(), heredoc_of_word(text)) {
        (Some(doc), Some(_)) if doc.content.starts_with("#!") => {
            script = Some(doc.clone());
            format!("/dev/pipes/{}", doc.name)
        }
        (Some(doc), Some(_)) => doc.content.clone(),
        _ => {
            let mut full = text.clone();
            for doc in &run.heredocs {
                full.push('\n');
                full.push_str(&doc.content);
                full.push_str(&doc.name);
            }
            full
        }
    };
    let mut args = shell.to_vec();
    args.push(body);
    RunCommand { args, script }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("Dockerfile:{line}: EXPOSE: invalid port {spec:?}: {reason}")]
    Port {
        line: usize,
        spec: String,
        reason: &'static str,
    },
    #[error("Dockerfile:{line}: STOPSIGNAL: invalid signal: {signal}")]
    Signal { line: usize, signal: String },
    #[error(
        "Dockerfile:{line}: {instruction}: invalid chmod parameter: '{value}'. it should be octal string and between 0 and 07777"
    )]
    Chmod {
        line: usize,
        instruction: &'static str,
        value: String,
    },
    #[error("Dockerfile:{line}: COPY: source can't be a URL for COPY")]
    UrlForCopy { line: usize },
    #[error("Dockerfile:{line}: {instruction}: {reason}")]
    Checksum {
        line: usize,
        instruction: &'static str,
        reason: &'static str,
    },
}

fn is_http(src: &str) -> bool {
    src.starts_with("http://") || src.starts_with("https://")
}

/// BuildKit's dispatch-time checks of COPY/ADD flags and sources.
fn check_copy(line: usize, instruction: &'static str, c: &CopyArgs) -> Result<(), ConfigError> {
    if let Some(mode) = &c.chmod
        && !u32::from_str_radix(mode, 8).is_ok_and(|m| m <= 0o7777)
    {
        return Err(ConfigError::Chmod {
            line,
            instruction,
            value: mode.clone(),
        });
    }
    let paths: Vec<&str> = c
        .sources
        .iter()
        .filter_map(|s| match s {
            Source::Path(p) => Some(p.as_str()),
            Source::Heredoc(_) => None,
        })
        .collect();
    if instruction == "COPY" && paths.iter().any(|p| is_http(p)) {
        return Err(ConfigError::UrlForCopy { line });
    }
    if c.checksum.is_some() {
        let reason = if instruction == "COPY" {
            Some("checksum can't be specified for COPY")
        } else if c.sources.len() != 1 {
            Some("checksum can't be specified for multiple sources")
        } else if !paths.first().is_some_and(|p| is_http(p)) {
            Some("checksum can't be specified for non-HTTP(S) sources")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(ConfigError::Checksum {
                line,
                instruction,
                reason,
            });
        }
    }
    Ok(())
}

/// Docker's `HealthConfig` (durations in nanoseconds, zero meaning "inherit the default").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    pub test: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interval: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_period: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_interval: u64,
    #[serde(default, skip_serializing_if = "is_zero_i")]
    pub retries: i64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}
fn is_zero_i(v: &i64) -> bool {
    *v == 0
}

/// Default `SHELL` on Linux.
pub fn default_shell() -> Vec<String> {
    vec!["/bin/sh".to_string(), "-c".to_string()]
}

/// The image config being built for one stage, with Docker's extensions to the OCI config.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageState {
    pub config: Config,
    pub healthcheck: Option<HealthConfig>,
    pub on_build: Vec<String>,
    pub shell: Vec<String>,
    pub author: Option<String>,
    /// Docker's `ArgsEscaped`, set by CMD.
    pub args_escaped: bool,
    pub history: Vec<History>,
    /// CMD set by this Dockerfile (an ENTRYPOINT then keeps it).
    cmd_set: bool,
}

impl Default for ImageState {
    fn default() -> Self {
        ImageState::from_base(Config::default())
    }
}

impl ImageState {
    /// Starts from the base image's config; history of the base is not copied.
    pub fn from_base(config: Config) -> Self {
        ImageState {
            config,
            healthcheck: None,
            on_build: Vec::new(),
            shell: default_shell(),
            author: None,
            args_escaped: false,
            history: Vec::new(),
            cmd_set: false,
        }
    }

    /// Docker's image `config` JSON: the OCI fields plus `Healthcheck`, `OnBuild`, `Shell`.
    pub fn docker_config_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(&self.config).unwrap_or_default();
        if let Some(obj) = v.as_object_mut() {
            if let Some(h) = &self.healthcheck {
                obj.insert(
                    "Healthcheck".into(),
                    serde_json::to_value(h).unwrap_or_default(),
                );
            }
            if !self.on_build.is_empty() {
                obj.insert("OnBuild".into(), self.on_build.clone().into());
            }
            if self.args_escaped {
                obj.insert("ArgsEscaped".into(), true.into());
            }
            if self.shell != default_shell() {
                obj.insert("Shell".into(), self.shell.clone().into());
            }
        }
        v
    }

    fn command(&self, form: &CommandForm) -> Vec<String> {
        match form {
            CommandForm::Exec(v) => v.clone(),
            CommandForm::Shell(s) => {
                let mut v = self.shell.clone();
                v.push(s.clone());
                v
            }
        }
    }

    /// Applies one expanded instruction and appends its history entry. `run_args` are the
    /// stage's ARG values (`StageScope::arg_values`) for the `RUN |N k=v` prefix.
    pub fn apply(
        &mut self,
        located: &Located<Instruction>,
        run_args: &[(String, String)],
    ) -> Result<(), ConfigError> {
        let line = located.line;
        let mut layer = false;
        let created_by = match &located.value {
            Instruction::Run(run) => {
                layer = true;
                let mut words: Vec<String> = Vec::new();
                if !run_args.is_empty() {
                    words.push(format!("|{}", run_args.len()));
                    words.extend(run_args.iter().map(|(k, v)| format!("{k}={v}")));
                }
                words.extend(run_command(run, &self.shell).args);
                format!("RUN {} # buildkit", words.join(" "))
            }
            Instruction::Cmd(form) => {
                let cmd = self.command(form);
                self.config.set_cmd(Some(cmd.clone()));
                self.cmd_set = true;
                self.args_escaped = true;
                format!("CMD {}", go_quote_list(&cmd))
            }
            Instruction::Entrypoint(form) => {
                let ep = self.command(form);
                self.config
                    .set_entrypoint((!ep.is_empty()).then(|| ep.clone()));
                if !self.cmd_set {
                    self.config.set_cmd(None);
                }
                format!("ENTRYPOINT {}", go_quote_list(&ep))
            }
            Instruction::Env(kvs) => {
                let mut env = self.config.env().clone().unwrap_or_default();
                for kv in kvs {
                    let entry = format!("{}={}", kv.key, kv.value);
                    match env
                        .iter_mut()
                        .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == kv.key)
                    {
                        Some(e) => *e = entry,
                        None => env.push(entry),
                    }
                }
                self.config.set_env(Some(env));
                pairs_message("ENV", kvs.iter().map(|kv| (&kv.key, &kv.value)))
            }
            Instruction::Label(kvs) => {
                let mut labels = self.config.labels().clone().unwrap_or_default();
                for kv in kvs {
                    labels.insert(kv.key.clone(), kv.value.clone());
                }
                self.config.set_labels(Some(labels));
                pairs_message("LABEL", kvs.iter().map(|kv| (&kv.key, &kv.value)))
            }
            Instruction::Arg(decls) => {
                let mut msg = "ARG".to_string();
                for d in decls {
                    match &d.default {
                        Some(v) => msg.push_str(&format!(" {}={v}", d.name)),
                        None => msg.push_str(&format!(" {}", d.name)),
                    }
                }
                msg
            }
            Instruction::Expose(specs) => {
                let mut ports = self.config.exposed_ports().clone().unwrap_or_default();
                let mut added = Vec::new();
                for spec in specs {
                    for p in parse_port_spec(spec).map_err(|reason| ConfigError::Port {
                        line,
                        spec: spec.clone(),
                        reason,
                    })? {
                        if !ports.contains(&p) {
                            ports.push(p.clone());
                        }
                        added.push(p);
                    }
                }
                self.config.set_exposed_ports(Some(ports));
                format!("EXPOSE [{}]", added.join(" "))
            }
            Instruction::Copy(c) => {
                check_copy(line, "COPY", c)?;
                layer = true;
                copy_message("COPY", c)
            }
            Instruction::Add(c) => {
                check_copy(line, "ADD", c)?;
                layer = true;
                copy_message("ADD", c)
            }
            Instruction::Workdir(w) => {
                let wd = normalize_workdir(self.config.working_dir().as_deref(), w);
                layer = wd != "/";
                self.config.set_working_dir(Some(wd.clone()));
                format!("WORKDIR {wd}")
            }
            Instruction::User(u) => {
                self.config.set_user(Some(u.clone()));
                format!("USER {u}")
            }
            Instruction::Volume(vols) => {
                let mut all = self.config.volumes().clone().unwrap_or_default();
                for v in vols {
                    if !all.contains(v) {
                        all.push(v.clone());
                    }
                }
                self.config.set_volumes(Some(all));
                format!("VOLUME [{}]", vols.join(" "))
            }
            Instruction::Shell(sh) => {
                self.shell = sh.clone();
                format!("SHELL [{}]", sh.join(" "))
            }
            Instruction::StopSignal(s) => {
                if !valid_signal(s) {
                    return Err(ConfigError::Signal {
                        line,
                        signal: s.clone(),
                    });
                }
                self.config.set_stop_signal(Some(s.clone()));
                format!("STOPSIGNAL {s}")
            }
            Instruction::Healthcheck(h) => {
                let hc = match h {
                    Healthcheck::None => HealthConfig {
                        test: vec!["NONE".into()],
                        ..HealthConfig::default()
                    },
                    Healthcheck::Cmd(c) => HealthConfig {
                        test: match &c.command {
                            CommandForm::Exec(v) => std::iter::once("CMD".to_string())
                                .chain(v.clone())
                                .collect(),
                            CommandForm::Shell(s) => vec!["CMD-SHELL".into(), s.clone()],
                        },
                        interval: c.interval.unwrap_or(0),
                        timeout: c.timeout.unwrap_or(0),
                        start_period: c.start_period.unwrap_or(0),
                        start_interval: c.start_interval.unwrap_or(0),
                        retries: c.retries.unwrap_or(0),
                    },
                };
                let msg = format!(
                    "HEALTHCHECK &{{{} {:?} {:?} {:?} {:?} {}}}",
                    go_quote_list(&hc.test),
                    go_duration(hc.interval),
                    go_duration(hc.timeout),
                    go_duration(hc.start_period),
                    go_duration(hc.start_interval),
                    go_quote_rune(hc.retries),
                );
                self.healthcheck = Some(hc);
                msg
            }
            Instruction::Onbuild(o) => {
                self.on_build.push(o.expression.clone());
                return Ok(());
            }
            Instruction::Maintainer(m) => {
                self.author = Some(m.clone());
                format!("MAINTAINER {m}")
            }
        };
        let mut h = History::default();
        h.set_created_by(Some(created_by));
        h.set_comment(Some(HISTORY_COMMENT.to_string()));
        if !layer {
            h.set_empty_layer(Some(true));
        }
        self.history.push(h);
        Ok(())
    }
}

fn pairs_message<'a>(keyword: &str, kvs: impl Iterator<Item = (&'a String, &'a String)>) -> String {
    let mut msg = keyword.to_string();
    for (k, v) in kvs {
        msg.push_str(&format!(" {k}={v}"));
    }
    msg
}

fn copy_message(keyword: &str, c: &CopyArgs) -> String {
    let mut msg = keyword.to_string();
    if c.parents {
        msg.push_str(" --parents");
    }
    if let Some(chown) = &c.chown {
        msg.push_str(&format!(" --chown={chown}"));
    }
    if let Some(chmod) = &c.chmod {
        msg.push_str(&format!(" --chmod={chmod}"));
    }
    for s in &c.sources {
        match s {
            Source::Path(p) => msg.push_str(&format!(" {p}")),
            Source::Heredoc(h) => msg.push_str(&format!(" <<{}", h.name)),
        }
    }
    msg.push_str(&format!(" {} # buildkit", c.dest));
    msg
}

/// Docker's `NormalizeWorkdir`: relative paths join the previous WORKDIR (or `/`).
pub fn normalize_workdir(current: Option<&str>, requested: &str) -> String {
    let joined = if requested.starts_with('/') {
        requested.to_string()
    } else {
        format!("/{}/{requested}", current.unwrap_or(""))
    };
    crate::dockerignore::clean(&joined)
}

/// `80`, `80/tcp`, `8000-8010/udp` to `port/proto` keys (Docker's `nat.ParsePortSpecs`).
pub fn parse_port_spec(spec: &str) -> Result<Vec<String>, &'static str> {
    let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err("protocol must be tcp, udp or sctp");
    }
    let port = |s: &str| s.parse::<u16>().map_err(|_| "invalid port number");
    let (start, end) = match ports.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => (port(ports)?, port(ports)?),
    };
    if end < start {
        return Err("invalid range: end below start");
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

const SIGNALS: &[&str] = &[
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
    "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
    "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
];

/// Docker's `signal.ParseSignal` on Linux: a number 1..=64, a name with or without `SIG`,
/// or `RTMIN+n` / `RTMAX-n`.
pub fn valid_signal(s: &str) -> bool {
    if let Ok(n) = s.parse::<u32>() {
        return (1..=64).contains(&n);
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    SIGNALS.contains(&name)
        || ["RTMIN", "RTMAX"].contains(&name)
        || name
            .strip_prefix("RTMIN+")
            .or_else(|| name.strip_prefix("RTMAX-"))
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| (1..=15).contains(&n))
}

/// Go's `fmt.Sprintf("%q", []string{…})`.
fn go_quote_list(v: &[String]) -> String {
    let quoted: Vec<String> = v
        .iter()
        .map(|s| serde_json::to_string(s).unwrap_or_default())
        .collect();
    format!("[{}]", quoted.join(" "))
}

/// Go's `%q` of an int: a quoted rune.
fn go_quote_rune(n: i64) -> String {
    match u32::try_from(n).ok().and_then(char::from_u32) {
        Some('\'') => r"'\''".into(),
        Some('\\') => r"'\\'".into(),
        Some('\n') => r"'\n'".into(),
        Some('\t') => r"'\t'".into(),
        Some('\r') => r"'\r'".into(),
        Some(c) if c.is_ascii_graphic() || c == ' ' => format!("'{c}'"),
        Some(c) if (c as u32) < 0x80 => format!("'\\x{:02x}'", c as u32),
        Some(c) => format!("'{c}'"),
        None => format!("'\\x{n:02x}'"),
    }
}

/// Go's `time.Duration.String()`.
pub fn go_duration(ns: u64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", trim_frac(ns, 1_000));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", trim_frac(ns, 1_000_000));
    }
    let h = ns / 3_600_000_000_000;
    let m = (ns / 60_000_000_000) % 60;
    let s = ns % 60_000_000_000;
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{}s", trim_frac(s, 1_000_000_000)));
    out
}

fn trim_frac(v: u64, unit: u64) -> String {
    let whole = v / unit;
    let frac = v % unit;
    if frac == 0 {
        return whole.to_string();
    }
    let width = unit.to_string().len() - 1;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
