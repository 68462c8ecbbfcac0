//! The name-resolution and network part of a compose container's create body: DNS servers,
//! search domains and options, extra hosts, links, exposed ports, the domain name and each
//! network endpoint's aliases, static addresses and MAC address. Kept apart from the rest of
//! the body so each concern of the mapping stays readable.

use berth_compose::engine_api::{ContainerSpec, NetworkAttachment};
use berth_engine::api::models::{
    ContainerCreateBody, EmptyObject, EndpointIpamConfig, EndpointSettings,
};

/// Fills the name-resolution fields of `body` from `spec` (the endpoints are set by the
/// caller through [`endpoint_settings`]).
pub(super) fn apply(spec: &ContainerSpec, body: &mut ContainerCreateBody) {
    let host = &mut body.host_config;
    host.dns = spec.dns.clone();
    host.dns_search = spec.dns_search.clone();
    host.dns_options = spec.dns_opt.clone();
    host.extra_hosts = spec.extra_hosts.clone();
    host.links = spec.links.clone();
    let config = &mut body.config;
    for port in &spec.expose {
        config.exposed_ports.insert(port.clone(), EmptyObject {});
    }
    config.domainname = spec.domainname.clone().unwrap_or_default();
}

/// The endpoint settings of one network attachment: its aliases, static addresses and MAC.
pub(super) fn endpoint_settings(n: &NetworkAttachment) -> EndpointSettings {
    let ipam_config =
        (n.ipv4_address.is_some() || n.ipv6_address.is_some()).then(|| EndpointIpamConfig {
            ipv4_address: n.ipv4_address.clone().unwrap_or_default(),
            ipv6_address: n.ipv6_address.clone().unwrap_or_default(),
        });
    EndpointSettings {
        aliases: n.aliases.clone(),
        ipam_config,
        mac_address: n.mac_address.clone().unwrap_or_default(),
        ..EndpointSettings::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_resolution_fields_reach_the_body() {
        let spec = ContainerSpec {
            dns: vec!["10.0.0.53".into()],
            dns_search: vec!["corp.example".into()],
            dns_opt: vec!["ndots:2".into()],
            extra_hosts: vec!["db:10.0.0.9".into(), "gw:host-gateway".into()],
            links: vec!["p-db-1:database".into()],
            expose: vec!["3000/tcp".into(), "53/udp".into()],
            domainname: Some("example.test".into()),
            ..ContainerSpec::default()
        };
        let mut body = ContainerCreateBody::default();
        apply(&spec, &mut body);
        let h = &body.host_config;
        assert_eq!(h.dns, ["10.0.0.53"]);
        assert_eq!(h.dns_search, ["corp.example"]);
        assert_eq!(h.dns_options, ["ndots:2"]);
        assert_eq!(h.extra_hosts, ["db:10.0.0.9", "gw:host-gateway"]);
        assert_eq!(h.links, ["p-db-1:database"]);
        let exposed: Vec<&String> = body.config.exposed_ports.keys().collect();
        assert_eq!(exposed, ["3000/tcp", "53/udp"]);
        assert_eq!(body.config.domainname, "example.test");
    }

    #[test]
    fn endpoints_carry_static_addresses_and_mac_only_when_given() {
        let n = NetworkAttachment {
            network: "p_front".into(),
            aliases: vec!["web".into()],
            ipv4_address: Some("172.28.0.5".into()),
            mac_address: Some("02:42:ac:1c:00:05".into()),
            ..NetworkAttachment::default()
        };
        let es = endpoint_settings(&n);
        let ipam = es.ipam_config.as_ref().expect("static address");
        assert_eq!(
            (ipam.ipv4_address.as_str(), ipam.ipv6_address.as_str()),
            ("172.28.0.5", "")
        );
        assert_eq!(es.mac_address, "02:42:ac:1c:00:05");
        let plain = endpoint_settings(&NetworkAttachment::default());
        assert!(plain.ipam_config.is_none() && plain.mac_address.is_empty());
    }
}
