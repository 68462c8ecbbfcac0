//! Client calls for looking into and freezing running containers: `top`, `pause`, `unpause`.

use hyper::Method;

use super::{Client, ClientResult};
use crate::api::models::ContainerTopResponse;

impl Client {
    /// `GET /containers/{id}/top`.
    pub async fn top_container(&self, id: &str) -> ClientResult<ContainerTopResponse> {
        self.call(Method::GET, &format!("/containers/{id}/top"), "", None)
            .await
    }

    /// `POST /containers/{id}/pause`.
    pub async fn pause_container(&self, id: &str) -> ClientResult<()> {
        self.call_empty(Method::POST, &format!("/containers/{id}/pause"), "", None)
            .await
    }

    /// `POST /containers/{id}/unpause`.
    pub async fn unpause_container(&self, id: &str) -> ClientResult<()> {
        self.call_empty(Method::POST, &format!("/containers/{id}/unpause"), "", None)
            .await
    }
}
