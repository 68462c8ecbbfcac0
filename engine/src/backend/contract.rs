//! The contract every [`Backend`] must honour, as one reusable suite: the fake runs it in every
//! test run, a real engine runs it in its root tests (`check_all(&engine, "busybox", "ct-…")`).
//! Checks are about states, error kinds and visibility, never about timing.

use std::collections::HashMap;

use super::{Backend, BackendError, ErrorKind, ListContainersOptions};
use crate::api::models::{
    ContainerConfig, ContainerCreateBody, Filters, NetworkCreateRequest, VolumeCreateRequest,
};

/// One failed check.
#[derive(Debug, thiserror::Error)]
#[error("contract check {check:?} failed: {detail}")]
pub struct ContractFailure {
    /// Which check.
    pub check: &'static str,
    /// What was observed instead.
    pub detail: String,
}

#[derive(Default)]
struct Report(Vec<ContractFailure>);

impl Report {
    fn expect(&mut self, check: &'static str, ok: bool, detail: impl FnOnce() -> String) {
        if !ok {
            self.0.push(ContractFailure {
                check,
                detail: detail(),
            });
        }
    }

    fn expect_kind<T: std::fmt::Debug>(
        &mut self,
        check: &'static str,
        got: Result<T, BackendError>,
        kind: ErrorKind,
    ) {
        match got {
            Err(e) if e.kind == kind => {}
            other => self.0.push(ContractFailure {
                check,
                detail: format!("expected {kind:?}, got {other:?}"),
            }),
        }
    }

    fn ok<T>(&mut self, check: &'static str, got: Result<T, BackendError>) -> Option<T> {
        got.map_err(|e| {
            self.0.push(ContractFailure {
                check,
                detail: format!("{e} ({:?})", e.kind),
            })
        })
        .ok()
    }
}

/// Runs every check against `backend`. `image` must already be present and provide `sleep`;
/// `prefix` makes the names of created objects unique (everything created is removed again).
pub async fn check_all<B: Backend>(
    backend: &B,
    image: &str,
    prefix: &str,
) -> Result<(), Vec<ContractFailure>> {
    let mut r = Report::default();
    containers(backend, image, prefix, &mut r).await;
    networks(backend, prefix, &mut r).await;
    volumes(backend, prefix, &mut r).await;
    r.expect_kind(
        "inspect missing image",
        backend
            .inspect_image(&format!("{prefix}-no-such-image"))
            .await,
        ErrorKind::NotFound,
    );
    // Leave nothing behind even when a check failed half-way; errors here mean "already gone".
    let _ = backend
        .remove_container(&format!("{prefix}-c1"), true, true)
        .await;
    let _ = backend.remove_network(&format!("{prefix}-net")).await;
    let _ = backend.remove_volume(&format!("{prefix}-vol"), true).await;
    if r.0.is_empty() { Ok(()) } else { Err(r.0) }
}

async fn containers<B: Backend>(b: &B, image: &str, prefix: &str, r: &mut Report) {
    let name = format!("{prefix}-c1");
    let label = format!("{prefix}.contract");
    let body = |image: &str| ContainerCreateBody {
        config: ContainerConfig {
            image: image.to_owned(),
            cmd: Some(vec!["sleep".to_owned(), "300".to_owned()]),
            labels: HashMap::from([(label.clone(), "yes".to_owned())]),
            ..ContainerConfig::default()
        },
        ..ContainerCreateBody::default()
    };
    r.expect_kind(
        "inspect missing container",
        b.inspect_container(&name).await,
        ErrorKind::NotFound,
    );
    let missing = b
        .create_container(
            Some(format!("{prefix}-c0")),
            body(&format!("{prefix}-no-such-image")),
        )
        .await;
    r.expect_kind("create with missing image", missing, ErrorKind::NotFound);
    let Some(created) = r.ok(
        "create container",
        b.create_container(Some(name.clone()), body(image)).await,
    ) else {
        return;
    };
    r.expect_kind(
        "create duplicate name",
        b.create_container(Some(name.clone()), body(image)).await,
        ErrorKind::Conflict,
    );
    let filters = Filters::default().with("label", &format!("{label}=yes"));
    let all = ListContainersOptions {
        all: true,
        limit: None,
        filters: filters.clone(),
    };
    let running = ListContainersOptions {
        all: false,
        limit: None,
        filters,
    };
    if let Some(list) = r.ok("list all", b.list_containers(all.clone()).await) {
        r.expect(
            "created container is listed with all",
            list.iter().any(|c| c.id == created.id),
            || format!("{list:?}"),
        );
    }
    if let Some(list) = r.ok("list running", b.list_containers(running.clone()).await) {
        r.expect(
            "created container is hidden without all",
            list.is_empty(),
            || format!("{list:?}"),
        );
    }
    r.ok("start", b.start_container(&name).await);
    r.expect_kind(
        "start running container",
        b.start_container(&name).await,
        ErrorKind::NotModified,
    );
    if let Some(c) = r.ok("inspect running", b.inspect_container(&created.id).await) {
        r.expect(
            "running state",
            c.state.running && c.state.status == "running",
            || format!("{:?}", c.state),
        );
        r.expect(
            "name has a leading slash",
            c.name == format!("/{name}"),
            || c.name.clone(),
        );
    }
    if let Some(list) = r.ok("list running", b.list_containers(running).await) {
        r.expect("running container is listed", list.len() == 1, || {
            format!("{list:?}")
        });
    }
    r.expect_kind(
        "remove running without force",
        b.remove_container(&name, false, false).await,
        ErrorKind::Conflict,
    );
    r.ok("stop", b.stop_container(&name, Some(1), None).await);
    r.expect_kind(
        "stop stopped container",
        b.stop_container(&name, Some(1), None).await,
        ErrorKind::NotModified,
    );
    if let Some(c) = r.ok("inspect stopped", b.inspect_container(&name).await) {
        r.expect(
            "exited state",
            !c.state.running && c.state.status == "exited",
            || format!("{:?}", c.state),
        );
    }
    r.ok("remove", b.remove_container(&name, false, false).await);
    r.expect_kind(
        "inspect removed container",
        b.inspect_container(&created.id).await,
        ErrorKind::NotFound,
    );
}

async fn networks<B: Backend>(b: &B, prefix: &str, r: &mut Report) {
    let name = format!("{prefix}-net");
    let req = NetworkCreateRequest {
        name: name.clone(),
        ..NetworkCreateRequest::default()
    };
    let Some(created) = r.ok("create network", b.create_network(req.clone()).await) else {
        return;
    };
    r.expect_kind(
        "create duplicate network",
        b.create_network(req).await,
        ErrorKind::Conflict,
    );
    if let Some(n) = r.ok("inspect network by name", b.inspect_network(&name).await) {
        r.expect("network id matches", n.id == created.id, || n.id.clone());
    }
    if let Some(list) = r.ok(
        "list networks",
        b.list_networks(Filters::default().with("name", &name))
            .await,
    ) {
        r.expect(
            "network is listed",
            list.iter().any(|n| n.id == created.id),
            || format!("{list:?}"),
        );
    }
    r.ok("remove network", b.remove_network(&created.id).await);
    r.expect_kind(
        "inspect removed network",
        b.inspect_network(&name).await,
        ErrorKind::NotFound,
    );
}

async fn volumes<B: Backend>(b: &B, prefix: &str, r: &mut Report) {
    let name = format!("{prefix}-vol");
    let label = format!("{prefix}.contract");
    let req = VolumeCreateRequest {
        name: name.clone(),
        labels: HashMap::from([(label.clone(), "yes".to_owned())]),
        ..VolumeCreateRequest::default()
    };
    let Some(created) = r.ok("create volume", b.create_volume(req).await) else {
        return;
    };
    r.expect("volume name", created.name == name, || created.name.clone());
    if let Some(list) = r.ok(
        "list volumes",
        b.list_volumes(Filters::default().with("label", &label))
            .await,
    ) {
        r.expect("volume is listed by label", list.volumes.len() == 1, || {
            format!("{list:?}")
        });
    }
    r.ok("remove volume", b.remove_volume(&name, false).await);
    r.expect_kind(
        "inspect removed volume",
        b.inspect_volume(&name).await,
        ErrorKind::NotFound,
    );
    r.expect_kind(
        "remove missing volume",
        b.remove_volume(&name, false).await,
        ErrorKind::NotFound,
    );
}

#[cfg(test)]
mod tests {
    use super::check_all;
    use crate::backend::Backend;
    use crate::fake::FakeBackend;

    #[tokio::test]
    async fn fake_backend_honours_the_contract() {
        let fake = FakeBackend::default();
        let pulled = fake.pull_image("busybox", None).await;
        assert!(pulled.is_ok());
        if let Err(failures) = check_all(&fake, "busybox", "fake-contract").await {
            let text: Vec<String> = failures.iter().map(ToString::to_string).collect();
            panic!("{}", text.join("\n"));
        }
    }

    #[tokio::test]
    async fn contract_failures_are_reported_not_swallowed() {
        let fake = FakeBackend::default();
        let failures = check_all(&fake, "not-pulled", "fake-contract-bad")
            .await
            .unwrap_err();
        assert!(
            failures.iter().any(|f| f.check == "create container"),
            "{failures:?}"
        );
    }
}
