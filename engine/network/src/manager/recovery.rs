//! Start-up recovery: after a crash or a reboot the kernel and the state file disagree. This
//! reconciles them without touching anything berth does not own: endpoints whose veth vanished
//! (their container died) are dropped and their addresses released, surviving endpoints' bridge
//! ports are (again) put in hairpin mode, berth-shaped veths that no
//! endpoint owns and `br-<id>` bridges that no network owns are deleted, and berth firewall
//! rule sets of unknown networks are removed.

use std::collections::BTreeSet;

use super::{ManagerError, NetworkManager, apply_links, firewall_rules, refresh_peers};
use crate::bridge;

/// What [`NetworkManager::reconcile`] cleaned up.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reconciled {
    /// (network name, endpoint id) dropped because their veth is gone.
    pub endpoints: Vec<(String, String)>,
    /// Stray veths deleted.
    pub veths: Vec<String>,
    /// Stray bridges deleted (`br-<id>` bridges of no known network: a create cut short
    /// before the network was saved).
    pub bridges: Vec<String>,
    /// Ids of stray firewall rule sets removed.
    pub firewall: Vec<String>,
}

impl NetworkManager {
    /// Reconciles state with the kernel (call once at start-up, before serving requests).
    pub async fn reconcile(&self) -> Result<Reconciled, ManagerError> {
        let mut inner = self.inner.lock().await;
        let netlink = self.config.netlink.clone();
        let links: BTreeSet<String> = tokio::task::spawn_blocking(move || netlink.links())
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))
            .map_err(|source| crate::netlink::NetlinkError::Io {
                what: "netlink task".into(),
                source,
            })??
            .into_iter()
            .collect();
        let mut done = Reconciled::default();
        let mut errors: Vec<ManagerError> = Vec::new();
        let gone: Vec<(String, String)> = inner
            .networks
            .values()
            .flat_map(|s| {
                s.endpoints
                    .values()
                    .filter(|e| !links.contains(&e.host_if))
                    .map(|e| (s.network.id.clone(), e.id.clone()))
            })
            .collect();
        for (net_id, ep_id) in gone {
            let Some(state) = inner.networks.get_mut(&net_id) else {
                continue;
            };
            let Some(ep) = state.endpoints.remove(&ep_id) else {
                continue;
            };
            let name = state.network.name.clone();
            let rules = (!ep.ports.is_empty()).then(|| firewall_rules(state));
            if let Some(rules) = rules {
                if let Err(e) = self.config.firewall.apply(&rules) {
                    errors.push(e.into());
                }
            }
            if let Some(Err(e)) = ep.ip.map(|ip| inner.ipam.release(&net_id, ip)) {
                errors.push(e.into());
            }
            if let Some(Err(e)) = ep.ip6.map(|ip6| inner.ipam6.release(&net_id, ip6)) {
                errors.push(e.into());
            }
            if let Some((_, records)) = inner.dns.get(&net_id) {
                if let Ok(mut r) = records.write() {
                    r.remove(&ep_id);
                }
            }
            refresh_peers(&inner, &ep.netns);
            done.endpoints.push((name, ep_id));
        }
        let owned: BTreeSet<&str> = inner
            .networks
            .values()
            .flat_map(|s| s.endpoints.values().map(|e| e.host_if.as_str()))
            .collect();
        // One netlink batch for all; best effort: a container dying right now takes its veth
        // along (the batch stops there), which is no error.
        let hairpin = bridge::plan_hairpin(owned.iter().copied());
        if let Err(e) = apply_links(&self.config.netlink, hairpin).await {
            tracing::warn!(error = %e, "cannot set hairpin mode on every surviving endpoint");
        }
        for veth in links
            .iter()
            .filter(|l| bridge::is_berth_veth(l) && !owned.contains(l.as_str()))
        {
            match apply_links(&self.config.netlink, bridge::plan_remove_endpoint(veth)).await {
                Ok(()) => done.veths.push(veth.clone()),
                Err(e) => errors.push(e.into()),
            }
        }
        let bridges: BTreeSet<&str> = inner
            .networks
            .values()
            .map(|s| s.network.bridge.as_str())
            .collect();
        for bridge in links
            .iter()
            .filter(|l| bridge::is_berth_bridge(l) && !bridges.contains(l.as_str()))
        {
            match apply_links(&self.config.netlink, bridge::plan_remove_bridge(bridge)).await {
                Ok(()) => done.bridges.push(bridge.clone()),
                Err(e) => errors.push(e.into()),
            }
        }
        let known: BTreeSet<&str> = inner.networks.keys().map(|id| &id[..12]).collect();
        match self.config.firewall.owned_ids() {
            Ok(ids) => {
                for id in ids.into_iter().filter(|id| !known.contains(id.as_str())) {
                    match self.config.firewall.remove(&id) {
                        Ok(()) => done.firewall.push(id),
                        Err(e) => errors.push(e.into()),
                    }
                }
            }
            Err(e) => errors.push(e.into()),
        }
        self.save(&inner)?;
        if errors.is_empty() {
            Ok(done)
        } else {
            Err(ManagerError::Teardown(errors))
        }
    }

    /// Re-creates the bridge, forwarding settings and firewall rules of every persisted network
    /// whose bridge the kernel lost (a reboot, a new network namespace). Call after
    /// [`NetworkManager::reconcile`] and before [`NetworkManager::restore_dns`] (the DNS servers
    /// listen on the bridges' gateways). Returns the names of the networks rebuilt.
    pub async fn restore_networks(&self) -> Result<Vec<String>, ManagerError> {
        let inner = self.inner.lock().await;
        let mut rebuilt = Vec::new();
        for state in inner.networks.values() {
            let net = &state.network;
            let netlink = self.config.netlink.clone();
            let name = net.bridge.clone();
            let exists = tokio::task::spawn_blocking(move || netlink.link_exists(&name))
                .await
                .map_err(|e| crate::netlink::NetlinkError::Io {
                    what: "netlink task".into(),
                    source: std::io::Error::other(e.to_string()),
                })??;
            if exists {
                continue;
            }
            self.build_links_and_rules(state).await?;
            rebuilt.push(net.name.clone());
        }
        Ok(rebuilt)
    }
}
