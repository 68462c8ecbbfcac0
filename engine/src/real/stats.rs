//! Looking at and freezing a running container through its cgroup: `pause`/`unpause` (freezer
//! on v1, `cgroup.freeze` on v2), `top` (the cgroup's processes as `ps -ef` columns read from
//! procfs) and resource usage for `stats`.

use std::path::Path;

use berth_runtime::cgroups::Cgroups as _;

use super::RealBackend;
use crate::api::models::ContainerTopResponse;
use crate::backend::{BackendError, BackendResult, ErrorKind};

fn runtime_err(e: berth_runtime::RuntimeError) -> BackendError {
    BackendError::new(ErrorKind::Internal, e.to_string())
}

/// One `ps -ef` row of `pid` from `<proc_root>/<pid>/stat` and `cmdline`, or `None` once the
/// process is gone. `ticks` is the clock tick rate, `boot` the boot time in unix seconds.
pub(super) fn ps_row(proc_root: &Path, pid: i32, ticks: u64, boot: u64) -> Option<Vec<String>> {
    let dir = proc_root.join(pid.to_string());
    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
    let status = std::fs::read_to_string(dir.join("status")).ok()?;
    let cmdline = std::fs::read(dir.join("cmdline")).ok()?;
    let (comm, fields) = parse_stat(&stat)?;
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    // Fields after the command: state is index 0, so ppid is 1, utime 11, stime 12, start 19.
    let ppid = field(1)?;
    let cpu_ticks = field(11)? + field(12)?;
    let start = boot + field(19)? / ticks.max(1);
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or("?")
        .to_owned();
    let secs = cpu_ticks / ticks.max(1);
    let time = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    let mut cmd = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    if cmd.is_empty() {
        cmd = format!("[{comm}]");
    }
    let stime = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(start),
    )
    .to_string();
    let stime = stime.get(11..16).unwrap_or(&stime).to_owned();
    Some(vec![
        uid,
        pid.to_string(),
        ppid.to_string(),
        "0".to_owned(),
        stime,
        "?".to_owned(),
        time,
        cmd,
    ])
}

/// Splits `/proc/<pid>/stat` into the command name and the fields after it.
fn parse_stat(stat: &str) -> Option<(&str, Vec<&str>)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?;
    let rest = stat.get(close + 1..)?.split_whitespace().collect();
    Some((comm, rest))
}

fn boot_time(proc_root: &Path) -> u64 {
    std::fs::read_to_string(proc_root.join("stat"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("btime ").and_then(|v| v.trim().parse().ok()))
        })
        .unwrap_or(0)
}

impl RealBackend {
    fn running_record(&self, id: &str) -> BackendResult<super::Record> {
        let full = self.resolve(id)?;
        let rec = self
            .lock()
            .get(&full)
            .map(|e| e.record.clone())
            .ok_or_else(|| BackendError::not_found(format!("No such container: {id}")))?;
        if !rec.running {
            return Err(BackendError::conflict(format!(
                "Container {full} is not running"
            )));
        }
        Ok(rec)
    }

    /// Freezes (`true`) or thaws every process of a running container.
    pub(super) fn set_paused(&self, id: &str, paused: bool) -> BackendResult<()> {
        let rec = self.running_record(id)?;
        if rec.paused == paused {
            let what = if paused {
                "already paused"
            } else {
                "not paused"
            };
            return Err(BackendError::conflict(format!(
                "Container {} is {what}",
                rec.id
            )));
        }
        self.inner
            .runtime
            .set_paused(&rec.id, paused)
            .map_err(runtime_err)?;
        self.update(&rec.id, |r| r.paused = paused).map(|_| ())
    }

    /// The processes of a running container, as `ps -ef` shows them.
    pub(super) fn top(&self, id: &str) -> BackendResult<ContainerTopResponse> {
        let rec = self.running_record(id)?;
        let cgroup = self
            .inner
            .runtime
            .container_cgroup(&rec.id)
            .map_err(runtime_err)?;
        let mut pids = cgroup
            .pids()
            .map_err(|e| BackendError::new(ErrorKind::Internal, e.to_string()))?;
        pids.sort_unstable();
        pids.dedup();
        let proc_root = &self.inner.paths.proc_root;
        // SAFETY: sysconf only reads a configuration value.
        let ticks = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).unwrap_or(100);
        let boot = boot_time(proc_root);
        let processes = pids
            .into_iter()
            .filter_map(|pid| ps_row(proc_root, pid, ticks, boot))
            .collect();
        Ok(ContainerTopResponse {
            titles: ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
                .map(str::to_owned)
                .to_vec(),
            processes,
        })
    }

    /// Resource usage of a running container from its cgroup.
    pub fn container_usage(&self, id: &str) -> BackendResult<berth_runtime::cgroups::Stats> {
        let rec = self.running_record(id)?;
        self.inner.runtime.stats(&rec.id).map_err(runtime_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_spaces_and_parens_in_the_name() {
        let (comm, f) = parse_stat("42 (my (odd) cmd) S 1 42 42 0 -1").unwrap();
        assert_eq!(comm, "my (odd) cmd");
        assert_eq!(f[..2], ["S", "1"]);
    }

    #[test]
    fn ps_row_reads_a_fake_proc() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("7");
        std::fs::create_dir(&p).unwrap();
        let mut stat = "7 (sleep) S 1".to_string();
        // Fields 5..22 of stat: utime (14) = 250, stime (15) = 50, starttime (22) = 1000.
        for i in 5..=22 {
            stat.push_str(match i {
                14 => " 250",
                15 => " 50",
                22 => " 1000",
                _ => " 0",
            });
        }
        std::fs::write(p.join("stat"), stat).unwrap();
        std::fs::write(p.join("status"), "Name:\tsleep\nUid:\t0\t0\t0\t0\n").unwrap();
        std::fs::write(p.join("cmdline"), b"sleep\x00300\x00").unwrap();
        let row = ps_row(d.path(), 7, 100, 0).unwrap();
        assert_eq!(row[..3], ["0", "7", "1"]);
        assert_eq!(row[6], "00:00:03");
        assert_eq!(row[7], "sleep 300");
        assert!(ps_row(d.path(), 8, 100, 0).is_none());
    }
}
