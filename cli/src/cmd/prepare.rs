//! The image step of `up`, `create` and `run`, before any container is made, as docker compose
//! v2 does it: services with a `build:` section are built when their image is absent, always
//! with `--build` or `pull_policy: build`, never with `--no-build` (an absent image named by
//! `image:` is pulled first and built only when the pull fails); other images are pulled under
//! `--pull` (or the service's `pull_policy`). The ids the images resolve to afterwards go to the
//! planner, which recreates containers made from an image that was rebuilt or re-pulled.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::bail;
use berth_compose::model::{Project, Service};

use crate::cmd::build::{ServiceBuildOptions, build_services, image_name};
use crate::cmd::images::pull_all;
use crate::progress::Mode;
use crate::stack::Stack;

/// When the images of services with a `build:` section are built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildPolicy {
    /// When absent (or `pull_policy: build`): the default.
    Missing,
    /// Every time (`--build`).
    Always,
    /// Never (`--no-build`): an absent image is an error.
    Never,
}

impl BuildPolicy {
    /// The policy of `--build` / `--no-build` (which the verbs reject together).
    pub fn from_flags(build: bool, no_build: bool) -> BuildPolicy {
        match (build, no_build) {
            (true, _) => BuildPolicy::Always,
            (_, true) => BuildPolicy::Never,
            _ => BuildPolicy::Missing,
        }
    }
}

/// `services` (all when empty) plus, unless `no_deps`, everything they depend on.
pub(crate) fn selection(project: &Project, services: &[String], no_deps: bool) -> BTreeSet<String> {
    if services.is_empty() {
        return project.services.keys().cloned().collect();
    }
    project
        .with_dependencies(services, !no_deps)
        .into_iter()
        .collect()
}

/// Whether `service`'s image is built (rather than pulled) under `policy`, `present` telling
/// whether the engine has it.
fn must_build(
    name: &str,
    service: &Service,
    policy: BuildPolicy,
    present: bool,
) -> anyhow::Result<bool> {
    if service.build.is_none() {
        return Ok(false);
    }
    let always = service.pull_policy.as_deref() == Some("build");
    Ok(match policy {
        BuildPolicy::Always => true,
        BuildPolicy::Missing => always || !present,
        BuildPolicy::Never if present => false,
        BuildPolicy::Never => bail!(
            "service {name}: its image is not in the engine and --no-build was given \
             (hint: run `berth build {name}` or drop --no-build)"
        ),
    })
}

/// Whether a service that is to be built for want of its image is pulled first, as docker
/// compose v2 does: when it names its `image:`, its `pull_policy` is unset or `missing`, and
/// neither `--build` nor `--pull never` was given, the image is pulled, and built only when
/// the pull fails.
fn pull_before_build(service: &Service, policy: BuildPolicy, pull: &str, present: bool) -> bool {
    !present
        && policy == BuildPolicy::Missing
        && pull != "never"
        && service.image.is_some()
        && matches!(
            service.pull_policy.as_deref(),
            None | Some("missing" | "if_not_present")
        )
}

/// Whether the image of a service without a build is pulled: `pull` is the verb's `--pull`;
/// with its default (`missing`), the service's own `pull_policy` decides.
fn must_pull(service: &Service, pull: &str, present: bool) -> bool {
    let policy = match (pull, service.pull_policy.as_deref()) {
        ("missing", Some(own)) => own,
        (cli, _) => cli,
    };
    match policy {
        "always" => true,
        "never" | "build" => false,
        // `missing`, `if_not_present`, `daily`, `weekly`, `every_…`: berth keeps no pull dates.
        _ => !present,
    }
}

/// Pulls and builds what `services` (and their dependencies unless `no_deps`) need; returns
/// the image id of every selected service whose image the engine then has.
pub async fn prepare_images(
    stack: &Stack,
    services: &[String],
    no_deps: bool,
    (pull, build): (&str, BuildPolicy),
    mode: Mode,
) -> anyhow::Result<BTreeMap<String, String>> {
    let project = &stack.project;
    let selected = selection(project, services, no_deps);
    let mut ids: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut to_build = Vec::new();
    let mut to_pull = BTreeSet::new();
    // Services built only if the pull of their image fails: (service, image).
    let mut pull_or_build = Vec::new();
    for name in &selected {
        let service = &project.services[name];
        let image = image_name(project, name, service);
        if !ids.contains_key(&image) {
            let id = stack
                .client()
                .inspect_image(&image)
                .await
                .ok()
                .map(|i| i.id);
            ids.insert(image.clone(), id);
        }
        let present = ids[&image].is_some();
        if must_build(name, service, build, present)? {
            if pull_before_build(service, build, pull, present) {
                pull_or_build.push((name.clone(), image));
            } else {
                to_build.push(name.clone());
            }
        } else if service.build.is_none() && must_pull(service, pull, present) {
            to_pull.insert(image);
        }
    }
    if !to_pull.is_empty() {
        let images: Vec<String> = to_pull.iter().cloned().collect();
        pull_all(stack, &images, mode, false).await?;
    }
    if !pull_or_build.is_empty() {
        let images: BTreeSet<String> = pull_or_build.iter().map(|(_, i)| i.clone()).collect();
        let images: Vec<String> = images.into_iter().collect();
        // A failed pull is no error here: the service is built instead.
        pull_all(stack, &images, mode, true).await?;
        for (name, image) in pull_or_build {
            match stack.client().inspect_image(&image).await {
                Ok(i) => {
                    ids.insert(image, Some(i.id));
                }
                Err(_) => to_build.push(name),
            }
        }
    }
    if !to_build.is_empty() {
        let options = ServiceBuildOptions {
            quiet: mode == Mode::Quiet,
            ..ServiceBuildOptions::default()
        };
        let built = build_services(project, &to_build, stack.client(), &options).await?;
        for (name, id) in built {
            ids.insert(
                image_name(project, &name, &project.services[&name]),
                Some(id),
            );
        }
    }
    for image in &to_pull {
        let id = stack.client().inspect_image(image).await.ok().map(|i| i.id);
        ids.insert(image.clone(), id);
    }
    Ok(selected
        .into_iter()
        .filter_map(|name| {
            let image = image_name(project, &name, &project.services[&name]);
            Some((name, ids.get(&image)?.clone()?))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(text: &str) -> Project {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("compose.yaml"), text).expect("write compose file");
        let opts = berth_compose::LoadOptions {
            cwd: dir.path().to_path_buf(),
            project_name: Some("p".into()),
            ..berth_compose::LoadOptions::default()
        };
        berth_compose::load_project(&opts)
            .expect("load project")
            .project
    }

    #[test]
    fn build_policies_follow_docker_compose() {
        let p = project(
            "services:\n  b: {build: ., image: app}\n  pb: {build: ., pull_policy: build}\n  i: {image: x}\n",
        );
        let (b, pb, i) = (&p.services["b"], &p.services["pb"], &p.services["i"]);
        let m = BuildPolicy::Missing;
        assert!(must_build("b", b, m, false).unwrap(), "absent: built");
        assert!(!must_build("b", b, m, true).unwrap(), "present: kept");
        assert!(must_build("pb", pb, m, true).unwrap(), "pull_policy: build");
        assert!(must_build("b", b, BuildPolicy::Always, true).unwrap());
        assert!(!must_build("b", b, BuildPolicy::Never, true).unwrap());
        let e = must_build("b", b, BuildPolicy::Never, false).unwrap_err();
        assert!(e.to_string().contains("--no-build"), "{e}");
        assert!(!must_build("i", i, BuildPolicy::Always, false).unwrap());
        assert_eq!(BuildPolicy::from_flags(true, false), BuildPolicy::Always);
        assert_eq!(BuildPolicy::from_flags(false, true), BuildPolicy::Never);
    }

    #[test]
    fn an_absent_image_of_a_built_service_is_pulled_first() {
        let p = project(
            "services:\n  b: {build: ., image: app}\n  nb: {build: .}\n  \
             pb: {build: ., image: app, pull_policy: build}\n  \
             m: {build: ., image: app, pull_policy: missing}\n",
        );
        let m = BuildPolicy::Missing;
        assert!(pull_before_build(&p.services["b"], m, "missing", false));
        assert!(pull_before_build(&p.services["m"], m, "missing", false));
        assert!(
            !pull_before_build(&p.services["b"], m, "missing", true),
            "present"
        );
        assert!(
            !pull_before_build(&p.services["nb"], m, "missing", false),
            "no image:"
        );
        assert!(
            !pull_before_build(&p.services["pb"], m, "missing", false),
            "policy build"
        );
        assert!(!pull_before_build(
            &p.services["b"],
            BuildPolicy::Always,
            "missing",
            false
        ));
        assert!(
            !pull_before_build(&p.services["b"], m, "never", false),
            "--pull never"
        );
    }

    #[test]
    fn pulls_follow_the_flag_then_the_service_policy() {
        let p = project(
            "services:\n  a: {image: x, pull_policy: always}\n  n: {image: y, pull_policy: never}\n  d: {image: z}\n  w: {image: w, depends_on: [d]}\n",
        );
        assert!(must_pull(&p.services["a"], "missing", true));
        assert!(!must_pull(&p.services["n"], "missing", false));
        assert!(must_pull(&p.services["n"], "always", true), "--pull wins");
        assert!(must_pull(&p.services["d"], "missing", false));
        assert!(!must_pull(&p.services["d"], "missing", true));
        assert!(!must_pull(&p.services["d"], "never", false));
        let sel = selection(&p, &["w".into()], false);
        assert_eq!(sel.into_iter().collect::<Vec<_>>(), vec!["d", "w"]);
        let sel = selection(&p, &["w".into()], true);
        assert_eq!(sel.into_iter().collect::<Vec<_>>(), vec!["w"]);
    }
}
