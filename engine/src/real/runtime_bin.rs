//! The runtime binary the engine spawns for container shims and execs. It is sealed into a
//! memfd ONCE per engine (the small `berth-shim` next to `berth` when there is one, else `berth`
//! itself), so a container start costs no copy of the binary while no container can ever reach
//! the host binary through `/proc/<pid>/exe` (CVE-2019-5736).

use berth_runtime::sealed::RuntimeBinary;

use super::RealBackend;

impl RealBackend {
    /// The sealed runtime binary, sealed on first use.
    pub(super) fn runtime_binary(&self) -> &RuntimeBinary {
        self.inner.runtime_bin.get_or_init(|| {
            let bin = RuntimeBinary::seal(&self.inner.paths.exe, &self.inner.paths.proc_root);
            tracing::debug!(source = %bin.source.display(), sealed = bin.is_sealed(), "runtime binary");
            bin
        })
    }

    /// `<runtime binary> --root <runtime state> --cgroup-root <cgroups>`: add a verb.
    pub(super) fn runtime_command(&self) -> tokio::process::Command {
        let mut cmd = self.runtime_binary().command();
        cmd.arg("--root")
            .arg(self.inner.paths.runtime_root())
            .arg("--cgroup-root")
            .arg(&self.inner.paths.cgroup_root);
        tokio::process::Command::from(cmd)
    }
}
