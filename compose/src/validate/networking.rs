//! Service networking entries berth cannot honour as written that only the whole project
//! shows: an `ipv4_address` on an IPv6-only network. (Keys a single service's file already
//! shows unsupported are refused during conversion, in `model::support`.)

use crate::error::{Error, ErrorKind};
use crate::model::{Project, Service};

/// Checks the networking entries of `svc`.
pub(super) fn check(project: &Project, svc: &Service, errors: &mut Vec<Error>) {
    check_ipv4_on_ipv6_only(project, svc, errors);
}

/// An `ipv4_address` on an IPv6-only network (`enable_ipv4: false`) cannot be honoured.
fn check_ipv4_on_ipv6_only(project: &Project, svc: &Service, errors: &mut Vec<Error>) {
    for (key, sn) in &svc.networks {
        let Some(ip) = sn.as_ref().and_then(|sn| sn.ipv4_address.as_ref()) else {
            continue;
        };
        let ipv6_only = project
            .networks
            .get(key)
            .is_some_and(|n| n.enable_ipv4 == Some(false));
        if let (true, Some(loc)) = (ipv6_only, svc.loc_of("networks")) {
            errors.push(Error::at_hint(
                ErrorKind::InvalidValue,
                loc,
                format!(
                    "service `{}` asks for IPv4 address `{ip}` on network `{key}`, which is IPv6-only",
                    svc.name
                ),
                "give `ipv6_address` instead, or remove `enable_ipv4: false` from the network",
            ));
        }
    }
}
