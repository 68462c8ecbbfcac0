//! `POST /build`: the options Docker's query string carries and the JSON messages of the
//! build's progress stream.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What to build from the tar context of the request body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildOptions {
    /// `dockerfile`: path of the Dockerfile inside the context (default `Dockerfile`).
    pub dockerfile: String,
    /// `t` (repeated): names to tag the image with.
    pub tags: Vec<String>,
    /// `buildargs` (JSON object).
    pub build_args: BTreeMap<String, String>,
    /// `labels` (JSON object).
    pub labels: BTreeMap<String, String>,
    /// `target`.
    pub target: Option<String>,
    /// `nocache`.
    pub no_cache: bool,
    /// `q`: only the image id is streamed.
    pub quiet: bool,
    /// `networkmode` (`default`, `none`, `host`).
    pub network: String,
}

/// One message of the build stream (`{"stream": …}`, `{"aux": {"ID": …}}`, `{"error": …}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BuildMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aux: Option<BuildAux>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(rename = "errorDetail", skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<ErrorDetail>,
}

/// `aux` of the final message: the image id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildAux {
    #[serde(rename = "ID")]
    pub id: String,
}

/// `errorDetail` of an error message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorDetail {
    pub message: String,
}

impl BuildMessage {
    /// A `{"stream": text}` message.
    pub fn stream(text: impl Into<String>) -> Self {
        BuildMessage {
            stream: Some(text.into()),
            ..BuildMessage::default()
        }
    }

    /// An `{"error": …, "errorDetail": {"message": …}}` message.
    pub fn error(message: impl Into<String>) -> Self {
        let message = message.into();
        BuildMessage {
            error: Some(message.clone()),
            error_detail: Some(ErrorDetail { message }),
            ..BuildMessage::default()
        }
    }
}
