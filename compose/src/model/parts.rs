//! Converts the structured service attributes (build, deploy, healthcheck, mounts, …).
//!
//! Split from `convert.rs` to keep each file readable; same conventions: long forms, absolute
//! paths, every error collected with its position.

use std::collections::BTreeMap;

use crate::path::Seg;
use crate::yaml::{Node, Value};

use super::conv::{Conv, extensions, text};
use super::service::Port;
use super::service::{
    BindOptions, BlkioConfig, Build, CredentialSpec, Deploy, Develop, DeviceRequest,
    DiscreteResource, GenericResource, Healthcheck, Hook, ImageOptions, Logging, Mount, Placement,
    Provider, RefKind, Reference, Resource, Resources, RestartPolicy, ThrottleDevice, TmpfsOptions,
    Ulimit, UpdateConfig, VolumeOptions, WatchRule, WeightDevice,
};
use super::syntax;

/// Whether a build context is a remote URL (kept as written) rather than a path.
fn is_remote_context(c: &str) -> bool {
    [
        "http://",
        "https://",
        "git://",
        "git@",
        "github.com/",
        "ssh://",
    ]
    .iter()
    .any(|p| c.starts_with(p))
        || c.contains("://")
}

impl Conv<'_> {
    pub(crate) fn build(
        &mut self,
        n: &Node,
        path: &Seg<'_>,
        refs: &mut Vec<Reference>,
    ) -> Option<Build> {
        let mut b = Build::default();
        let mut context = ".".to_string();
        if n.as_map().is_none() {
            context = self.str(n, path)?;
        }
        let entries = n.as_map().unwrap_or_default();
        for e in entries {
            let (v, p) = (&e.value, path.key(&e.key));
            match e.key.as_str() {
                "context" => context = self.str(v, &p).unwrap_or(context),
                "dockerfile" => b.dockerfile = self.str(v, &p),
                "dockerfile_inline" => b.dockerfile_inline = self.str(v, &p),
                "entitlements" => b.entitlements = self.strings(v, &p),
                "args" => b.args = self.env_map(v, &p, true),
                "ssh" => {
                    b.ssh = match v.as_map() {
                        Some(_) => self
                            .mapping(v, &p)
                            .into_iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect(),
                        None => self.strings(v, &p),
                    }
                }
                "labels" => b.labels = self.mapping(v, &p),
                "cache_from" => b.cache_from = self.strings(v, &p),
                "cache_to" => b.cache_to = self.strings(v, &p),
                "no_cache" => b.no_cache = self.bool(v, &p).unwrap_or_default(),
                "additional_contexts" => {
                    let contexts = self.mapping(v, &p);
                    b.additional_contexts = contexts
                        .into_iter()
                        .map(|(k, c)| {
                            // images, stages and URLs are kept; local directories are paths
                            let keep = c.contains(':') && !c.starts_with(['.', '/', '~']);
                            let c = if keep { c } else { self.path(&c) };
                            (k, c)
                        })
                        .collect();
                }
                "pull" => b.pull = self.bool(v, &p).unwrap_or_default(),
                "extra_hosts" => b.extra_hosts = self.extra_hosts(v, &p),
                "isolation" => b.isolation = self.str(v, &p),
                "network" => b.network = self.str(v, &p),
                "target" => b.target = self.str(v, &p),
                "secrets" => b.secrets = self.file_refs(v, &p, RefKind::Secret, refs),
                "tags" => b.tags = self.strings(v, &p),
                "ulimits" => b.ulimits = self.ulimits(v, &p),
                "platforms" => b.platforms = self.strings(v, &p),
                "privileged" => b.privileged = self.bool(v, &p).unwrap_or_default(),
                "shm_size" => b.shm_size = self.size(v, &p),
                "provenance" => b.provenance = self.str(v, &p),
                "sbom" => b.sbom = self.str(v, &p),
                _ => {}
            }
        }
        b.extensions = extensions(entries);
        b.context = if is_remote_context(&context) {
            context
        } else {
            self.path(&context)
        };
        if b.dockerfile.is_none() && b.dockerfile_inline.is_none() {
            b.dockerfile = Some("Dockerfile".into());
        }
        Some(b)
    }

    pub(crate) fn deploy(&mut self, n: &Node, path: &Seg<'_>) -> Option<Deploy> {
        let mut d = Deploy::default();
        for e in self.entries(n, path) {
            let (v, p) = (&e.value, path.key(&e.key));
            match e.key.as_str() {
                "mode" => {
                    d.mode = self.str(v, &p);
                    if let Some(m) = &d.mode
                        && !matches!(
                            m.as_str(),
                            "replicated" | "global" | "replicated-job" | "global-job"
                        )
                    {
                        self.invalid(&v.loc, format!("`{p}`: invalid mode `{m}`: expected `replicated`, `global`, `replicated-job` or `global-job`"));
                    }
                }
                "endpoint_mode" => d.endpoint_mode = self.str(v, &p),
                "replicas" => d.replicas = self.uint(v, &p),
                "labels" => d.labels = self.mapping(v, &p),
                "update_config" => d.update_config = Some(self.update_config(v, &p)),
                "rollback_config" => d.rollback_config = Some(self.update_config(v, &p)),
                "resources" => {
                    let mut r = Resources::default();
                    for f in self.entries(v, &p) {
                        let fp = p.key(&f.key);
                        match f.key.as_str() {
                            "limits" => r.limits = Some(self.resource(&f.value, &fp)),
                            "reservations" => r.reservations = Some(self.resource(&f.value, &fp)),
                            _ => {}
                        }
                    }
                    d.resources = Some(r);
                }
                "restart_policy" => {
                    let mut r = RestartPolicy::default();
                    for f in self.entries(v, &p) {
                        let (fv, fp) = (&f.value, p.key(&f.key));
                        match f.key.as_str() {
                            "condition" => {
                                r.condition = self.str(fv, &fp);
                                if let Some(c) = &r.condition
                                    && !matches!(c.as_str(), "none" | "on-failure" | "any")
                                {
                                    self.invalid(&fv.loc, format!("`{fp}`: invalid condition `{c}`: expected `none`, `on-failure` or `any`"));
                                }
                            }
                            "delay" => r.delay = self.duration(fv, &fp),
                            "max_attempts" => r.max_attempts = self.uint(fv, &fp),
                            "window" => r.window = self.duration(fv, &fp),
                            _ => {}
                        }
                    }
                    d.restart_policy = Some(r);
                }
                "placement" => {
                    let mut pl = Placement::default();
                    for f in self.entries(v, &p) {
                        let (fv, fp) = (&f.value, p.key(&f.key));
                        match f.key.as_str() {
                            "constraints" => pl.constraints = self.strings(fv, &fp),
                            "preferences" => {
                                pl.preferences = fv
                                    .as_seq()
                                    .unwrap_or_default()
                                    .iter()
                                    .map(|x| self.mapping(x, &fp))
                                    .collect();
                            }
                            "max_replicas_per_node" => {
                                pl.max_replicas_per_node = self.uint(fv, &fp)
                            }
                            _ => {}
                        }
                    }
                    d.placement = Some(pl);
                }
                _ => {}
            }
        }
        Some(d)
    }

    fn update_config(&mut self, n: &Node, path: &Seg<'_>) -> UpdateConfig {
        let mut u = UpdateConfig::default();
        for e in self.entries(n, path) {
            let (v, p) = (&e.value, path.key(&e.key));
            match e.key.as_str() {
                "parallelism" => u.parallelism = self.uint(v, &p),
                "delay" => u.delay = self.duration(v, &p),
                "failure_action" => u.failure_action = self.str(v, &p),
                "monitor" => u.monitor = self.duration(v, &p),
                "max_failure_ratio" => u.max_failure_ratio = self.float(v, &p).unwrap_or_default(),
                "order" => u.order = self.str(v, &p),
                _ => {}
            }
        }
        u
    }

    fn resource(&mut self, n: &Node, path: &Seg<'_>) -> Resource {
        let mut r = Resource::default();
        for e in self.entries(n, path) {
            let (v, p) = (&e.value, path.key(&e.key));
            match e.key.as_str() {
                "cpus" => r.cpus = self.float(v, &p),
                "memory" => r.memory = self.size(v, &p),
                "pids" => r.pids = self.int(v, &p),
                "devices" => {
                    r.devices = v
                        .as_seq()
                        .unwrap_or_default()
                        .iter()
                        .enumerate()
                        .map(|(i, x)| self.device_request(x, &p.index(i)))
                        .collect();
                }
                "generic_resources" => {
                    for (i, x) in v.as_seq().unwrap_or_default().iter().enumerate() {
                        let xi = p.index(i);
                        let xp = xi.key("discrete_resource_spec");
                        let Some(spec) = x.get("discrete_resource_spec") else {
                            continue;
                        };
                        let mut d = DiscreteResource::default();
                        for f in self.entries(spec, &xp) {
                            let fp = xp.key(&f.key);
                            match f.key.as_str() {
                                "kind" => d.kind = self.str(&f.value, &fp).unwrap_or_default(),
                                "value" => d.value = self.int(&f.value, &fp).unwrap_or_default(),
                                _ => {}
                            }
                        }
                        r.generic_resources.push(GenericResource {
                            discrete_resource_spec: d,
                        });
                    }
                }
                _ => {}
            }
        }
        r
    }

    fn device_request(&mut self, n: &Node, path: &Seg<'_>) -> DeviceRequest {
        let mut d = DeviceRequest::default();
        for e in self.entries(n, path) {
            let (v, p) = (&e.value, path.key(&e.key));
            match e.key.as_str() {
                "capabilities" => d.capabilities = self.strings(v, &p),
                "driver" => d.driver = self.str(v, &p),
                "count" => {
                    d.count = if text(v) == Some("all") {
                        Some(-1)
                    } else {
                        self.int(v, &p)
                    }
                }
                "device_ids" => d.device_ids = self.strings(v, &p),
                "options" => d.options = self.mapping(v, &p),
                _ => {}
            }
        }
        d
    }

    pub(crate) fn gpus(&mut self, n: &Node, path: &Seg<'_>) -> Vec<DeviceRequest> {
        if text(n) == Some("all") {
            return vec![DeviceRequest {
                count: Some(-1),
                ..DeviceRequest::default()
            }];
        }
        n.as_seq()
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, x)| self.device_request(x, &path.index(i)))
            .collect()
    }

    pub(crate) fn develop(&mut self, n: &Node, path: &Seg<'_>) -> Option<Develop> {
        let mut d = Develop::default();
        let entries = self.entries(n, path);
        for e in entries {
            if e.key != "watch" {
                continue;
            }
            for (i, item) in e.value.as_seq().unwrap_or_default().iter().enumerate() {
                let watch = path.key("watch");
                let ip = watch.index(i);
                let mut w = WatchRule::default();
                let fields = self.entries(item, &ip);
                for f in fields {
                    let (v, p) = (&f.value, ip.key(&f.key));
                    match f.key.as_str() {
                        "path" => {
                            let raw = self.str(v, &p).unwrap_or_default();
                            w.path = self.path(&raw);
                        }
                        "action" => w.action = self.str(v, &p).unwrap_or_default(),
                        "target" => w.target = self.str(v, &p),
                        "exec" => w.exec = Some(self.hook(v, &p)),
                        "ignore" => w.ignore = self.strings(v, &p),
                        "include" => w.include = self.strings(v, &p),
                        "initial_sync" => w.initial_sync = self.bool(v, &p).unwrap_or_default(),
                        _ => {}
                    }
                }
                if w.action.starts_with("sync") && w.target.is_none() {
                    self.invalid(
                        &item.loc,
                        format!("`{ip}`: action `{}` needs a `target`", w.action),
                    );
                }
                w.extensions = extensions(fields);
                d.watch.push(w);
            }
        }
        d.extensions = extensions(entries);
        Some(d)
    }

    pub(crate) fn blkio(&mut self, n: &Node, path: &Seg<'_>) -> Option<BlkioConfig> {
        let mut b = BlkioConfig::default();
        for e in self.entries(n, path) {
            let (v, p) = (&e.value, path.key(&e.key));
            let items = v.as_seq().unwrap_or_default();
            match e.key.as_str() {
                "weight" => b.weight = self.uint(v, &p),
                "weight_device" => {
                    for x in items {
                        let path_ = x.get("path").and_then(|n| self.str(n, &p));
                        let weight = x.get("weight").and_then(|n| self.uint(n, &p));
                        b.weight_device.push(WeightDevice {
                            path: path_.unwrap_or_default(),
                            weight: weight.unwrap_or_default(),
                        });
                    }
                }
                key @ ("device_read_bps" | "device_read_iops" | "device_write_bps"
                | "device_write_iops") => {
                    let list: Vec<ThrottleDevice> = items
                        .iter()
                        .map(|x| ThrottleDevice {
                            path: x
                                .get("path")
                                .and_then(|n| self.str(n, &p))
                                .unwrap_or_default(),
                            rate: x
                                .get("rate")
                                .and_then(|n| self.size(n, &p))
                                .unwrap_or_default(),
                        })
                        .collect();
                    match key {
                        "device_read_bps" => b.device_read_bps = list,
                        "device_read_iops" => b.device_read_iops = list,
                        "device_write_bps" => b.device_write_bps = list,
                        _ => b.device_write_iops = list,
                    }
                }
                _ => {}
            }
        }
        Some(b)
    }

    pub(crate) fn credential_spec(&mut self, n: &Node, path: &Seg<'_>) -> Option<CredentialSpec> {
        let mut c = CredentialSpec::default();
        for e in self.entries(n, path) {
            let p = path.key(&e.key);
            match e.key.as_str() {
                "config" => c.config = self.str(&e.value, &p),
                "file" => c.file = self.str(&e.value, &p),
                "registry" => c.registry = self.str(&e.value, &p),
                _ => {}
            }
        }
        Some(c)
    }

    pub(crate) fn healthcheck(&mut self, n: &Node, path: &Seg<'_>) -> Option<Healthcheck> {
        let mut h = Healthcheck::default();
        for e in self.entries(n, path) {
            let (v, p) = (&e.value, path.key(&e.key));
            match e.key.as_str() {
                "test" => {
                    h.test = match &v.value {
                        Value::Seq(_) => {
                            let t = self.strings(v, &p);
                            if !matches!(
                                t.first().map(String::as_str),
                                Some("CMD" | "CMD-SHELL" | "NONE")
                            ) {
                                self.invalid(
                                    &v.loc,
                                    format!(
                                        "`{p}`: a list must start with `CMD`, `CMD-SHELL` or `NONE`"
                                    ),
                                );
                            }
                            t
                        }
                        _ => match self.str(v, &p) {
                            Some(s) if s == "NONE" => vec!["NONE".into()],
                            Some(s) => vec!["CMD-SHELL".into(), s],
                            None => Vec::new(),
                        },
                    }
                }
                "interval" => h.interval = self.duration(v, &p),
                "timeout" => h.timeout = self.duration(v, &p),
                "start_period" => h.start_period = self.duration(v, &p),
                "start_interval" => h.start_interval = self.duration(v, &p),
                "retries" => h.retries = self.uint(v, &p),
                "disable" => h.disable = self.bool(v, &p).unwrap_or_default(),
                _ => {}
            }
        }
        Some(h)
    }

    pub(crate) fn logging(&mut self, n: &Node, path: &Seg<'_>) -> Option<Logging> {
        let mut l = Logging::default();
        for e in self.entries(n, path) {
            let p = path.key(&e.key);
            match e.key.as_str() {
                "driver" => l.driver = self.str(&e.value, &p),
                "options" => l.options = self.mapping(&e.value, &p),
                _ => {}
            }
        }
        Some(l)
    }

    pub(crate) fn hooks(&mut self, n: &Node, path: &Seg<'_>) -> Vec<Hook> {
        n.as_seq()
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, x)| self.hook(x, &path.index(i)))
            .collect()
    }

    fn hook(&mut self, n: &Node, path: &Seg<'_>) -> Hook {
        let mut h = Hook::default();
        for e in self.entries(n, path) {
            let (v, p) = (&e.value, path.key(&e.key));
            match e.key.as_str() {
                "command" => h.command = self.command(v, &p).unwrap_or_default(),
                "user" => h.user = self.str(v, &p),
                "privileged" => h.privileged = self.bool(v, &p).unwrap_or_default(),
                "working_dir" => h.working_dir = self.str(v, &p),
                "environment" => h.environment = self.env_map(v, &p, true),
                _ => {}
            }
        }
        h
    }

    pub(crate) fn provider(&mut self, n: &Node, path: &Seg<'_>) -> Option<Provider> {
        let mut pr = Provider::default();
        for e in self.entries(n, path) {
            let p = path.key(&e.key);
            match e.key.as_str() {
                "type" => pr.kind = self.str(&e.value, &p).unwrap_or_default(),
                "options" => {
                    for o in self.entries(&e.value, &p) {
                        let vals = self.strings(&o.value, &p.key(&o.key));
                        pr.options.insert(o.key.clone(), vals);
                    }
                }
                _ => {}
            }
        }
        Some(pr)
    }

    pub(crate) fn ulimits(&mut self, n: &Node, path: &Seg<'_>) -> BTreeMap<String, Ulimit> {
        let mut out = BTreeMap::new();
        for e in self.entries(n, path) {
            let p = path.key(&e.key);
            let limit = if e.value.as_map().is_some() {
                let soft = e.value.get("soft").and_then(|v| self.int(v, &p));
                let hard = e.value.get("hard").and_then(|v| self.int(v, &p));
                match (soft, hard) {
                    (Some(soft), Some(hard)) => {
                        if soft > hard {
                            self.invalid(
                                &e.value.loc,
                                format!("`{p}`: soft limit {soft} is above hard limit {hard}"),
                            );
                        }
                        Ulimit::SoftHard { soft, hard }
                    }
                    _ => {
                        self.invalid(&e.value.loc, format!("`{p}` needs both `soft` and `hard`"));
                        continue;
                    }
                }
            } else {
                match self.int(&e.value, &p) {
                    Some(v) => Ulimit::Single(v),
                    None => continue,
                }
            };
            out.insert(e.key.clone(), limit);
        }
        out
    }

    pub(crate) fn long_mount(&mut self, n: &Node, path: &Seg<'_>) -> Option<Mount> {
        let mut m = Mount::default();
        let entries = self.entries(n, path);
        for e in entries {
            let (v, p) = (&e.value, path.key(&e.key));
            match e.key.as_str() {
                "type" => m.kind = self.str(v, &p).unwrap_or_default(),
                "source" => m.source = self.str(v, &p),
                "target" => m.target = self.str(v, &p).unwrap_or_default(),
                "read_only" => m.read_only = self.bool(v, &p).unwrap_or_default(),
                "consistency" => m.consistency = self.str(v, &p),
                "bind" => {
                    let mut b = BindOptions::default();
                    for f in self.entries(v, &p) {
                        let fp = p.key(&f.key);
                        match f.key.as_str() {
                            "propagation" => b.propagation = self.str(&f.value, &fp),
                            "create_host_path" => {
                                b.create_host_path = self.bool(&f.value, &fp).unwrap_or_default();
                            }
                            "recursive" => b.recursive = self.str(&f.value, &fp),
                            "selinux" => b.selinux = self.str(&f.value, &fp),
                            _ => {}
                        }
                    }
                    m.bind = Some(b);
                }
                "volume" => {
                    let mut o = VolumeOptions::default();
                    for f in self.entries(v, &p) {
                        let fp = p.key(&f.key);
                        match f.key.as_str() {
                            "nocopy" => o.nocopy = self.bool(&f.value, &fp).unwrap_or_default(),
                            "subpath" => o.subpath = self.str(&f.value, &fp),
                            "labels" => o.labels = self.mapping(&f.value, &fp),
                            _ => {}
                        }
                    }
                    m.volume = Some(o);
                }
                "tmpfs" => {
                    let mut t = TmpfsOptions::default();
                    for f in self.entries(v, &p) {
                        let fp = p.key(&f.key);
                        match f.key.as_str() {
                            "size" => t.size = self.size(&f.value, &fp),
                            "mode" => t.mode = self.file_mode(&f.value, &fp),
                            _ => {}
                        }
                    }
                    m.tmpfs = Some(t);
                }
                "image" => {
                    let sub = v.get("subpath").and_then(|s| self.str(s, &p));
                    m.image = Some(ImageOptions { subpath: sub });
                }
                _ => {}
            }
        }
        m.extensions = extensions(entries);
        if m.target.is_empty() {
            self.invalid(&n.loc, format!("`{path}` needs a `target`"));
            return None;
        }
        match m.kind.as_str() {
            "bind" => match &m.source {
                Some(s) => m.source = Some(self.path(s)),
                None => {
                    self.invalid(&n.loc, format!("`{path}`: a bind mount needs a `source`"));
                    return None;
                }
            },
            "volume" if m.volume.is_none() => m.volume = Some(VolumeOptions::default()),
            "tmpfs" if m.source.is_some() => {
                self.invalid(&n.loc, format!("`{path}`: a tmpfs mount takes no `source`"));
                return None;
            }
            "image" if m.source.is_none() => {
                self.invalid(&n.loc, format!("`{path}`: an image mount needs a `source`"));
                return None;
            }
            _ => {}
        }
        Some(m)
    }

    pub(crate) fn ports(&mut self, n: &Node, path: &Seg<'_>) -> Vec<Port> {
        let mut out = Vec::new();
        for (i, item) in n.as_seq().unwrap_or_default().iter().enumerate() {
            let p = path.index(i);
            if item.as_map().is_none() {
                let Some(s) = self.str(item, &p) else {
                    continue;
                };
                match syntax::parse_port(&s) {
                    Ok(ports) => out.extend(ports),
                    Err(m) => self.invalid(&item.loc, format!("`{p}`: {m}")),
                }
                continue;
            }
            let mut port = Port {
                mode: "ingress".into(),
                protocol: "tcp".into(),
                ..Port::default()
            };
            let fields = self.entries(item, &p);
            let mut has_target = false;
            for f in fields {
                let (v, fp) = (&f.value, p.key(&f.key));
                match f.key.as_str() {
                    "name" => port.name = self.str(v, &fp),
                    "mode" => port.mode = self.str(v, &fp).unwrap_or_default(),
                    "host_ip" => port.host_ip = self.str(v, &fp),
                    "app_protocol" => port.app_protocol = self.str(v, &fp),
                    "protocol" => {
                        let proto = self.str(v, &fp).unwrap_or_default().to_ascii_lowercase();
                        if let Err(m) = syntax::check_protocol(&proto) {
                            self.invalid(&v.loc, format!("`{fp}`: {m}"));
                        }
                        port.protocol = proto;
                    }
                    "target" => {
                        has_target = true;
                        match text(v).map(str::parse::<u16>) {
                            Some(Ok(t)) if t > 0 => port.target = t,
                            _ => self.invalid(
                                &v.loc,
                                format!("`{fp}`: invalid container port `{}`", v.to_json()),
                            ),
                        }
                    }
                    "published" => {
                        if let Some(s) = self.str(v, &fp) {
                            if let Err(m) = syntax::check_published(&s) {
                                self.invalid(&v.loc, format!("`{fp}`: {m}"));
                            }
                            port.published = Some(s);
                        }
                    }
                    _ => {}
                }
            }
            if !matches!(port.mode.as_str(), "ingress" | "host") {
                self.invalid(
                    &item.loc,
                    format!(
                        "`{p}.mode`: expected `ingress` or `host`, found `{}`",
                        port.mode
                    ),
                );
            }
            if !has_target {
                self.invalid(&item.loc, format!("`{p}` needs a `target` port"));
            }
            port.extensions = extensions(fields);
            out.push(port);
        }
        out
    }
}
