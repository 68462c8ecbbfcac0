//! Switches the container init to its user and capability sets: bounding set first, then
//! groups and ids (keeping permitted capabilities across `setuid`), then effective, permitted,
//! inheritable and ambient sets, in the order the kernel accepts.

use std::collections::HashSet;

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::Process;

use crate::init::InitError;

/// The capabilities of `list` this process can still hand out: a runtime confined to a smaller
/// bounding set (a sandbox, docker-in-docker) grants `privileged` as "everything it holds".
fn to_set(list: &Option<oci_spec::runtime::Capabilities>, held: &CapsHashSet) -> CapsHashSet {
    list.iter()
        .flatten()
        .filter_map(|c| format!("CAP_{c}").parse::<Capability>().ok())
        .filter(|c| held.contains(c))
        .collect()
}

fn err(what: &'static str) -> impl FnOnce(caps::errors::CapsError) -> InitError {
    move |e| InitError::Caps(format!("{what}: {e}"))
}

/// Applies `process.user` and `process.capabilities` to the calling thread.
pub fn apply(process: &Process) -> Result<(), InitError> {
    let c = process.capabilities().clone().unwrap_or_default();
    let held = caps::read(None, CapSet::Bounding).map_err(err("read bounding"))?;
    let bounding = to_set(c.bounding(), &held);
    let supported = caps::runtime::thread_all_supported();
    for cap in supported.iter().filter(|cap| !bounding.contains(cap)) {
        caps::drop(None, CapSet::Bounding, *cap).map_err(err("drop bounding"))?;
    }
    let user = process.user();
    let sys = |op: &'static str| {
        move |e: nix::Error| InitError::Sys {
            op: op.to_string(),
            source: e,
        }
    };
    // SAFETY: prctl with constant arguments affecting only this thread.
    if unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) } != 0 {
        return Err(InitError::Caps("PR_SET_KEEPCAPS".into()));
    }
    let groups: Vec<nix::unistd::Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| nix::unistd::Gid::from_raw(*g))
        .collect();
    nix::unistd::setgroups(&groups).map_err(sys("setgroups"))?;
    let gid = nix::unistd::Gid::from_raw(user.gid());
    nix::unistd::setresgid(gid, gid, gid).map_err(sys("setresgid"))?;
    let uid = nix::unistd::Uid::from_raw(user.uid());
    nix::unistd::setresuid(uid, uid, uid).map_err(sys("setresuid"))?;
    // SAFETY: as above.
    if unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) } != 0 {
        return Err(InitError::Caps("PR_SET_KEEPCAPS".into()));
    }
    let effective = to_set(c.effective(), &held);
    let permitted = to_set(c.permitted(), &held);
    let inheritable = to_set(c.inheritable(), &held);
    let ambient = to_set(c.ambient(), &held);
    let current: HashSet<_> = caps::read(None, CapSet::Permitted).map_err(err("read permitted"))?;
    // Effective must stay within permitted at every step: shrink it first, then the rest.
    let eff_now: CapsHashSet = effective.intersection(&current).copied().collect();
    caps::set(None, CapSet::Effective, &eff_now).map_err(err("set effective"))?;
    caps::set(None, CapSet::Inheritable, &inheritable).map_err(err("set inheritable"))?;
    caps::set(None, CapSet::Permitted, &permitted).map_err(err("set permitted"))?;
    caps::set(None, CapSet::Effective, &effective).map_err(err("set effective"))?;
    caps::clear(None, CapSet::Ambient).map_err(err("clear ambient"))?;
    // The kernel only allows ambient capabilities that are permitted and inheritable; like
    // runc, others asked for are left out rather than failing the container.
    for cap in ambient
        .iter()
        .filter(|c| permitted.contains(c) && inheritable.contains(c))
    {
        caps::raise(None, CapSet::Ambient, *cap).map_err(err("raise ambient"))?;
    }
    Ok(())
}
