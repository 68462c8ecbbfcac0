//! Resolves a Docker `user` string (`name`, `uid`, `name:group`, `uid:gid`) to numeric ids and
//! supplementary groups using the container's own `/etc/passwd` and `/etc/group`, never the host's.

use std::path::Path;

/// Errors of user resolution.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The user name is not in the container's `/etc/passwd`.
    #[error("unable to find user {0}: no matching entries in passwd file")]
    UnknownUser(String),
    /// The group name is not in the container's `/etc/group`.
    #[error("unable to find group {0}: no matching entries in group file")]
    UnknownGroup(String),
}

/// Numeric identity of the container process.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolvedUser {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups (from `/etc/group` membership).
    pub additional_gids: Vec<u32>,
    /// Home directory, when the user is in `/etc/passwd`.
    pub home: Option<String>,
}

struct Passwd<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

fn passwd_entries(passwd: &str) -> impl Iterator<Item = Passwd<'_>> {
    passwd.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 6).then_some(())?;
        Some(Passwd {
            name: f[0],
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: f[5],
        })
    })
}

fn group_entries(group: &str) -> impl Iterator<Item = (&str, u32, Vec<&str>)> {
    group.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 4).then_some(())?;
        let members = f[3].split(',').filter(|m| !m.is_empty()).collect();
        Some((f[0], f[2].parse().ok()?, members))
    })
}

/// Resolves `spec` ("" means root) against the given file contents.
pub fn resolve(spec: &str, passwd: &str, group: &str) -> Result<ResolvedUser, UserError> {
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user = if user.is_empty() { "0" } else { user };
    let entry = passwd_entries(passwd)
        .find(|p| p.name == user || user.parse::<u32>().is_ok_and(|uid| uid == p.uid));
    let (uid, mut gid, name, home) = match (&entry, user.parse::<u32>()) {
        (Some(p), _) => (p.uid, p.gid, Some(p.name), Some(p.home.to_string())),
        (None, Ok(uid)) => (uid, 0, None, None),
        (None, Err(_)) => return Err(UserError::UnknownUser(user.to_string())),
    };
    if let Some(g) = grp.filter(|g| !g.is_empty()) {
        gid = match group_entries(group).find(|(n, _, _)| *n == g) {
            Some((_, id, _)) => id,
            None => g
                .parse()
                .map_err(|_| UserError::UnknownGroup(g.to_string()))?,
        };
    }
    let mut additional_gids: Vec<u32> = match (name, grp) {
        (Some(n), None) => group_entries(group)
            .filter(|(_, _, members)| members.contains(&n))
            .map(|(_, id, _)| id)
            .collect(),
        _ => Vec::new(),
    };
    additional_gids.retain(|g| *g != gid);
    additional_gids.dedup();
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
        home,
    })
}

/// Resolves `--group-add` entries (group names or numeric ids) against `group`.
pub fn resolve_groups(names: &[String], group: &str) -> Result<Vec<u32>, UserError> {
    names
        .iter()
        .map(|g| match group_entries(group).find(|(n, _, _)| n == g) {
            Some((_, id, _)) => Ok(id),
            None => g.parse().map_err(|_| UserError::UnknownGroup(g.clone())),
        })
        .collect()
}

/// Reads `etc/passwd` and `etc/group` under `rootfs` (missing files count as empty) and resolves.
pub fn resolve_in_rootfs(spec: &str, rootfs: &Path) -> Result<ResolvedUser, UserError> {
    let read = |p: &str| std::fs::read_to_string(rootfs.join(p)).unwrap_or_default();
    resolve(spec, &read("etc/passwd"), &read("etc/group"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www:/var/www:/sbin/nologin\nalice:x:1000:1000::/home/alice:/bin/sh\n";
    const GROUP: &str =
        "root:x:0:\nwww-data:x:33:\nalice:x:1000:\naudio:x:29:alice\nvideo:x:44:alice,bob\n";

    #[test]
    fn empty_is_root() {
        let u = resolve("", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid), (0, 0));
        assert_eq!(u.home.as_deref(), Some("/root"));
    }

    #[test]
    fn name_gets_primary_and_member_groups() {
        let u = resolve("alice", PASSWD, GROUP).unwrap();
        assert_eq!(
            (u.uid, u.gid, u.additional_gids),
            (1000, 1000, vec![29, 44])
        );
    }

    #[test]
    fn explicit_group_by_name_and_number() {
        assert_eq!(resolve("www-data:audio", PASSWD, GROUP).unwrap().gid, 29);
        let u = resolve("1234:5678", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid, u.additional_gids), (1234, 5678, vec![]));
    }

    #[test]
    fn unknown_names_are_errors() {
        assert!(matches!(
            resolve("bob", PASSWD, GROUP),
            Err(UserError::UnknownUser(_))
        ));
        assert!(matches!(
            resolve("alice:nope", PASSWD, GROUP),
            Err(UserError::UnknownGroup(_))
        ));
    }

    #[test]
    fn group_add_takes_names_and_numbers() {
        let extra = ["audio".to_string(), "4242".to_string()];
        assert_eq!(resolve_groups(&extra, GROUP).unwrap(), [29, 4242]);
        assert!(resolve_groups(&["nope".into()], GROUP).is_err());
    }

    #[test]
    fn numeric_uid_in_passwd_takes_its_gid() {
        assert_eq!(resolve("33", PASSWD, GROUP).unwrap().gid, 33);
    }
}
