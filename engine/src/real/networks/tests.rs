//! Unit tests of the Docker view of networks: IPAM requests, create checks, list filters.

use super::*;

#[test]
fn ipam_config_becomes_a_subnet_request() {
    let ipam: Ipam = serde_json::from_str(
        r#"{"Config":[{"Subnet":"10.203.7.0/24","Gateway":"10.203.7.254","IPRange":"10.203.7.128/25"}]}"#,
    )
    .unwrap();
    let r = subnet_request(Some(&ipam)).unwrap();
    assert_eq!(r.subnet.unwrap().to_string(), "10.203.7.0/24");
    assert_eq!(r.gateway.unwrap().to_string(), "10.203.7.254");
    assert_eq!(r.ip_range.unwrap().to_string(), "10.203.7.128/25");
    assert_eq!(subnet_request(None).unwrap(), SubnetRequest::default());
}

#[test]
fn ipv6_pool_is_taken_from_the_ipv6_entry_only_when_enabled() {
    let ipam: Ipam = serde_json::from_str(
        r#"{"Config":[{"Subnet":"fd00:7::/64","Gateway":"fd00:7::fe"},{"Subnet":"10.203.7.0/24"}]}"#,
    )
    .unwrap();
    assert_eq!(
        subnet_request(Some(&ipam))
            .unwrap()
            .subnet
            .unwrap()
            .to_string(),
        "10.203.7.0/24"
    );
    let v6 = subnet_request6(Some(&ipam), true).unwrap().unwrap();
    assert_eq!(v6.subnet.unwrap().to_string(), "fd00:7::/64");
    assert_eq!(v6.gateway.unwrap().to_string(), "fd00:7::fe");
    let off = subnet_request6(Some(&ipam), false).unwrap_err();
    assert!(off.message.contains("--ipv6"), "{}", off.message);
    assert_eq!(subnet_request6(None, false).unwrap(), None);
    assert_eq!(
        subnet_request6(None, true).unwrap(),
        Some(SubnetRequest6::default())
    );
    let bad: Ipam = serde_json::from_str(r#"{"Config":[{"Subnet":"fd00:7::/129"}]}"#).unwrap();
    assert!(
        subnet_request6(Some(&bad), true)
            .unwrap_err()
            .message
            .contains("fd00:1::/64")
    );
}

#[test]
fn bad_ipam_and_options_are_refused_with_a_hint() {
    let bad: Ipam = serde_json::from_str(r#"{"Config":[{"Subnet":"10.203.7.0/33"}]}"#).unwrap();
    let e = subnet_request(Some(&bad)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert!(e.message.contains("10.203.0.0/24"), "{}", e.message);
    let gw_only: Ipam = serde_json::from_str(r#"{"Config":[{"Gateway":"10.0.0.1"}]}"#).unwrap();
    assert!(subnet_request(Some(&gw_only)).is_err());
    let mut req = NetworkCreateRequest {
        name: "n".into(),
        driver: "overlay".into(),
        ..Default::default()
    };
    assert!(
        validate_create(&req)
            .unwrap_err()
            .message
            .contains("bridge driver")
    );
    req.driver = "bridge".into();
    req.enable_ipv4 = Some(false);
    let neither = validate_create(&req).unwrap_err();
    assert_eq!(neither.kind, ErrorKind::InvalidArgument);
    assert!(
        neither.message.contains("IPv4 or IPv6 must be enabled"),
        "{}",
        neither.message
    );
    req.enable_ipv6 = true;
    validate_create(&req).unwrap();
    req.enable_ipv4 = None;
    req.enable_ipv6 = false;
    req.options
        .insert(berth_network::bridge::MTU_OPT.into(), "9".into());
    assert!(validate_create(&req).is_err());
    req.options
        .insert(berth_network::bridge::MTU_OPT.into(), "1400".into());
    req.options.insert(
        berth_network::bridge::BRIDGE_NAME_OPT.into(),
        "much-too-long-bridge".into(),
    );
    assert!(validate_create(&req).is_err());
}

#[test]
fn list_filters_follow_docker() {
    let net = Network {
        name: "front".into(),
        id: "abcdef".into(),
        driver: "bridge".into(),
        scope: "local".into(),
        labels: [("tier".to_owned(), "web".to_owned())].into(),
        ..Network::default()
    };
    let f = |k: &str, v: &str| Filters::default().with(k, v);
    assert!(matches(&f("name", "fro"), &net));
    assert!(matches(&f("id", "abc"), &net));
    assert!(matches(&f("type", "custom"), &net));
    assert!(!matches(&f("type", "builtin"), &net));
    assert!(matches(&f("label", "tier=web"), &net));
    assert!(!matches(&f("label", "tier=db"), &net));
    assert!(!matches(&f("driver", "macvlan"), &net));
}
