//! JSON shapes of `GET /images/{name}/history` and `POST /images/prune`, and the options of
//! `POST /images/load`.

use serde::{Deserialize, Serialize};

use super::{ImageDeleteItem, null_default};

/// One entry of `GET /images/{name}/history` (newest first).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HistoryResponseItem {
    /// The image id on the newest entry, `<missing>` below it.
    pub id: String,
    /// Unix seconds.
    pub created: i64,
    pub created_by: String,
    #[serde(deserialize_with = "null_default")]
    pub tags: Vec<String>,
    pub size: i64,
    pub comment: String,
}

/// The answer of `POST /images/prune`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImagePruneResponse {
    #[serde(deserialize_with = "null_default")]
    pub images_deleted: Vec<ImageDeleteItem>,
    pub space_reclaimed: u64,
}
