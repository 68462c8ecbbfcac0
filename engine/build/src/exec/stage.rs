//! One build run: walks the planned stages in order, replays each step (config from
//! [`crate::prepare`], layers from COPY/ADD/WORKDIR entries or a RUN), consults the cache,
//! and assembles and stores the target stage's image.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use berth_image::BuiltLayer;
use berth_image::digest::{Algorithm, Digest};
use berth_image::import::{go_arch, rfc3339};
use oci_spec::image::{Config, History};
use serde_json::json;

use super::cache::{CachedLayer, key};
use super::copy::{CopyInput, Sources, add_parents, plan_copy};
use super::layer::{Entries, LayerEntry, diff_upper, insert, write_layer};
use super::view::MergedView;
use super::{
    BuildError, BuildEvent, BuildRequest, Builder, Built, LAYER_MEDIA_TYPE, RunSpec, StepRunner,
    io_err,
};
use crate::config::{ImageState, normalize_workdir, run_command};
use crate::dockerfile::{CopyArgs, Instruction};
use crate::dockerignore::Matcher;
use crate::expand::{BuildInputs, Platform};
use crate::prepare::{Prepared, Step, prepare};
use crate::stages::Base;

/// The filesystem and config a stage ended with.
#[derive(Debug, Clone)]
struct StageOut {
    layers: Vec<CachedLayer>,
    /// Identity of the filesystem (base id, then one cache key per layer step).
    chain: String,
    image: ImageState,
    /// History of the base, before this stage's own entries.
    base_history: Vec<History>,
}

pub(super) struct Run<'b, 'a, R: StepRunner> {
    b: &'b Builder<'a, R>,
    req: &'b BuildRequest,
    events: &'b mut dyn FnMut(BuildEvent),
    prepared: Prepared,
    inputs: BuildInputs,
    ignore: Matcher,
    lines: Vec<String>,
    total: usize,
    index: usize,
    runs: usize,
    hits: usize,
    done: HashMap<usize, StageOut>,
}

static SANDBOXES: AtomicU64 = AtomicU64::new(0);

fn sandbox_id() -> String {
    let n = SANDBOXES.fetch_add(1, Ordering::Relaxed);
    let seed = format!(
        "{}-{}-{:?}",
        std::process::id(),
        n,
        std::time::SystemTime::now()
    );
    Digest::of_bytes(Algorithm::Sha256, seed.as_bytes()).hex()[..12].to_string()
}

/// Removes a RUN's scratch directory when dropped.
struct ScratchDir(PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl<'b, 'a, R: StepRunner> Run<'b, 'a, R> {
    pub(super) fn new(
        b: &'b Builder<'a, R>,
        req: &'b BuildRequest,
        events: &'b mut dyn FnMut(BuildEvent),
    ) -> Result<Self, BuildError> {
        let host = Platform::parse(&format!("linux/{}", go_arch()))
            .map_err(crate::prepare::PrepareError::from)?;
        let inputs = BuildInputs {
            build_args: req.build_args.clone(),
            build_platform: host.clone(),
            target_platform: host,
        };
        let prepared = prepare(&req.dockerfile, &inputs, req.target.as_deref())?;
        let ignore_path = req.context.join(".dockerignore");
        let ignore = match std::fs::read_to_string(&ignore_path) {
            Ok(text) => Matcher::parse(&text)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Matcher::default(),
            Err(e) => return Err(io_err("read", &ignore_path)(e)),
        };
        let total = prepared
            .plan
            .order
            .iter()
            .map(|&i| 1 + prepared.dockerfile.stages[i].instructions.len())
            .sum();
        let lines = req.dockerfile.lines().map(str::to_string).collect();
        Ok(Run {
            b,
            req,
            events,
            prepared,
            inputs,
            ignore,
            lines,
            total,
            index: 0,
            runs: 0,
            hits: 0,
            done: HashMap::new(),
        })
    }

    fn text(&self, line: usize, end: usize) -> String {
        let mut out = Vec::new();
        for l in self
            .lines
            .get(line.saturating_sub(1)..end.min(self.lines.len()))
            .unwrap_or_default()
        {
            let t = l.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            out.push(t.trim_end_matches('\\').trim_end().to_string());
        }
        out.join(" ")
    }

    fn step_event(&mut self, text: String) {
        self.index += 1;
        (self.events)(BuildEvent::Step {
            index: self.index,
            total: self.total,
            text,
        });
    }

    pub(super) fn build(mut self) -> Result<Built, BuildError> {
        for unused in self.prepared.unused_build_args(&self.inputs) {
            (self.events)(BuildEvent::Warning(format!(
                "[Warning] One or more build-args [{unused}] were not consumed"
            )));
        }
        let order = self.prepared.plan.order.clone();
        for i in order {
            let out = self.stage(i)?;
            self.done.insert(i, out);
        }
        let target = self.prepared.plan.target;
        let out = self
            .done
            .remove(&target)
            .ok_or_else(|| BuildError::Unsupported {
                line: 0,
                what: "a target stage that was not built".into(),
            })?;
        self.commit(out)
    }

    fn view(&self, layers: &[CachedLayer]) -> Result<MergedView, BuildError> {
        let dirs = layers
            .iter()
            .map(|l| self.b.store.unpacked_layer(&l.diff_id, &l.blob))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(MergedView::new(dirs))
    }

    fn base(&self, i: usize) -> Result<(StageOut, Vec<String>), BuildError> {
        let line = self.prepared.dockerfile.stages[i].line;
        match &self.prepared.plan.bases[i] {
            Base::Scratch => Ok((
                StageOut {
                    layers: Vec::new(),
                    chain: "scratch".into(),
                    image: ImageState::default(),
                    base_history: Vec::new(),
                },
                Vec::new(),
            )),
            Base::Stage(s) => {
                let parent = self.done.get(s).ok_or_else(|| BuildError::Unsupported {
                    line,
                    what: format!("stage {s} used before it is built"),
                })?;
                let mut out = parent.clone();
                out.base_history.extend(out.image.history.drain(..));
                let on_build = out.image.on_build.clone();
                out.image = ImageState::from_base(out.image.config.clone());
                Ok((out, on_build))
            }
            Base::Image(name) => self.image_base(name, line),
        }
    }

    fn image_base(&self, name: &str, line: usize) -> Result<(StageOut, Vec<String>), BuildError> {
        let store = self.b.store;
        let wrap = |source| BuildError::BaseImage {
            line,
            name: name.to_string(),
            source,
        };
        let summary = store.resolve(name).map_err(wrap)?;
        let manifest = store.read_manifest(&summary.manifest).map_err(wrap)?;
        let raw = store
            .content()
            .read_blob(&summary.id)
            .map_err(|e| wrap(e.into()))?;
        let cfg: oci_spec::image::ImageConfiguration =
            serde_json::from_slice(&raw).map_err(|e| BuildError::Unsupported {
                line,
                what: format!("the config of {name}: {e}"),
            })?;
        let value: serde_json::Value = serde_json::from_slice(&raw).unwrap_or_default();
        let on_build = value["config"]["OnBuild"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let mut layers = Vec::new();
        for (desc, diff) in manifest.layers().iter().zip(cfg.rootfs().diff_ids()) {
            let parse = |s: &str| {
                s.parse::<Digest>().map_err(|e| BuildError::Unsupported {
                    line,
                    what: format!("digest {s} of {name}: {e}"),
                })
            };
            layers.push(CachedLayer {
                diff_id: parse(diff)?,
                blob: parse(&desc.digest().to_string())?,
                size: desc.size(),
                media_type: desc.media_type().to_string(),
            });
        }
        Ok((
            StageOut {
                layers,
                chain: format!("image:{}", summary.id),
                image: ImageState::from_base(cfg.config().clone().unwrap_or_default()),
                base_history: cfg.history().clone().unwrap_or_default(),
            },
            on_build,
        ))
    }

    fn stage(&mut self, i: usize) -> Result<StageOut, BuildError> {
        let st = &self.prepared.dockerfile.stages[i];
        let from_text = self.text(st.line, st.line);
        self.step_event(from_text);
        let (mut out, on_build) = self.base(i)?;
        let base_config: Config = out.image.config.clone();
        let steps = self
            .prepared
            .stage_steps(i, &self.inputs, base_config, &on_build)?;
        for step in &steps.steps {
            let loc = &step.instruction;
            let text = if step.trigger {
                format!("ONBUILD trigger: {}", loc.value.keyword())
            } else {
                self.text(loc.line, loc.end_line)
            };
            self.step_event(text);
            self.step(&mut out, step)?;
        }
        out.image = steps.image;
        Ok(out)
    }

    fn step(&mut self, out: &mut StageOut, step: &Step) -> Result<(), BuildError> {
        let line = step.instruction.line;
        let instr_json = serde_json::to_string(&step.instruction.value).unwrap_or_default();
        match &step.instruction.value {
            Instruction::Run(run) => {
                let cmd = run_command(run, &step.shell);
                if cmd.script.is_some() {
                    return Err(BuildError::Unsupported {
                        line,
                        what: "RUN with a #! heredoc script".into(),
                    });
                }
                if !run.mounts.is_empty() {
                    (self.events)(BuildEvent::Warning(format!(
                        "Dockerfile:{line}: RUN --mount is ignored by this builder"
                    )));
                }
                let network = run
                    .network
                    .clone()
                    .unwrap_or_else(|| self.req.network.clone());
                let k = key(&[
                    &out.chain,
                    "RUN",
                    &instr_json,
                    &step.env.join("\0"),
                    step.user.as_deref().unwrap_or(""),
                    step.workdir.as_deref().unwrap_or(""),
                    &network,
                ]);
                if self.hit(out, &k) {
                    return Ok(());
                }
                let layer = self.run(out, step, cmd.args, network)?;
                self.runs += 1;
                self.push(out, k, layer)
            }
            Instruction::Copy(c) | Instruction::Add(c) => {
                let add = matches!(step.instruction.value, Instruction::Add(_));
                let entries = self.copy_entries(out, step, c, add)?;
                let hash = super::layer::hash_entries(&entries)
                    .map_err(io_err("hash", &self.req.context))?;
                let k = key(&[
                    &out.chain,
                    "COPY",
                    &instr_json,
                    step.workdir.as_deref().unwrap_or(""),
                    &hash,
                ]);
                if self.hit(out, &k) {
                    return Ok(());
                }
                let layer = self.write(&entries)?;
                self.push(out, k, layer)
            }
            Instruction::Workdir(w) => {
                let wd = normalize_workdir(step.workdir.as_deref(), w);
                if wd == "/" {
                    return Ok(());
                }
                let parent = self.view(&out.layers)?;
                let rel = wd.trim_start_matches('/').to_string();
                let rel = parent.resolve(&rel).unwrap_or(rel);
                let mut entries = Entries::new();
                let entry = match parent.metadata(&rel) {
                    Some(md) if md.is_dir() => {
                        use std::os::unix::fs::MetadataExt;
                        LayerEntry::dir(
                            &rel,
                            md.mode() & 0o7777,
                            u64::from(md.uid()),
                            u64::from(md.gid()),
                        )
                    }
                    _ => LayerEntry::dir(&rel, 0o755, 0, 0),
                };
                insert(&mut entries, entry);
                add_parents(&mut entries, &parent);
                let hash = super::layer::hash_entries(&entries)
                    .map_err(io_err("hash", &self.req.context))?;
                let k = key(&[&out.chain, "WORKDIR", &hash]);
                if self.hit(out, &k) {
                    return Ok(());
                }
                let layer = self.write(&entries)?;
                self.push(out, k, layer)
            }
            _ => Ok(()),
        }
    }

    fn copy_entries(
        &self,
        out: &StageOut,
        step: &Step,
        c: &CopyArgs,
        add: bool,
    ) -> Result<Entries, BuildError> {
        let parent = self.view(&out.layers)?;
        let line = step.instruction.line;
        let from_view;
        let sources = match &c.from {
            None => Sources::Context {
                root: &self.req.context,
                ignore: &self.ignore,
            },
            Some(from) => {
                let layers = match self.stage_of(from) {
                    Some(s) => self.done.get(&s).map(|o| o.layers.clone()).ok_or_else(|| {
                        BuildError::Unsupported {
                            line,
                            what: format!("--from={from} before that stage is built"),
                        }
                    })?,
                    None => self.image_base(from, line)?.0.layers,
                };
                from_view = self.view(&layers)?;
                Sources::View(&from_view)
            }
        };
        Ok(plan_copy(&CopyInput {
            args: c,
            add,
            line,
            sources,
            parent: &parent,
            workdir: step.workdir.as_deref(),
        })?)
    }

    fn stage_of(&self, from: &str) -> Option<usize> {
        if let Ok(i) = from.parse::<usize>() {
            return Some(i);
        }
        let lower = from.to_ascii_lowercase();
        self.prepared
            .dockerfile
            .stages
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
    }

    fn hit(&mut self, out: &mut StageOut, k: &str) -> bool {
        if self.req.no_cache {
            return false;
        }
        let content = self.b.store.content();
        let Some(layer) = self.b.cache.get(k, |d| content.blob_path(d)) else {
            return false;
        };
        (self.events)(BuildEvent::UsingCache);
        self.hits += 1;
        out.layers.push(layer);
        out.chain = k.to_string();
        true
    }

    fn push(
        &mut self,
        out: &mut StageOut,
        k: String,
        layer: CachedLayer,
    ) -> Result<(), BuildError> {
        let blob = self.b.store.content().blob_path(&layer.blob);
        self.b
            .cache
            .put(&k, &layer, &blob)
            .map_err(io_err("write build cache", self.b.cache.root()))?;
        (self.events)(BuildEvent::Layer {
            diff_id: layer.diff_id.to_string(),
        });
        out.layers.push(layer);
        out.chain = k;
        Ok(())
    }

    fn write(&self, entries: &Entries) -> Result<CachedLayer, BuildError> {
        let content = self.b.store.content();
        let mut w = content.writer(Algorithm::Sha256, u64::MAX)?;
        write_layer(entries, self.req.epoch, &mut w)
            .map_err(io_err("write layer", &self.req.context))?;
        w.flush()
            .map_err(io_err("write layer", &self.req.context))?;
        let (digest, size) = w.commit(None)?;
        Ok(CachedLayer {
            diff_id: digest.clone(),
            blob: digest,
            size,
            media_type: LAYER_MEDIA_TYPE.to_string(),
        })
    }

    fn run(
        &mut self,
        out: &StageOut,
        step: &Step,
        args: Vec<String>,
        network: String,
    ) -> Result<CachedLayer, BuildError> {
        let line = step.instruction.line;
        let id = sandbox_id();
        let runs = self.b.cache.root().join("runs");
        let scratch = ScratchDir(runs.join(&id));
        let (upper, work, rootfs, empty) = (
            scratch.0.join("upper"),
            scratch.0.join("work"),
            scratch.0.join("rootfs"),
            scratch.0.join("empty"),
        );
        for d in [&upper, &work, &rootfs, &empty] {
            std::fs::create_dir_all(d).map_err(io_err("create", d))?;
        }
        let mut lowers = out
            .layers
            .iter()
            .map(|l| self.b.store.unpacked_layer(&l.diff_id, &l.blob))
            .collect::<Result<Vec<_>, _>>()?;
        if lowers.is_empty() {
            lowers.push(empty);
        }
        let mount = berth_image::snapshot::plan_overlay(&lowers, &upper, &work, page_size())
            .map_err(|e| BuildError::Unsupported {
                line,
                what: format!("this many layers: {e}"),
            })?;
        let spec = RunSpec {
            id: id.clone(),
            dir: scratch.0.clone(),
            mounts: vec![mount],
            rootfs,
            upper: upper.clone(),
            args: args.clone(),
            env: step.env.clone(),
            user: step.user.clone(),
            workdir: step.workdir.clone(),
            network,
        };
        (self.events)(BuildEvent::Running { id: id.clone() });
        let events = &mut self.events;
        let code = self
            .b
            .runner
            .run(&spec, &mut |l| events(BuildEvent::Output(l.to_string())))
            .map_err(|e| BuildError::Runner {
                line,
                source: Box::new(e),
            })?;
        if code != 0 {
            return Err(BuildError::RunFailed {
                line,
                command: args.join(" "),
                code,
            });
        }
        let entries = diff_upper(&upper).map_err(io_err("read changes of", &upper))?;
        self.write(&entries)
    }

    fn commit(self, out: StageOut) -> Result<Built, BuildError> {
        let created = rfc3339(self.req.epoch);
        let mut config = out.image.docker_config_json();
        if !self.req.labels.is_empty() {
            let labels = config
                .as_object_mut()
                .map(|o| o.entry("Labels").or_insert_with(|| json!({})));
            if let Some(serde_json::Value::Object(map)) = labels {
                for (k, v) in &self.req.labels {
                    map.insert(k.clone(), v.clone().into());
                }
            } else if let Some(o) = config.as_object_mut() {
                o.insert("Labels".into(), json!(self.req.labels));
            }
        }
        let history: Vec<serde_json::Value> = out
            .base_history
            .iter()
            .map(|h| serde_json::to_value(h).unwrap_or_default())
            .chain(out.image.history.iter().map(|h| {
                let mut v = serde_json::to_value(h).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("created".into(), created.clone().into());
                }
                v
            }))
            .collect();
        let mut doc = json!({
            "architecture": go_arch(),
            "os": "linux",
            "config": config,
            "created": created,
            "history": history,
            "rootfs": {
                "type": "layers",
                "diff_ids": out.layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>(),
            },
        });
        if let Some(author) = &out.image.author {
            doc["author"] = author.clone().into();
        }
        let bytes = serde_json::to_vec(&doc).map_err(|e| BuildError::Unsupported {
            line: 0,
            what: format!("an image config that does not serialize: {e}"),
        })?;
        let layers: Vec<BuiltLayer> = out
            .layers
            .iter()
            .map(|l| BuiltLayer {
                blob: l.blob.clone(),
                size: l.size,
                media_type: l.media_type.clone(),
            })
            .collect();
        let image = self.b.store.put_image(&bytes, &layers, &self.req.tags)?;
        (self.events)(BuildEvent::Built {
            id: image.id.to_string(),
        });
        for t in &self.req.tags {
            (self.events)(BuildEvent::Tagged { name: t.clone() });
        }
        Ok(Built {
            image,
            runs: self.runs,
            cache_hits: self.hits,
        })
    }
}

fn page_size() -> usize {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096, |n| n as usize)
}
