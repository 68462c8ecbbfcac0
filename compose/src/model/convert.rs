//! Converts one service's YAML node into a normalized [`Service`].
//!
//! Short syntaxes become long forms, relative paths become absolute, `env_file` is read into
//! `environment`, and every reference to another object is recorded with its position so
//! that validation can point at it.

use std::collections::BTreeMap;

use crate::error::Loc;
use crate::path::Seg;
use crate::yaml::{Node, Value};

use super::conv::{Conv, extensions, text};
use super::service::{
    Dependency, Device, EnvFile, FileRef, Mount, RefKind, Reference, Service, ServiceModel,
    ServiceNetwork, TRACKED_KEYS,
};
use super::syntax;

type PolicyCheck = fn(&str) -> Result<(), String>;

fn opt_string<'s>(svc: &'s mut Service, key: &str) -> Option<&'s mut Option<String>> {
    Some(match key {
        "image" => &mut svc.image,
        "container_name" => &mut svc.container_name,
        "hostname" => &mut svc.hostname,
        "domainname" => &mut svc.domainname,
        "cgroup_parent" => &mut svc.cgroup_parent,
        "cgroup" => &mut svc.cgroup,
        "cpuset" => &mut svc.cpuset,
        "ipc" => &mut svc.ipc,
        "isolation" => &mut svc.isolation,
        "mac_address" => &mut svc.mac_address,
        "network_mode" => &mut svc.network_mode,
        "pid" => &mut svc.pid,
        "platform" => &mut svc.platform,
        "pull_refresh_after" => &mut svc.pull_refresh_after,
        "runtime" => &mut svc.runtime,
        "stop_signal" => &mut svc.stop_signal,
        "user" => &mut svc.user,
        "userns_mode" => &mut svc.userns_mode,
        "uts" => &mut svc.uts,
        "working_dir" => &mut svc.working_dir,
        "pull_policy" => &mut svc.pull_policy,
        "restart" => &mut svc.restart,
        _ => return None,
    })
}

fn flag<'s>(svc: &'s mut Service, key: &str) -> Option<&'s mut bool> {
    Some(match key {
        "oom_kill_disable" => &mut svc.oom_kill_disable,
        "privileged" => &mut svc.privileged,
        "read_only" => &mut svc.read_only,
        "stdin_open" => &mut svc.stdin_open,
        "tty" => &mut svc.tty,
        "use_api_socket" => &mut svc.use_api_socket,
        _ => return None,
    })
}

fn integer<'s>(svc: &'s mut Service, key: &str) -> Option<&'s mut i64> {
    Some(match key {
        "cpu_count" => &mut svc.cpu_count,
        "cpu_period" => &mut svc.cpu_period,
        "cpu_quota" => &mut svc.cpu_quota,
        "cpu_shares" => &mut svc.cpu_shares,
        "oom_score_adj" => &mut svc.oom_score_adj,
        "pids_limit" => &mut svc.pids_limit,
        _ => return None,
    })
}

fn string_list<'s>(svc: &'s mut Service, key: &str) -> Option<&'s mut Vec<String>> {
    Some(match key {
        "cap_add" => &mut svc.cap_add,
        "cap_drop" => &mut svc.cap_drop,
        "device_cgroup_rules" => &mut svc.device_cgroup_rules,
        "dns" => &mut svc.dns,
        "dns_opt" => &mut svc.dns_opt,
        "dns_search" => &mut svc.dns_search,
        "external_links" => &mut svc.external_links,
        "group_add" => &mut svc.group_add,
        "links" => &mut svc.links,
        "profiles" => &mut svc.profiles,
        "security_opt" => &mut svc.security_opt,
        "tmpfs" => &mut svc.tmpfs,
        "volumes_from" => &mut svc.volumes_from,
        "expose" => &mut svc.expose,
        "label_file" => &mut svc.label_files,
        _ => return None,
    })
}

impl Conv<'_> {
    /// Converts the service `name` defined by `node` (whose key is at `key_loc`).
    pub fn service(&mut self, name: &str, node: &Node, key_loc: &Loc) -> Service {
        let mut svc = Service {
            name: name.to_string(),
            ..Service::default()
        };
        svc.meta.loc = Some(key_loc.clone());
        let services = Seg::Key(&Seg::Root, "services");
        let prefix = services.key(name);
        let entries = self.entries(node, &prefix);
        let mut environment = None;
        for e in entries {
            let (k, v) = (e.key.as_str(), &e.value);
            let p = prefix.key(k);
            if let Some(tracked) = TRACKED_KEYS.iter().find(|t| **t == k) {
                svc.meta.locs.push((tracked, v.loc.clone()));
            }
            if v.is_null() {
                // an explicit null means "not set" (the schema check reports keys that
                // do not allow it)
                continue;
            }
            if let Some(f) = opt_string(&mut svc, k) {
                *f = self.str(v, &p);
            } else if let Some(f) = flag(&mut svc, k) {
                *f = self.bool(v, &p).unwrap_or_default();
            } else if let Some(f) = integer(&mut svc, k) {
                *f = self.int(v, &p).unwrap_or_default();
            } else if let Some(f) = string_list(&mut svc, k) {
                *f = self.strings(v, &p);
            } else {
                match k {
                    "cpu_rt_period" => svc.cpu_rt_period = self.micros(v, &p).unwrap_or_default(),
                    "cpu_rt_runtime" => svc.cpu_rt_runtime = self.micros(v, &p).unwrap_or_default(),
                    "attach" => svc.attach = self.bool(v, &p),
                    "init" => svc.init = self.bool(v, &p),
                    "cpus" => svc.cpus = self.float(v, &p).unwrap_or_default(),
                    "cpu_percent" => svc.cpu_percent = self.float(v, &p).unwrap_or_default(),
                    "mem_limit" => svc.mem_limit = self.size(v, &p),
                    "mem_reservation" => svc.mem_reservation = self.size(v, &p),
                    "memswap_limit" => svc.memswap_limit = self.size_or_unlimited(v, &p),
                    "mem_swappiness" => svc.mem_swappiness = self.int(v, &p),
                    "shm_size" => svc.shm_size = self.size(v, &p),
                    "scale" => svc.scale = self.uint(v, &p),
                    "stop_grace_period" => svc.stop_grace_period = self.duration(v, &p),
                    "command" => svc.command = self.command(v, &p),
                    "entrypoint" => svc.entrypoint = self.command(v, &p),
                    "annotations" => svc.annotations = self.mapping(v, &p),
                    "labels" => svc.labels = self.mapping(v, &p),
                    "sysctls" => svc.sysctls = self.mapping(v, &p),
                    "storage_opt" => svc.storage_opt = self.mapping(v, &p),
                    "environment" => environment = Some(self.env_map(v, &p, true)),
                    "env_file" => svc.env_files = self.env_files(v, &p),
                    "build" => svc.build = self.build(v, &p, &mut svc.meta.refs),
                    "configs" => {
                        svc.configs = self.file_refs(v, &p, RefKind::Config, &mut svc.meta.refs);
                    }
                    "secrets" => {
                        svc.secrets = self.file_refs(v, &p, RefKind::Secret, &mut svc.meta.refs);
                    }
                    "depends_on" => svc.depends_on = self.depends_on(v, &p, &mut svc.meta.refs),
                    "deploy" => svc.deploy = self.deploy(v, &p),
                    "develop" => svc.develop = self.develop(v, &p),
                    "blkio_config" => svc.blkio_config = self.blkio(v, &p),
                    "credential_spec" => svc.credential_spec = self.credential_spec(v, &p),
                    "devices" => svc.devices = self.devices(v, &p),
                    "extra_hosts" => svc.extra_hosts = self.extra_hosts(v, &p),
                    "gpus" => svc.gpus = self.gpus(v, &p),
                    "healthcheck" => svc.healthcheck = self.healthcheck(v, &p),
                    "logging" => svc.logging = self.logging(v, &p),
                    "models" => svc.models = self.service_models(v, &p, &mut svc.meta.refs),
                    "networks" => svc.networks = self.service_networks(v, &p, &mut svc.meta.refs),
                    "ports" => svc.ports = self.ports(v, &p),
                    "post_start" => svc.post_start = self.hooks(v, &p),
                    "pre_stop" => svc.pre_stop = self.hooks(v, &p),
                    "provider" => svc.provider = self.provider(v, &p),
                    "ulimits" => svc.ulimits = self.ulimits(v, &p),
                    "volumes" => svc.volumes = self.mounts(v, &p, &mut svc.meta.refs),
                    _ if k.starts_with("x-") => {
                        svc.extensions.insert(e.key.clone(), v.to_json());
                    }
                    // `extends` is resolved by the loader; unknown keys were reported by the
                    // schema check.
                    _ => {}
                }
            }
        }
        self.check_policies(&mut svc, &prefix);
        self.check_engine_support(&svc, node, &prefix);
        if svc.pull_policy.as_deref() == Some("if_not_present") {
            svc.pull_policy = Some("missing".into());
        }
        if let (Some(scale), Some(replicas)) =
            (svc.scale, svc.deploy.as_ref().and_then(|d| d.replicas))
            && scale != replicas
            && let Some(loc) = svc.meta.get("scale")
        {
            self.invalid(
                loc,
                format!("`{prefix}`: `scale` ({scale}) and `deploy.replicas` ({replicas}) differ"),
            );
        }
        svc.environment = self.read_env_files(&svc.env_files, &svc.meta, &prefix);
        svc.environment.extend(environment.unwrap_or_default());
        let files = std::mem::take(&mut svc.label_files);
        svc.label_files = files.iter().map(|f| self.path(f)).collect();
        let mut labels = self.read_label_files(&svc.label_files, &svc.meta, &prefix);
        labels.append(&mut svc.labels);
        svc.labels = labels;
        implicit_dependencies(&mut svc);
        if svc.networks.is_empty() && svc.network_mode.is_none() && svc.provider.is_none() {
            svc.networks.insert("default".into(), None);
        }
        svc
    }

    fn check_policies(&mut self, svc: &mut Service, prefix: &Seg<'_>) {
        let checks: [(&str, Option<&String>, PolicyCheck); 2] = [
            ("restart", svc.restart.as_ref(), syntax::check_restart),
            (
                "pull_policy",
                svc.pull_policy.as_ref(),
                syntax::check_pull_policy,
            ),
        ];
        for (key, value, check) in checks {
            if let (Some(v), Some(loc)) = (value, svc.meta.get(key))
                && let Err(m) = check(v)
            {
                self.invalid(loc, format!("`{prefix}.{key}`: {m}"));
            }
        }
        for key in ["network_mode", "ipc", "pid", "uts", "cgroup"] {
            let value = match key {
                "network_mode" => &svc.network_mode,
                "ipc" => &svc.ipc,
                "pid" => &svc.pid,
                "uts" => &svc.uts,
                _ => &svc.cgroup,
            };
            let (Some(v), Some(loc)) = (value, svc.meta.get(key)) else {
                continue;
            };
            if let Err(m) = syntax::check_namespace_ref(key, v) {
                self.invalid(loc, format!("`{prefix}.{key}`: {m}"));
            } else if let Some(name) = v.strip_prefix("service:") {
                svc.meta.refs.push(Reference {
                    kind: RefKind::Service,
                    name: name.to_string(),
                    via: key_static(key),
                    loc: loc.clone(),
                    required: true,
                });
            }
        }
        for (key, list) in [("links", &svc.links), ("volumes_from", &svc.volumes_from)] {
            let Some(loc) = svc.meta.get(key).cloned() else {
                continue;
            };
            for item in list {
                if let Some(name) = service_of(key, item) {
                    svc.meta.refs.push(Reference {
                        kind: RefKind::Service,
                        name: name.to_string(),
                        via: key_static(key),
                        loc: loc.clone(),
                        required: true,
                    });
                }
            }
        }
    }

    fn env_files(&mut self, n: &Node, path: &Seg<'_>) -> Vec<EnvFile> {
        let items: Vec<&Node> = match &n.value {
            Value::Seq(items) => items.iter().collect(),
            _ => vec![n],
        };
        let mut out = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let p = path.index(i);
            if item.as_map().is_some() {
                let mut f = EnvFile {
                    path: String::new(),
                    required: true,
                    format: None,
                };
                for e in self.entries(item, &p) {
                    let ep = p.key(&e.key);
                    match e.key.as_str() {
                        "path" => f.path = self.str(&e.value, &ep).unwrap_or_default(),
                        "required" => f.required = self.bool(&e.value, &ep).unwrap_or(true),
                        "format" => f.format = self.str(&e.value, &ep),
                        _ => {}
                    }
                }
                f.path = self.path(&f.path);
                out.push(f);
            } else if let Some(s) = self.str(item, &p) {
                out.push(EnvFile {
                    path: self.path(&s),
                    required: true,
                    format: None,
                });
            }
        }
        out
    }

    fn read_env_files(
        &mut self,
        files: &[EnvFile],
        meta: &super::service::ServiceMeta,
        prefix: &Seg<'_>,
    ) -> super::service::EnvMapping {
        let mut env = BTreeMap::new();
        let loc = meta.get("env_file").or(meta.loc.as_ref()).cloned();
        for f in files {
            let path = std::path::Path::new(&f.path);
            if !f.required && !path.exists() {
                continue;
            }
            let read = if f.format.as_deref() == Some("raw") {
                std::fs::read_to_string(path)
                    .map(|t| raw_env(&t))
                    .map_err(|e| crate::error::Error::io(path, e))
            } else {
                crate::env::read_env_file(path)
            };
            match read {
                Ok(vars) => {
                    for (k, v) in vars {
                        let v = v.or_else(|| self.ctx.environment.get(&k).cloned());
                        env.insert(k, v);
                    }
                }
                Err(crate::error::Error::Io { source, .. }) => {
                    if let Some(loc) = &loc {
                        self.invalid(
                            loc,
                            format!("`{prefix}.env_file`: cannot read `{}`: {source}", f.path),
                        );
                    }
                }
                Err(e) => self.errors.push(e),
            }
        }
        env
    }

    fn read_label_files(
        &mut self,
        files: &[String],
        meta: &super::service::ServiceMeta,
        prefix: &Seg<'_>,
    ) -> super::service::Mapping {
        let mut labels = BTreeMap::new();
        let loc = meta.get("label_file").or(meta.loc.as_ref()).cloned();
        for f in files {
            match crate::env::read_env_file(std::path::Path::new(f)) {
                Ok(vars) => {
                    labels.extend(vars.into_iter().map(|(k, v)| (k, v.unwrap_or_default())))
                }
                Err(crate::error::Error::Io { source, .. }) => {
                    if let Some(loc) = &loc {
                        self.invalid(
                            loc,
                            format!("`{prefix}.label_file`: cannot read `{f}`: {source}"),
                        );
                    }
                }
                Err(e) => self.errors.push(e),
            }
        }
        labels
    }

    pub(crate) fn file_refs(
        &mut self,
        n: &Node,
        path: &Seg<'_>,
        kind: RefKind,
        refs: &mut Vec<Reference>,
    ) -> Vec<FileRef> {
        let mut out = Vec::new();
        for (i, item) in n.as_seq().unwrap_or_default().iter().enumerate() {
            let p = path.index(i);
            let mut r = FileRef::default();
            if item.as_map().is_some() {
                for e in self.entries(item, &p) {
                    let ep = p.key(&e.key);
                    match e.key.as_str() {
                        "source" => r.source = self.str(&e.value, &ep).unwrap_or_default(),
                        "target" => r.target = self.str(&e.value, &ep),
                        "uid" => r.uid = self.str(&e.value, &ep),
                        "gid" => r.gid = self.str(&e.value, &ep),
                        "mode" => r.mode = self.file_mode(&e.value, &ep),
                        _ => {}
                    }
                }
            } else if let Some(s) = self.str(item, &p) {
                r.source = s;
            }
            if r.source.is_empty() {
                self.invalid(&item.loc, format!("`{p}` needs a `source`"));
                continue;
            }
            refs.push(Reference {
                kind,
                name: r.source.clone(),
                via: if kind == RefKind::Secret {
                    "secrets"
                } else {
                    "configs"
                },
                loc: item.loc.clone(),
                required: true,
            });
            out.push(r);
        }
        out
    }

    /// A file mode: an integer (YAML octal `0o440` or decimal) or an octal string (`"0440"`).
    pub(crate) fn file_mode(&mut self, n: &Node, path: &Seg<'_>) -> Option<u32> {
        let t = text(n)?;
        let quoted_octal = t.starts_with('0') && t.len() > 1 && !t.starts_with("0o");
        let v = if quoted_octal {
            u32::from_str_radix(t, 8).ok()
        } else {
            n.as_i64()
                .or_else(|| t.parse().ok())
                .and_then(|v| u32::try_from(v).ok())
        };
        if v.is_none() {
            self.invalid(&n.loc, format!("`{path}`: invalid file mode `{t}`"));
        }
        v
    }

    fn depends_on(
        &mut self,
        n: &Node,
        path: &Seg<'_>,
        refs: &mut Vec<Reference>,
    ) -> BTreeMap<String, Dependency> {
        let mut out = BTreeMap::new();
        match &n.value {
            Value::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(name) = self.str(item, &path.index(i)) {
                        refs.push(service_ref(&name, "depends_on", &item.loc, true));
                        out.insert(name, Dependency::default());
                    }
                }
            }
            _ => {
                for e in self.entries(n, path) {
                    let p = path.key(&e.key);
                    let mut d = Dependency::default();
                    for f in self.entries(&e.value, &p) {
                        let fp = p.key(&f.key);
                        match f.key.as_str() {
                            "condition" => {
                                d.condition = self.str(&f.value, &fp).unwrap_or(d.condition);
                            }
                            "required" => d.required = self.bool(&f.value, &fp).unwrap_or(true),
                            "restart" => d.restart = self.bool(&f.value, &fp).unwrap_or(false),
                            _ => {}
                        }
                    }
                    refs.push(service_ref(&e.key, "depends_on", &e.key_loc, d.required));
                    out.insert(e.key.clone(), d);
                }
            }
        }
        out
    }

    fn devices(&mut self, n: &Node, path: &Seg<'_>) -> Vec<Device> {
        let mut out = Vec::new();
        for (i, item) in n.as_seq().unwrap_or_default().iter().enumerate() {
            let p = path.index(i);
            if item.as_map().is_some() {
                let mut d = Device {
                    permissions: "rwm".into(),
                    ..Device::default()
                };
                for e in self.entries(item, &p) {
                    let ep = p.key(&e.key);
                    match e.key.as_str() {
                        "source" => d.source = self.str(&e.value, &ep).unwrap_or_default(),
                        "target" => d.target = self.str(&e.value, &ep).unwrap_or_default(),
                        "permissions" => {
                            d.permissions = self.str(&e.value, &ep).unwrap_or_default();
                        }
                        _ => {}
                    }
                }
                if d.target.is_empty() {
                    d.target = d.source.clone();
                }
                out.push(d);
            } else if let Some(s) = self.str(item, &p) {
                match syntax::parse_device(&s) {
                    Ok(d) => out.push(d),
                    Err(m) => self.invalid(&item.loc, format!("`{p}`: {m}")),
                }
            }
        }
        out
    }

    pub(crate) fn extra_hosts(
        &mut self,
        n: &Node,
        path: &Seg<'_>,
    ) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        match &n.value {
            Value::Map(entries) => {
                for e in entries {
                    let ips = self.strings(&e.value, &path.key(&e.key));
                    out.entry(e.key.clone()).or_default().extend(ips);
                }
            }
            _ => {
                for (i, item) in n.as_seq().unwrap_or_default().iter().enumerate() {
                    let Some(s) = self.str(item, &path.index(i)) else {
                        continue;
                    };
                    match syntax::parse_extra_host(&s) {
                        Ok((h, ip)) => out.entry(h).or_default().push(ip),
                        Err(m) => self.invalid(&item.loc, format!("`{path}[{i}]`: {m}")),
                    }
                }
            }
        }
        out
    }

    /// The list form of a name-keyed service attribute (`networks: [a, b]`, `models: [m]`):
    /// every name maps to no options and is recorded as a reference. `None` for the map form.
    fn name_list<T>(
        &mut self,
        n: &Node,
        path: &Seg<'_>,
        refs: &mut Vec<Reference>,
        reference: fn(&str, &Loc) -> Reference,
    ) -> Option<BTreeMap<String, Option<T>>> {
        let items = n.as_seq()?;
        let mut out = BTreeMap::new();
        for (i, item) in items.iter().enumerate() {
            if let Some(name) = self.str(item, &path.index(i)) {
                refs.push(reference(&name, &item.loc));
                out.insert(name, None);
            }
        }
        Some(out)
    }

    fn service_models(
        &mut self,
        n: &Node,
        path: &Seg<'_>,
        refs: &mut Vec<Reference>,
    ) -> BTreeMap<String, Option<ServiceModel>> {
        if let Some(out) = self.name_list(n, path, refs, model_ref) {
            return out;
        }
        let mut out = BTreeMap::new();
        for e in self.entries(n, path) {
            let mut m = ServiceModel::default();
            let mp = path.key(&e.key);
            for f in self.entries(&e.value, &mp) {
                let fp = mp.key(&f.key);
                match f.key.as_str() {
                    "endpoint_var" => m.endpoint_var = self.str(&f.value, &fp),
                    "model_var" => m.model_var = self.str(&f.value, &fp),
                    _ => {}
                }
            }
            refs.push(model_ref(&e.key, &e.key_loc));
            out.insert(e.key.clone(), Some(m));
        }
        out
    }

    fn service_networks(
        &mut self,
        n: &Node,
        path: &Seg<'_>,
        refs: &mut Vec<Reference>,
    ) -> BTreeMap<String, Option<ServiceNetwork>> {
        if let Some(out) = self.name_list(n, path, refs, network_ref) {
            return out;
        }
        let mut out = BTreeMap::new();
        for e in self.entries(n, path) {
            let p = path.key(&e.key);
            let mut sn = ServiceNetwork::default();
            let fields = self.entries(&e.value, &p);
            for f in fields {
                let v = &f.value;
                let fp = p.key(&f.key);
                match f.key.as_str() {
                    "aliases" => sn.aliases = self.strings(v, &fp),
                    "driver_opts" => sn.driver_opts = self.mapping(v, &fp),
                    "interface_name" => sn.interface_name = self.str(v, &fp),
                    "ipv4_address" => sn.ipv4_address = self.ip(v, &fp, false),
                    "ipv6_address" => sn.ipv6_address = self.ip(v, &fp, true),
                    "link_local_ips" => sn.link_local_ips = self.strings(v, &fp),
                    "mac_address" => sn.mac_address = self.str(v, &fp),
                    "priority" => sn.priority = self.int(v, &fp).unwrap_or_default(),
                    "gw_priority" => sn.gw_priority = self.int(v, &fp).unwrap_or_default(),
                    _ => {}
                }
            }
            sn.extensions = extensions(fields);
            refs.push(network_ref(&e.key, &e.key_loc));
            out.insert(e.key.clone(), e.value.as_map().map(|_| sn));
        }
        out
    }

    fn ip(&mut self, n: &Node, path: &Seg<'_>, v6: bool) -> Option<String> {
        let s = self.str(n, path)?;
        let ok = if v6 {
            s.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            s.parse::<std::net::Ipv4Addr>().is_ok()
        };
        if !ok {
            let fam = if v6 { "IPv6" } else { "IPv4" };
            self.invalid(&n.loc, format!("`{path}`: `{s}` is not an {fam} address"));
        }
        Some(s)
    }

    fn mounts(&mut self, n: &Node, path: &Seg<'_>, refs: &mut Vec<Reference>) -> Vec<Mount> {
        let mut out = Vec::new();
        for (i, item) in n.as_seq().unwrap_or_default().iter().enumerate() {
            let p = path.index(i);
            let mount = if item.as_map().is_some() {
                self.long_mount(item, &p)
            } else {
                let Some(s) = self.str(item, &p) else {
                    continue;
                };
                match syntax::parse_volume(&s, self.ctx.working_dir, self.home()) {
                    Ok(m) => Some(m),
                    Err(m) => {
                        self.invalid(&item.loc, format!("`{p}`: {m}"));
                        None
                    }
                }
            };
            let Some(mount) = mount else { continue };
            if mount.kind == "volume"
                && let Some(src) = &mount.source
            {
                refs.push(Reference {
                    kind: RefKind::Volume,
                    name: src.clone(),
                    via: "volumes",
                    loc: item.loc.clone(),
                    required: true,
                });
            }
            out.push(mount);
        }
        out
    }
}

fn raw_env(text: &str) -> Vec<(String, Option<String>)> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.trim().to_string(), Some(v.to_string())),
            None => (l.trim().to_string(), None),
        })
        .collect()
}

fn key_static(key: &str) -> &'static str {
    match key {
        "network_mode" => "network_mode",
        "ipc" => "ipc",
        "pid" => "pid",
        "uts" => "uts",
        "cgroup" => "cgroup",
        "links" => "links",
        _ => "volumes_from",
    }
}

/// The service a `links` or `volumes_from` entry names, if it names one.
fn service_of<'s>(key: &str, item: &'s str) -> Option<&'s str> {
    if key == "links" {
        return Some(item.split(':').next().unwrap_or(item));
    }
    if item.starts_with("container:") {
        return None;
    }
    let item = item.strip_prefix("service:").unwrap_or(item);
    Some(item.split(':').next().unwrap_or(item))
}

fn service_ref(name: &str, via: &'static str, loc: &Loc, required: bool) -> Reference {
    Reference {
        kind: RefKind::Service,
        name: name.to_string(),
        via,
        loc: loc.clone(),
        required,
    }
}

fn network_ref(name: &str, loc: &Loc) -> Reference {
    Reference {
        kind: RefKind::Network,
        name: name.to_string(),
        via: "networks",
        loc: loc.clone(),
        required: true,
    }
}

fn model_ref(name: &str, loc: &Loc) -> Reference {
    Reference {
        kind: RefKind::Model,
        name: name.to_string(),
        via: "models",
        loc: loc.clone(),
        required: true,
    }
}

/// Adds the dependencies docker compose implies from `links`, `service:` namespaces and
/// `volumes_from`, unless `depends_on` already names the service.
fn implicit_dependencies(svc: &mut Service) {
    let mut implied = Vec::new();
    for link in &svc.links {
        implied.push((service_of("links", link).unwrap_or(link).to_string(), true));
    }
    for ns in [&svc.network_mode, &svc.ipc, &svc.pid, &svc.uts, &svc.cgroup]
        .into_iter()
        .flatten()
    {
        if let Some(name) = ns.strip_prefix("service:") {
            implied.push((name.to_string(), true));
        }
    }
    for v in &svc.volumes_from {
        if let Some(name) = service_of("volumes_from", v) {
            implied.push((name.to_string(), false));
        }
    }
    for (name, restart) in implied {
        svc.depends_on.entry(name).or_insert(Dependency {
            restart,
            ..Dependency::default()
        });
    }
}
