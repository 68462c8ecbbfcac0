//! Images, networks and volumes of the fake engine.

use std::collections::BTreeMap;
use std::time::SystemTime;

use super::util::{digest_of, new_id, normalize_ref, rfc3339, valid_reference};
use super::{FakeBackend, State, Status, unix};
use crate::api::models::{
    ContainerConfig, ContainerCreateBody, EndpointSettings, Filters, ImageDeleteItem, ImageInspect,
    ImageSummary, Ipam, Network, NetworkConnectRequest, NetworkContainer, NetworkCreateRequest,
    NetworkCreateResponse, NetworkDisconnectRequest, ProgressMessage, RootFs, Volume,
    VolumeCreateRequest, VolumeListResponse,
};
use crate::backend::{BackendError, BackendResult, ErrorKind};

#[derive(Debug, Clone)]
pub(super) struct FakeImage {
    pub(super) id: String,
    pub(super) tags: Vec<String>,
    pub(super) created: SystemTime,
    pub(super) cmd: Vec<String>,
}

#[derive(Debug, Clone)]
pub(super) struct FakeNetwork {
    pub(super) id: String,
    pub(super) created: SystemTime,
    pub(super) predefined: bool,
    pub(super) req: NetworkCreateRequest,
}

impl FakeNetwork {
    pub(super) fn predefined(name: &str, driver: &str) -> Self {
        let req = NetworkCreateRequest {
            name: name.to_owned(),
            driver: driver.to_owned(),
            ..NetworkCreateRequest::default()
        };
        Self {
            id: digest_of(&format!("network/{name}")),
            created: SystemTime::now(),
            predefined: true,
            req,
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct FakeVolume {
    created: SystemTime,
    volume: Volume,
}

impl FakeVolume {
    pub(super) fn new(name: &str, data_root: &str, req: VolumeCreateRequest) -> Self {
        let created = SystemTime::now();
        let volume = Volume {
            name: name.to_owned(),
            driver: if req.driver.is_empty() {
                "local".to_owned()
            } else {
                req.driver
            },
            mountpoint: format!("{data_root}/volumes/{name}/_data"),
            created_at: rfc3339(created),
            labels: req.labels,
            scope: "local".to_owned(),
            options: req.driver_opts,
            status: None,
        };
        Self { created, volume }
    }
}

/// Image id for a reference, id or id prefix; Docker's "No such image" otherwise.
pub(super) fn resolve_image(st: &State, name: &str) -> BackendResult<String> {
    let norm = normalize_ref(name);
    if let Some(img) = st.images.values().find(|i| i.tags.contains(&norm)) {
        return Ok(img.id.clone());
    }
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    if hex.len() >= 4 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        let matches: Vec<&String> = st
            .images
            .keys()
            .filter(|id| id.trim_start_matches("sha256:").starts_with(hex))
            .collect();
        if let [one] = matches.as_slice() {
            return Ok((*one).clone());
        }
    }
    Err(BackendError::not_found(format!("No such image: {name}")))
}

fn resolve_network(st: &State, key: &str) -> BackendResult<String> {
    if st.networks.contains_key(key) {
        return Ok(key.to_owned());
    }
    if let Some(n) = st.networks.values().find(|n| n.req.name == key) {
        return Ok(n.id.clone());
    }
    let matches: Vec<&String> = st
        .networks
        .keys()
        .filter(|id| !key.is_empty() && id.starts_with(key))
        .collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        _ => Err(BackendError::not_found(format!("network {key} not found"))),
    }
}

/// The endpoints a new container gets: its network mode plus `EndpointsConfig`.
pub(super) fn endpoints_for(
    st: &State,
    body: &ContainerCreateBody,
) -> BackendResult<BTreeMap<String, EndpointSettings>> {
    let mode = super::network_mode(body);
    // Recent docker CLIs key the endpoint of the default network as "default".
    let mut wanted: BTreeMap<String, EndpointSettings> = body
        .networking_config
        .endpoints_config
        .iter()
        .map(|(k, v)| {
            (
                if k == "default" {
                    "bridge".to_owned()
                } else {
                    k.clone()
                },
                v.clone(),
            )
        })
        .collect();
    if !mode.starts_with("container:") && !wanted.contains_key(&mode) {
        wanted.insert(mode, EndpointSettings::default());
    }
    let mut out = BTreeMap::new();
    for (name, mut settings) in wanted {
        let id = resolve_network(st, &name)?;
        settings.network_id = id.clone();
        settings.endpoint_id = new_id();
        out.insert(st.networks[&id].req.name.clone(), settings);
    }
    Ok(out)
}

impl FakeBackend {
    pub(super) fn list_images_impl(
        &self,
        _all: bool,
        f: &Filters,
    ) -> BackendResult<Vec<ImageSummary>> {
        let st = self.lock();
        let dangling = f.get("dangling").first().map(|v| v == "true" || v == "1");
        let mut out: Vec<ImageSummary> = st
            .images
            .values()
            .filter(|i| dangling.is_none_or(|d| d == i.tags.is_empty()))
            .filter(|i| {
                f.any("reference", |r| {
                    let norm = normalize_ref(r);
                    i.tags
                        .iter()
                        .any(|t| *t == norm || t.split(':').next() == Some(r))
                })
            })
            .map(|i| ImageSummary {
                id: i.id.clone(),
                repo_tags: i.tags.clone(),
                created: unix(i.created),
                size: 1024,
                shared_size: -1,
                containers: st
                    .containers
                    .values()
                    .filter(|c| c.image_id == i.id)
                    .count() as i64,
                ..ImageSummary::default()
            })
            .collect();
        out.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    pub(super) fn pull_image_impl(
        &self,
        image: &str,
        tag: Option<&str>,
    ) -> BackendResult<Vec<ProgressMessage>> {
        let full = match tag.filter(|t| !t.is_empty()) {
            Some(t) if t.starts_with("sha256:") => format!("{image}@{t}"),
            Some(t) => format!("{image}:{t}"),
            None => image.to_owned(),
        };
        if !valid_reference(&full) {
            return Err(BackendError::invalid("invalid reference format"));
        }
        let norm = normalize_ref(&full);
        let id = format!("sha256:{}", digest_of(&norm));
        let mut st = self.lock();
        for other in st.images.values_mut() {
            other.tags.retain(|t| *t != norm);
        }
        let img = st.images.entry(id.clone()).or_insert_with(|| FakeImage {
            id: id.clone(),
            tags: Vec::new(),
            created: SystemTime::now(),
            cmd: vec!["sh".to_owned()],
        });
        img.tags.push(norm.clone());
        let mut attrs = BTreeMap::new();
        attrs.insert("name".to_owned(), norm.clone());
        self.emit(&mut st, "image", "pull", &norm, attrs);
        let (repo, tag) = norm.rsplit_once(':').unwrap_or((norm.as_str(), "latest"));
        let msg = |status: String, id: Option<&str>| ProgressMessage {
            id: id.map(str::to_owned),
            status,
            ..ProgressMessage::default()
        };
        Ok(vec![
            msg(format!("Pulling from {repo}"), Some(tag)),
            msg(format!("Digest: {id}"), None),
            msg(format!("Status: Downloaded newer image for {norm}"), None),
        ])
    }

    pub(super) fn inspect_image_impl(&self, name: &str) -> BackendResult<ImageInspect> {
        let st = self.lock();
        let id = resolve_image(&st, name)?;
        let i = &st.images[&id];
        Ok(ImageInspect {
            id: i.id.clone(),
            repo_tags: i.tags.clone(),
            created: rfc3339(i.created),
            config: ContainerConfig {
                cmd: Some(i.cmd.clone()),
                ..ContainerConfig::default()
            },
            architecture: "amd64".to_owned(),
            os: "linux".to_owned(),
            size: 1024,
            root_fs: RootFs {
                typ: "layers".to_owned(),
                layers: vec![i.id.clone()],
            },
            ..ImageInspect::default()
        })
    }

    pub(super) fn tag_image_impl(
        &self,
        name: &str,
        repo: &str,
        tag: Option<&str>,
    ) -> BackendResult<()> {
        let mut st = self.lock();
        let id = resolve_image(&st, name)?;
        let target = match tag.filter(|t| !t.is_empty()) {
            Some(t) => format!("{repo}:{t}"),
            None => repo.to_owned(),
        };
        if !valid_reference(&target) {
            return Err(BackendError::invalid("invalid reference format"));
        }
        let norm = normalize_ref(&target);
        for img in st.images.values_mut() {
            img.tags.retain(|t| *t != norm);
        }
        st.images
            .get_mut(&id)
            .expect("resolved id exists")
            .tags
            .push(norm.clone());
        let mut attrs = BTreeMap::new();
        attrs.insert("name".to_owned(), norm);
        self.emit(&mut st, "image", "tag", &id, attrs);
        Ok(())
    }

    pub(super) fn remove_image_impl(
        &self,
        name: &str,
        force: bool,
    ) -> BackendResult<Vec<ImageDeleteItem>> {
        let mut st = self.lock();
        let id = resolve_image(&st, name)?;
        let norm = normalize_ref(name);
        let by_tag = st.images[&id].tags.contains(&norm);
        let img = &st.images[&id];
        if !by_tag && img.tags.len() > 1 && !force {
            return Err(BackendError::conflict(format!(
                "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                short(&id)
            )));
        }
        let last_ref = !by_tag || img.tags.len() == 1;
        if last_ref && !force {
            if let Some(c) = st.containers.values().find(|c| c.image_id == id) {
                return Err(BackendError::conflict(format!(
                    "conflict: unable to remove repository reference \"{name}\" (must force) - \
                     container {} is using its referenced image {}",
                    short(&c.id),
                    short(&id)
                )));
            }
        }
        let mut out = Vec::new();
        let img = st.images.get_mut(&id).expect("resolved id exists");
        let untag: Vec<String> = if by_tag && !last_ref {
            vec![norm]
        } else {
            img.tags.clone()
        };
        img.tags.retain(|t| !untag.contains(t));
        out.extend(untag.into_iter().map(|t| ImageDeleteItem {
            untagged: Some(t),
            deleted: None,
        }));
        if img.tags.is_empty() {
            st.images.remove(&id);
            self.emit(&mut st, "image", "delete", &id, BTreeMap::new());
            out.push(ImageDeleteItem {
                untagged: None,
                deleted: Some(id),
            });
        } else {
            self.emit(&mut st, "image", "untag", &id, BTreeMap::new());
        }
        Ok(out)
    }

    fn network_view(&self, st: &State, n: &FakeNetwork) -> Network {
        let containers = st
            .containers
            .values()
            .filter(|c| matches!(c.status, Status::Running | Status::Paused))
            .filter_map(|c| {
                let ep = c.networks.get(&n.req.name)?;
                let ip = ep
                    .ipam_config
                    .as_ref()
                    .map(|i| i.ipv4_address.clone())
                    .unwrap_or_default();
                Some((
                    c.id.clone(),
                    NetworkContainer {
                        name: c.name.clone(),
                        endpoint_id: ep.endpoint_id.clone(),
                        ipv4_address: ip,
                        ..NetworkContainer::default()
                    },
                ))
            })
            .collect();
        let ipam = n.req.ipam.clone().unwrap_or_default();
        Network {
            name: n.req.name.clone(),
            id: n.id.clone(),
            created: rfc3339(n.created),
            scope: "local".to_owned(),
            driver: n.req.driver.clone(),
            enable_ipv4: n.req.enable_ipv4.unwrap_or(true),
            enable_ipv6: n.req.enable_ipv6,
            ipam: Ipam {
                driver: if ipam.driver.is_empty() {
                    "default".to_owned()
                } else {
                    ipam.driver
                },
                ..ipam
            },
            internal: n.req.internal,
            attachable: n.req.attachable,
            ingress: false,
            containers,
            options: n.req.options.clone(),
            labels: n.req.labels.clone(),
        }
    }

    pub(super) fn list_networks_impl(&self, f: &Filters) -> Vec<Network> {
        let st = self.lock();
        st.networks
            .values()
            .filter(|n| f.match_labels(&n.req.labels))
            .filter(|n| f.any("name", |v| n.req.name.contains(v)))
            .filter(|n| f.any("id", |v| n.id.starts_with(v)))
            .filter(|n| f.any("driver", |v| n.req.driver == v))
            .filter(|n| f.any("type", |v| (v == "builtin") == n.predefined))
            .map(|n| self.network_view(&st, n))
            .collect()
    }

    pub(super) fn inspect_network_impl(&self, key: &str) -> BackendResult<Network> {
        let st = self.lock();
        let id = resolve_network(&st, key)?;
        Ok(self.network_view(&st, &st.networks[&id]))
    }

    pub(super) fn create_network_impl(
        &self,
        mut req: NetworkCreateRequest,
    ) -> BackendResult<NetworkCreateResponse> {
        if req.name.is_empty() {
            return Err(BackendError::invalid("network name must not be empty"));
        }
        let mut st = self.lock();
        if st.networks.values().any(|n| n.req.name == req.name) {
            return Err(BackendError::conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        if req.driver.is_empty() {
            req.driver = "bridge".to_owned();
        }
        let id = new_id();
        let mut attrs = BTreeMap::new();
        attrs.insert("name".to_owned(), req.name.clone());
        attrs.insert("type".to_owned(), req.driver.clone());
        st.networks.insert(
            id.clone(),
            FakeNetwork {
                id: id.clone(),
                created: SystemTime::now(),
                predefined: false,
                req,
            },
        );
        self.emit(&mut st, "network", "create", &id, attrs);
        Ok(NetworkCreateResponse {
            id,
            warning: String::new(),
        })
    }

    pub(super) fn remove_network_impl(&self, key: &str) -> BackendResult<()> {
        let mut st = self.lock();
        let id = resolve_network(&st, key)?;
        let n = &st.networks[&id];
        if n.predefined {
            return Err(BackendError::new(
                ErrorKind::Forbidden,
                format!(
                    "{} is a pre-defined network and cannot be removed",
                    n.req.name
                ),
            ));
        }
        if !self.network_view(&st, n).containers.is_empty() {
            return Err(BackendError::new(
                ErrorKind::Forbidden,
                format!(
                    "error while removing network: network {} id {id} has active endpoints",
                    n.req.name
                ),
            ));
        }
        let mut attrs = BTreeMap::new();
        attrs.insert("name".to_owned(), n.req.name.clone());
        st.networks.remove(&id);
        self.emit(&mut st, "network", "destroy", &id, attrs);
        Ok(())
    }

    pub(super) fn connect_network_impl(
        &self,
        key: &str,
        req: NetworkConnectRequest,
    ) -> BackendResult<()> {
        let mut st = self.lock();
        let net_id = resolve_network(&st, key)?;
        let cid = super::resolve_container(&st, &req.container)?;
        let name = st.networks[&net_id].req.name.clone();
        let c = st.containers.get_mut(&cid).expect("resolved id exists");
        if c.networks.contains_key(&name) {
            return Err(BackendError::new(
                ErrorKind::Forbidden,
                format!(
                    "endpoint with name {} already exists in network {name}",
                    c.name
                ),
            ));
        }
        let mut settings = req.endpoint_config.unwrap_or_default();
        settings.network_id = net_id.clone();
        settings.endpoint_id = new_id();
        c.networks.insert(name, settings);
        let mut attrs = BTreeMap::new();
        attrs.insert("container".to_owned(), cid);
        self.emit(&mut st, "network", "connect", &net_id, attrs);
        Ok(())
    }

    pub(super) fn disconnect_network_impl(
        &self,
        key: &str,
        req: NetworkDisconnectRequest,
    ) -> BackendResult<()> {
        let mut st = self.lock();
        let net_id = resolve_network(&st, key)?;
        let cid = super::resolve_container(&st, &req.container)?;
        let name = st.networks[&net_id].req.name.clone();
        let c = st.containers.get_mut(&cid).expect("resolved id exists");
        if c.networks.remove(&name).is_none() {
            return Err(BackendError::new(
                ErrorKind::Forbidden,
                format!("container {cid} is not connected to network {name}"),
            ));
        }
        let mut attrs = BTreeMap::new();
        attrs.insert("container".to_owned(), cid);
        self.emit(&mut st, "network", "disconnect", &net_id, attrs);
        Ok(())
    }

    fn volume_users(st: &State, name: &str) -> Vec<String> {
        st.containers
            .values()
            .filter(|c| {
                super::util::named_volumes(&c.body)
                    .iter()
                    .any(|v| v == name)
            })
            .map(|c| c.id.clone())
            .collect()
    }

    pub(super) fn list_volumes_impl(&self, f: &Filters) -> VolumeListResponse {
        let st = self.lock();
        let dangling = f.get("dangling").first().map(|v| v == "true" || v == "1");
        let mut volumes: Vec<&FakeVolume> = st
            .volumes
            .values()
            .filter(|v| f.match_labels(&v.volume.labels))
            .filter(|v| f.any("name", |n| v.volume.name.contains(n)))
            .filter(|v| f.any("driver", |d| v.volume.driver == d))
            .filter(|v| {
                dangling.is_none_or(|d| d == Self::volume_users(&st, &v.volume.name).is_empty())
            })
            .collect();
        volumes.sort_by_key(|v| v.created);
        VolumeListResponse {
            volumes: volumes.into_iter().map(|v| v.volume.clone()).collect(),
            warnings: Vec::new(),
        }
    }

    pub(super) fn create_volume_impl(&self, req: VolumeCreateRequest) -> BackendResult<Volume> {
        let name = if req.name.is_empty() {
            new_id()
        } else {
            req.name.clone()
        };
        let valid = name.len() >= 2
            && name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !valid {
            return Err(BackendError::invalid(format!(
                "create {name}: \"{name}\" includes invalid characters for a local volume name, \
                 only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed"
            )));
        }
        let mut st = self.lock();
        if let Some(v) = st.volumes.get(&name) {
            return Ok(v.volume.clone());
        }
        let v = FakeVolume::new(&name, &self.data_root, req);
        let out = v.volume.clone();
        st.volumes.insert(name.clone(), v);
        let mut attrs = BTreeMap::new();
        attrs.insert("driver".to_owned(), out.driver.clone());
        self.emit(&mut st, "volume", "create", &name, attrs);
        Ok(out)
    }

    pub(super) fn inspect_volume_impl(&self, name: &str) -> BackendResult<Volume> {
        let st = self.lock();
        st.volumes
            .get(name)
            .map(|v| v.volume.clone())
            .ok_or_else(|| BackendError::not_found(format!("get {name}: no such volume")))
    }

    pub(super) fn remove_volume_impl(&self, name: &str, force: bool) -> BackendResult<()> {
        let mut st = self.lock();
        if !st.volumes.contains_key(name) {
            if force {
                return Ok(());
            }
            return Err(BackendError::not_found(format!(
                "get {name}: no such volume"
            )));
        }
        let users = Self::volume_users(&st, name);
        if !users.is_empty() {
            return Err(BackendError::conflict(format!(
                "remove {name}: volume is in use - [{}]",
                users.join(", ")
            )));
        }
        st.volumes.remove(name);
        self.emit(&mut st, "volume", "destroy", name, BTreeMap::new());
        Ok(())
    }
}

fn short(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}
