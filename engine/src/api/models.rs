//! Docker Engine API (v1.41+) JSON shapes shared by the server, the client and the backends.
//!
//! Field names follow Docker's swagger (PascalCase with Docker's own irregular spellings such as
//! `ImageID` or `MinAPIVersion`). Input types ignore unknown fields and accept `null` where Go
//! clients send it, because the docker CLI and docker-compose send far more than berth reads.

mod build;
mod container;
mod image_io;
mod objects;
mod resources;
mod stats;

pub use build::*;
pub use container::*;
pub use image_io::*;
pub use objects::*;
pub use resources::*;
pub use stats::*;

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Deserializer, Serialize};

/// Deserializes `null` (or an absent field, with `#[serde(default)]`) as `T::default()`.
pub(crate) fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Docker's `strslice`: a list of strings that clients may also send as one string or `null`.
pub(crate) fn str_slice<'de, D>(d: D) -> Result<Option<Vec<String>>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => None,
        Some(OneOrMany::One(s)) => Some(vec![s]),
        Some(OneOrMany::Many(v)) => Some(v),
    })
}

/// String labels attached to containers, images, networks and volumes.
pub type Labels = HashMap<String, String>;

/// The `{}` value of Docker's set-like maps (`ExposedPorts`, `Volumes`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmptyObject {}

/// `GET /version`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Version {
    pub platform: Platform,
    #[serde(deserialize_with = "null_default")]
    pub components: Vec<ComponentVersion>,
    pub version: String,
    pub api_version: String,
    #[serde(rename = "MinAPIVersion")]
    pub min_api_version: String,
    pub git_commit: String,
    pub go_version: String,
    pub os: String,
    pub arch: String,
    pub kernel_version: String,
    pub build_time: String,
}

/// `Version.Platform`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Platform {
    pub name: String,
}

/// `Version.Components[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ComponentVersion {
    pub name: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<BTreeMap<String, String>>,
}

/// `GET /info` (the subset berth knows about).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Info {
    #[serde(rename = "ID")]
    pub id: String,
    pub containers: i64,
    pub containers_running: i64,
    pub containers_paused: i64,
    pub containers_stopped: i64,
    pub images: i64,
    pub driver: String,
    pub docker_root_dir: String,
    pub debug: bool,
    pub logging_driver: String,
    pub cgroup_driver: String,
    pub cgroup_version: String,
    pub kernel_version: String,
    pub operating_system: String,
    #[serde(rename = "OSType")]
    pub os_type: String,
    pub architecture: String,
    #[serde(rename = "NCPU")]
    pub ncpu: i64,
    pub mem_total: i64,
    pub name: String,
    #[serde(deserialize_with = "null_default")]
    pub labels: Vec<String>,
    pub server_version: String,
    pub live_restore_enabled: bool,
    #[serde(deserialize_with = "null_default")]
    pub security_options: Vec<String>,
    #[serde(deserialize_with = "null_default")]
    pub warnings: Vec<String>,
}

/// `GET /system/df`: disk usage by images, containers, volumes and the build cache.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SystemDf {
    /// Bytes of all image layers.
    pub layers_size: i64,
    #[serde(deserialize_with = "null_default")]
    pub images: Vec<ImageSummary>,
    #[serde(deserialize_with = "null_default")]
    pub containers: Vec<ContainerSummary>,
    #[serde(deserialize_with = "null_default")]
    pub volumes: Vec<Volume>,
    #[serde(deserialize_with = "null_default")]
    pub build_cache: Vec<serde_json::Value>,
}

/// Error body of every non-2xx answer: `{"message": "..."}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub message: String,
}

/// One message of `GET /events`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventMessage {
    #[serde(rename = "Type")]
    pub typ: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: EventActor,
    pub scope: String,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
    /// Legacy field (container events only): same as `Action`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Legacy field (container events only): same as `Actor.ID`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Legacy field (container events only): the image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

/// `EventMessage.Actor`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EventActor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(deserialize_with = "null_default")]
    pub attributes: BTreeMap<String, String>,
}

/// Docker's `filters` query parameter: JSON `{"key": ["v1", "v2"]}` (or the legacy
/// `{"key": {"v1": true}}`). Values of one key are alternatives; different keys must all match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Filters(pub BTreeMap<String, Vec<String>>);

impl<'de> Deserialize<'de> for Filters {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Values {
            List(Vec<String>),
            Set(BTreeMap<String, bool>),
        }
        let raw = Option::<BTreeMap<String, Values>>::deserialize(d)?.unwrap_or_default();
        let map = raw
            .into_iter()
            .map(|(k, v)| {
                let values = match v {
                    Values::List(l) => l,
                    Values::Set(s) => s
                        .into_iter()
                        .filter(|(_, on)| *on)
                        .map(|(k, _)| k)
                        .collect(),
                };
                (k, values)
            })
            .collect();
        Ok(Filters(map))
    }
}

impl Filters {
    /// Parses the JSON text of a `filters` query parameter (empty text means no filter).
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_json::from_str(text)
    }

    /// Adds one value for `key` (builder used by clients).
    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.0
            .entry(key.to_owned())
            .or_default()
            .push(value.to_owned());
        self
    }

    /// The values given for `key` (empty when the key is absent).
    pub fn get(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// True when no filter is set.
    pub fn is_empty(&self) -> bool {
        self.0.values().all(Vec::is_empty)
    }

    /// True when `key` is absent or `pred` accepts one of its values.
    pub fn any(&self, key: &str, pred: impl Fn(&str) -> bool) -> bool {
        let values = self.get(key);
        values.is_empty() || values.iter().any(|v| pred(v))
    }

    /// Docker's `label` filter: every `key` or `key=value` given must be present on `labels`.
    pub fn match_labels(&self, labels: &Labels) -> bool {
        self.get("label").iter().all(|f| match f.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
            None => labels.contains_key(f.as_str()),
        })
    }

    /// The JSON text for a `filters` query parameter.
    pub fn to_query_value(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "{}".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A create body as docker-compose v2 sends it (trimmed), with fields berth does not read.
    const COMPOSE_CREATE: &str = r#"{
        "Hostname": "", "User": "1000:1000", "AttachStdout": false, "Tty": false, "OpenStdin": false,
        "Env": ["A=1"], "Cmd": ["nginx", "-g", "daemon off;"], "Entrypoint": null, "Image": "nginx:1.25",
        "Healthcheck": {"Test": ["CMD", "true"], "Interval": 5000000000, "Retries": 3},
        "Volumes": null, "WorkingDir": "/srv", "Labels": {"com.docker.compose.project": "demo"},
        "ExposedPorts": {"80/tcp": {}}, "StopSignal": "SIGQUIT", "StopTimeout": 20, "MacAddress": "",
        "HostConfig": {
            "Binds": null, "ContainerIDFile": "", "LogConfig": {"Type": "json-file", "Config": {"max-size": "1m"}},
            "NetworkMode": "demo_default", "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]},
            "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}, "AutoRemove": false,
            "VolumeDriver": "", "VolumesFrom": null, "CapAdd": ["NET_ADMIN"], "CapDrop": null,
            "CgroupnsMode": "", "Dns": ["10.0.0.53"], "DnsOptions": null, "DnsSearch": null,
            "ExtraHosts": ["db:10.1.2.3"], "Privileged": false, "ReadonlyRootfs": true,
            "SecurityOpt": ["no-new-privileges:true"], "Tmpfs": {"/run": "size=64m"}, "ShmSize": 67108864,
            "Sysctls": {"net.core.somaxconn": "1024"}, "Memory": 268435456, "NanoCpus": 500000000,
            "CpuShares": 512, "CpusetCpus": "0", "PidsLimit": 100, "Init": true,
            "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
            "Devices": [{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"}],
            "Mounts": [{"Type": "volume", "Source": "demo_data", "Target": "/data", "VolumeOptions": {}}],
            "BlkioWeight": 0, "OomKillDisable": null
        },
        "NetworkingConfig": {"EndpointsConfig": {"demo_default": {
            "IPAMConfig": {"IPv4Address": "10.5.0.9"}, "Aliases": ["web", "demo-web-1"], "Links": null,
            "DriverOpts": null
        }}}
    }"#;

    #[test]
    fn compose_create_body_parses_every_field_berth_reads() {
        let b: ContainerCreateBody = serde_json::from_str(COMPOSE_CREATE).unwrap();
        let (c, h) = (&b.config, &b.host_config);
        assert_eq!(c.cmd.as_deref().unwrap(), ["nginx", "-g", "daemon off;"]);
        assert_eq!(c.entrypoint, None);
        assert_eq!(
            (c.user.as_str(), c.working_dir.as_str()),
            ("1000:1000", "/srv")
        );
        assert_eq!(c.healthcheck.as_ref().unwrap().interval, 5_000_000_000);
        assert_eq!(
            (c.stop_signal.as_deref(), c.stop_timeout),
            (Some("SIGQUIT"), Some(20))
        );
        assert!(c.exposed_ports.contains_key("80/tcp"));
        assert_eq!(h.port_bindings["80/tcp"][0].host_port, "8080");
        assert_eq!(
            (
                h.restart_policy.name.as_str(),
                h.restart_policy.maximum_retry_count
            ),
            ("on-failure", 3)
        );
        assert_eq!(
            (h.memory, h.nano_cpus, h.cpu_shares, h.pids_limit),
            (268435456, 500000000, 512, Some(100))
        );
        assert_eq!(
            (h.init, h.readonly_rootfs, h.shm_size),
            (Some(true), true, 67108864)
        );
        assert_eq!(h.ulimits[0].hard, 2048);
        assert_eq!(h.devices[0].cgroup_permissions, "rwm");
        assert_eq!(h.mounts[0].typ, "volume");
        assert_eq!(h.tmpfs["/run"], "size=64m");
        assert_eq!(h.log_config.config["max-size"], "1m");
        assert!(h.binds.is_empty() && h.cap_drop.is_empty() && h.volumes_from.is_empty());
        let ep = &b.networking_config.endpoints_config["demo_default"];
        assert_eq!(ep.aliases, ["web", "demo-web-1"]);
        assert_eq!(ep.ipam_config.as_ref().unwrap().ipv4_address, "10.5.0.9");
    }

    #[test]
    fn cmd_accepts_a_single_string_and_output_keeps_docker_names() {
        let b: ContainerCreateBody =
            serde_json::from_str(r#"{"Image": "x", "Cmd": "echo hi"}"#).unwrap();
        assert_eq!(b.config.cmd.as_deref().unwrap(), ["echo hi"]);
        let out = serde_json::to_value(&b).unwrap();
        assert_eq!(out["Image"], "x");
        assert!(out["HostConfig"]["NanoCpus"].is_number());
        let v = serde_json::to_value(Version {
            min_api_version: "1.24".into(),
            ..Version::default()
        })
        .unwrap();
        assert_eq!(v["MinAPIVersion"], "1.24");
        let s = serde_json::to_value(ContainerSummary::default()).unwrap();
        for key in [
            "Id",
            "Names",
            "Image",
            "ImageID",
            "Command",
            "Created",
            "Ports",
            "Labels",
            "State",
            "Status",
            "Mounts",
            "NetworkSettings",
        ] {
            assert!(s.get(key).is_some(), "summary lacks {key}");
        }
    }

    #[test]
    fn filters_accept_list_and_legacy_map_forms() {
        let f = Filters::parse(
            r#"{"label": ["a=1", "b"], "status": {"running": true, "exited": false}}"#,
        )
        .unwrap();
        assert_eq!(f.get("status"), ["running"]);
        let labels: Labels = [
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), String::new()),
        ]
        .into();
        assert!(f.match_labels(&labels));
        assert!(!f.match_labels(&[("a".to_owned(), "2".to_owned())].into()));
        assert!(Filters::parse("").unwrap().is_empty());
        assert!(Filters::parse("[1]").is_err());
    }
}
