//! The contract every [`EngineApi`] implementation must meet, as one reusable suite.
//!
//! It runs against [`crate::engine_api::FakeEngine`] in this crate's tests, and the engine
//! adapter's tests run the same suite against a real engine, so the fake cannot drift from
//! what the planner and executor rely on. Failures panic with what differed (it is a test
//! suite); every object it creates carries `prefix` in its name and is removed at the end.

use crate::engine_api::{
    ContainerSpec, EngineApi, EngineError, LabelFilter, NetworkSpec, RunState, VolumeSpec,
};

/// What the suite needs from its caller.
#[derive(Debug, Clone)]
pub struct ContractSetup {
    /// Unique prefix of every name (include the test name and pid).
    pub prefix: String,
    /// An image present in the engine.
    pub image: String,
    /// A command that keeps running until stopped (for example `["sleep", "600"]`).
    pub command: Vec<String>,
}

/// Runs the whole suite.
pub async fn run(engine: &dyn EngineApi, setup: &ContractSetup) {
    let p = &setup.prefix;
    let label = (format!("test.contract.{p}"), "1".to_string());
    let labels: crate::engine_api::Labels = [label.clone()].into();
    let filter = LabelFilter(vec![(label.0.clone(), Some(label.1.clone()))]);

    let net = NetworkSpec {
        name: format!("{p}_net"),
        labels: labels.clone(),
        ..NetworkSpec::default()
    };
    engine.create_network(&net).await.expect("create network");
    let nets = engine.list_networks(&filter).await.expect("list networks");
    assert_eq!(nets.len(), 1, "one labelled network: {nets:?}");
    assert_eq!(nets[0].name, net.name);

    let vol = VolumeSpec {
        name: format!("{p}_vol"),
        labels: labels.clone(),
        ..VolumeSpec::default()
    };
    engine.create_volume(&vol).await.expect("create volume");
    let vols = engine.list_volumes(&filter).await.expect("list volumes");
    assert_eq!(
        vols.iter().map(|v| &v.name).collect::<Vec<_>>(),
        [&vol.name]
    );

    let spec = ContainerSpec {
        name: format!("{p}-c-1"),
        image: setup.image.clone(),
        command: Some(setup.command.clone()),
        labels: labels.clone(),
        ..ContainerSpec::default()
    };
    let id = engine
        .create_container(&spec)
        .await
        .expect("create container");
    let dup = engine.create_container(&spec).await;
    assert!(
        matches!(dup, Err(EngineError::AlreadyExists { .. })),
        "same name twice: {dup:?}"
    );
    let listed = engine
        .list_containers(&filter)
        .await
        .expect("list containers");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].id, id);
    assert_eq!(listed[0].state, RunState::Created);
    assert_eq!(listed[0].labels.get(&label.0), Some(&label.1));

    engine
        .start_container(&spec.name)
        .await
        .expect("start by name");
    let running = engine.inspect_container(&id).await.expect("inspect by id");
    assert_eq!(running.state, RunState::Running);
    assert!(
        engine.remove_container(&id, false).await.is_err(),
        "a running container is not removed without force"
    );
    engine.stop_container(&id, Some(1)).await.expect("stop");
    let stopped = engine.inspect_container(&id).await.expect("inspect");
    assert_eq!(stopped.state, RunState::Exited);
    engine.remove_container(&id, false).await.expect("remove");
    let gone = engine.inspect_container(&id).await;
    assert!(
        matches!(gone, Err(EngineError::NotFound { .. })),
        "{gone:?}"
    );

    engine
        .remove_volume(&vol.name)
        .await
        .expect("remove volume");
    engine
        .remove_network(&net.name)
        .await
        .expect("remove network");
    assert!(
        engine
            .list_networks(&filter)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(engine.list_volumes(&filter).await.expect("list").is_empty());
    let missing = engine.remove_network(&net.name).await;
    assert!(
        matches!(missing, Err(EngineError::NotFound { .. })),
        "{missing:?}"
    );
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn fake_engine_meets_the_contract() {
        let engine = crate::engine_api::FakeEngine::new();
        let setup = super::ContractSetup {
            prefix: format!("contract{}", std::process::id()),
            image: "busybox".into(),
            command: vec!["sleep".into(), "600".into()],
        };
        super::run(&engine, &setup).await;
        assert!(engine.log().len() >= 8, "{:?}", engine.log());
    }
}
