//! Connecting and disconnecting endpoints: the longest part of the network manager (port
//! checks, address allocation, the veth pair, firewall and DNS updates, and their undo when a
//! step fails), kept apart from network creation and removal.

use super::*;

impl NetworkManager {
    /// Connects a container's namespace to a network: checks published ports, allocates the
    /// address, creates the veth pair, updates the firewall and DNS records.
    pub async fn connect(
        &self,
        network: &str,
        spec: EndpointSpec,
    ) -> Result<Endpoint, ManagerError> {
        let mut inner = self.inner.lock().await;
        let state = find(&inner.networks, network)?.clone();
        let net = state.network.clone();
        if state.endpoints.contains_key(&spec.id) {
            return Err(ManagerError::AlreadyExists(format!(
                "endpoint {} on network {}",
                spec.id, net.name
            )));
        }
        let published = inner
            .networks
            .values()
            .flat_map(|s| s.endpoints.values())
            .flat_map(|e| e.ports.iter());
        if let Some(p) = port_conflict(published, &spec.ports) {
            let host_ip = p.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
            return Err(ManagerError::PortAllocated {
                host_ip,
                port: p.host_port,
            });
        }
        if spec.ip6.is_some() && net.subnet6.is_none() {
            return Err(IpamError::Invalid(format!(
                "network {} has no IPv6 subnet (create it with IPv6 enabled) for address {}",
                net.name,
                spec.ip6.unwrap_or(Ipv6Addr::UNSPECIFIED)
            ))
            .into());
        }
        if let (Some(ip), None) = (spec.ip, net.subnet) {
            return Err(IpamError::Invalid(format!(
                "network {} is IPv6-only: no IPv4 address {ip} (give an IPv6 address)",
                net.name
            ))
            .into());
        }
        let ip = match net.subnet {
            Some(_) => Some(inner.ipam.allocate(&net.id, spec.ip)?),
            None => None,
        };
        let ip6 = match net.subnet6 {
            Some(_) => match inner.ipam6.allocate(&net.id, spec.ip6) {
                Ok(ip6) => Some(ip6),
                Err(e) => {
                    if let Some(Err(undo)) = ip.map(|ip| inner.ipam.release(&net.id, ip)) {
                        tracing::warn!(error = %undo, endpoint = %spec.id, "rollback after failed connect");
                    }
                    return Err(e.into());
                }
            },
            None => None,
        };
        let (host_if, peer_if) = bridge::veth_names(&net.id, &spec.id);
        let same_ns: Vec<&Endpoint> = inner
            .networks
            .values()
            .flat_map(|s| s.endpoints.values())
            .filter(|e| e.netns == spec.netns)
            .collect();
        let ifname = spec.ifname.clone().unwrap_or_else(|| {
            (0..)
                .map(|i| format!("eth{i}"))
                .find(|n| !same_ns.iter().any(|e| &e.ifname == n))
                .unwrap_or_default()
        });
        let default_route = !net.internal && !same_ns.iter().any(|e| e.default_route);
        let plan = EndpointPlan {
            bridge: net.bridge.clone(),
            host_if: host_if.clone(),
            peer_if,
            netns: spec.netns.clone(),
            ifname: ifname.clone(),
            address: match (ip, net.subnet) {
                (Some(ip), Some(subnet)) => Some(
                    Ipv4Net::new(ip, subnet.prefix_len())
                        .map_err(|e| IpamError::Invalid(e.to_string()))?,
                ),
                _ => None,
            },
            gateway: net.gateway.filter(|_| default_route),
            address6: match (ip6, net.subnet6) {
                (Some(ip6), Some(subnet6)) => Some(
                    Ipv6Net::new(ip6, subnet6.prefix_len())
                        .map_err(|e| IpamError::Invalid(e.to_string()))?,
                ),
                _ => None,
            },
            gateway6: net.gateway6.filter(|_| default_route),
            mac: spec.mac.unwrap_or_else(|| match ip {
                Some(ip) => bridge::mac_from_ip(ip),
                None => bridge::mac_from_ids(&net.id, &spec.id),
            }),
            mtu: net.mtu,
        };
        let endpoint = Endpoint {
            id: spec.id.clone(),
            network_id: net.id.clone(),
            ip,
            ip6,
            mac: plan.mac,
            host_if: host_if.clone(),
            ifname,
            netns: spec.netns.clone(),
            default_route,
            names: spec.names.clone(),
            ports: spec.ports.clone(),
            dns_upstreams: spec.dns_upstreams.clone(),
        };
        let mut updated = state.clone();
        updated.endpoints.insert(spec.id.clone(), endpoint.clone());
        let built = async {
            apply_links(&self.config.netlink, bridge::plan_endpoint(&plan)).await?;
            // Only published ports change the network's rules.
            if !endpoint.ports.is_empty() {
                self.config.firewall.apply(&firewall_rules(&updated))?;
            }
            if net.internal {
                return Ok(Vec::new());
            }
            start_proxies(&endpoint).await
        }
        .await;
        let proxies = match built {
            Ok(proxies) => proxies,
            Err(e) => {
                let undo = [
                    apply_links(&self.config.netlink, bridge::plan_remove_endpoint(&host_if))
                        .await
                        .map_err(ManagerError::from),
                    self.config
                        .firewall
                        .apply(&firewall_rules(&state))
                        .map_err(ManagerError::from),
                    match ip {
                        Some(ip) => inner.ipam.release(&net.id, ip).map_err(ManagerError::from),
                        None => Ok(()),
                    },
                    match ip6 {
                        Some(ip6) => inner
                            .ipam6
                            .release(&net.id, ip6)
                            .map_err(ManagerError::from),
                        None => Ok(()),
                    },
                ];
                for failed in undo.into_iter().filter_map(Result::err) {
                    tracing::warn!(error = %failed, endpoint = %spec.id, "rollback after failed connect");
                }
                return Err(e);
            }
        };
        inner
            .proxies
            .insert((net.id.clone(), endpoint.id.clone()), proxies);
        if let Some((_, records)) = inner.dns.get(&net.id) {
            if let Ok(mut r) = records.write() {
                super::publish_records(&mut r, &endpoint, net.internal);
            }
        }
        inner.networks.insert(net.id.clone(), updated);
        refresh_peers(&inner, &endpoint.netns);
        self.save(&inner)?;
        Ok(endpoint)
    }

    /// Disconnects an endpoint: veth, address, published ports and DNS records go away.
    pub async fn disconnect(&self, network: &str, endpoint: &str) -> Result<(), ManagerError> {
        let mut inner = self.inner.lock().await;
        let mut state = find(&inner.networks, network)?.clone();
        let ep = state
            .endpoints
            .remove(endpoint)
            .ok_or_else(|| ManagerError::NotFound(format!("endpoint {endpoint}")))?;
        let mut errors: Vec<ManagerError> = Vec::new();
        inner
            .proxies
            .remove(&(state.network.id.clone(), endpoint.to_string()));
        if let Some((_, records)) = inner.dns.get(&state.network.id) {
            if let Ok(mut r) = records.write() {
                r.remove(endpoint);
            }
        }
        if !ep.ports.is_empty() {
            if let Err(e) = self.config.firewall.apply(&firewall_rules(&state)) {
                errors.push(e.into());
            }
        }
        if let Err(e) = apply_links(
            &self.config.netlink,
            bridge::plan_remove_endpoint(&ep.host_if),
        )
        .await
        {
            errors.push(e.into());
        }
        if let Some(Err(e)) = ep.ip.map(|ip| inner.ipam.release(&state.network.id, ip)) {
            errors.push(e.into());
        }
        if let Some(ip6) = ep.ip6 {
            if let Err(e) = inner.ipam6.release(&state.network.id, ip6) {
                errors.push(e.into());
            }
        }
        inner.networks.insert(state.network.id.clone(), state);
        refresh_peers(&inner, &ep.netns);
        self.save(&inner)?;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ManagerError::Teardown(errors))
        }
    }
}
