//! `docker history` and `docker image prune` over the store: an image's build steps from its
//! config history matched to its layers, and removal of the images nothing needs.
//!
//! The store collects images no reference keeps as soon as they lose their last name, so
//! there are no lingering dangling images: a plain prune is a garbage collection; `all`
//! also drops the names of every image no container uses.

use crate::digest::Digest;
use crate::images::{ImageError, ImageStore, familiar};
use crate::index::Garbage;

/// One step of an image's history, newest first as Docker lists them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The image id on the newest entry; `None` (Docker's `<missing>`) below it.
    pub id: Option<Digest>,
    /// RFC 3339 creation time, if recorded.
    pub created: Option<String>,
    /// The command that made the step.
    pub created_by: String,
    /// The image's references, on the newest entry.
    pub tags: Vec<String>,
    /// Size of the step's layer blob (0 for steps without a layer).
    pub size: u64,
    /// The step's comment.
    pub comment: String,
}

/// What a prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// References removed (familiar form), with `all`.
    pub untagged: Vec<String>,
    /// What garbage collection deleted.
    pub deleted: Garbage,
    /// Bytes of layer blobs freed.
    pub reclaimed: u64,
}

impl ImageStore {
    /// The history of `reference`, newest step first. Steps come from the config's `history`
    /// (each non-empty step owns the next layer); layers it does not account for are listed
    /// as steps of their own.
    pub fn history(&self, reference: &str) -> Result<Vec<HistoryEntry>, ImageError> {
        let idx = self.read_index()?;
        let (manifest, record) = self.find(&idx, reference)?;
        let config = self.read_config(&record.config)?;
        let mut layers = record.layers.iter();
        let mut out = Vec::new();
        for h in config.history().clone().unwrap_or_default() {
            let size = if h.empty_layer().unwrap_or(false) {
                0
            } else {
                layers.next().map_or(0, |l| l.size)
            };
            out.push(HistoryEntry {
                created: h.created().clone(),
                created_by: h.created_by().clone().unwrap_or_default(),
                size,
                comment: h.comment().clone().unwrap_or_default(),
                ..HistoryEntry::default()
            });
        }
        for l in layers {
            out.push(HistoryEntry {
                created: record.created.clone(),
                size: l.size,
                ..HistoryEntry::default()
            });
        }
        if out.is_empty() {
            out.push(HistoryEntry {
                created: record.created.clone(),
                ..HistoryEntry::default()
            });
        }
        out.reverse();
        out[0].id = Some(record.config.clone());
        out[0].tags = idx.refs_of(&manifest).iter().map(|r| familiar(r)).collect();
        Ok(out)
    }

    /// Removes what no image needs; with `all`, first drops every reference of images no
    /// container uses (`docker image prune -a`).
    pub fn prune(&self, all: bool) -> Result<PruneReport, ImageError> {
        let before = self.read_index()?;
        let untagged = if all {
            self.with_index(|idx| {
                let unused: Vec<String> = idx
                    .refs
                    .iter()
                    .filter(|(_, m)| idx.leases_of(m).is_empty())
                    .map(|(r, _)| r.clone())
                    .collect();
                for r in &unused {
                    idx.refs.remove(r);
                }
                Ok(unused.iter().map(|r| familiar(r)).collect::<Vec<_>>())
            })?
        } else {
            Vec::new()
        };
        let deleted = self.gc()?;
        let mut sizes = std::collections::HashMap::new();
        for rec in before.images.values() {
            for l in &rec.layers {
                sizes.insert(l.blob.clone(), l.size);
            }
        }
        let reclaimed = deleted.blobs.iter().filter_map(|b| sizes.get(b)).sum();
        Ok(PruneReport {
            untagged,
            deleted,
            reclaimed,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::images::ImageStore;
    use crate::import::ImportOptions;

    fn rootfs(marker: &str) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(marker.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, "marker", marker.as_bytes()).unwrap();
        b.into_inner().unwrap()
    }

    fn import(store: &ImageStore, name: &str, marker: &str, changes: &[&str]) -> String {
        let opts = ImportOptions {
            reference: Some(name.to_owned()),
            changes: changes.iter().map(|c| (*c).to_owned()).collect(),
            message: Some("imported for a test".into()),
            created: None,
        };
        store
            .import(&rootfs(marker)[..], &opts)
            .unwrap()
            .id
            .to_string()
    }

    #[test]
    fn history_lists_the_newest_step_with_id_and_tags() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let id = import(&store, "hist:v1", "one", &["CMD [\"sh\"]"]);
        store.tag("hist:v1", "hist:v2").unwrap();
        let h = store.history("hist:v1").unwrap();
        assert_eq!(h[0].id.as_ref().map(ToString::to_string), Some(id));
        assert_eq!(h[0].tags, ["hist:v1", "hist:v2"]);
        assert!(h[0].size > 0, "{h:?}");
        assert!(
            h.iter()
                .skip(1)
                .all(|e| e.id.is_none() && e.tags.is_empty())
        );
        assert!(store.history("nope:v1").is_err());
    }

    #[test]
    fn prune_all_spares_images_containers_use() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        import(&store, "keep:v1", "kept", &[]);
        import(&store, "drop:v1", "dropped", &[]);
        let plain = store.prune(false).unwrap();
        assert!(plain.untagged.is_empty() && plain.deleted.images.is_empty());
        assert_eq!(store.list().unwrap().len(), 2);
        let _mounts = store.prepare_rootfs("c1", "keep:v1").unwrap();
        let all = store.prune(true).unwrap();
        assert_eq!(all.untagged, ["drop:v1"]);
        assert_eq!(all.deleted.images.len(), 1);
        assert!(all.reclaimed > 0);
        let left: Vec<_> = store
            .list()
            .unwrap()
            .into_iter()
            .flat_map(|s| s.references)
            .collect();
        assert_eq!(left, ["keep:v1"]);
        store.release("c1").unwrap();
    }
}
