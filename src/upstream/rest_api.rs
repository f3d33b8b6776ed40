//! A REST API as an upstream connection: no MCP session; `tools/list` and `tools/call` are
//! answered by `rest::Api`, so a REST API is supervised, listed and routed like any upstream.

use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;

use super::UpstreamError;
use super::connection::{BoxFuture, Connection};
use super::wire::Inbox;
use crate::model::RestApi;
use crate::protocol::RawJson;
use crate::protocol::jsonrpc::{self, RpcError};
use crate::session::Link;

pub(super) struct RestConnection {
    api: Arc<crate::rest::Api>,
    /// Held (never written) so the supervisor's event loop sees a live connection.
    _inbox: Inbox,
}

impl RestConnection {
    pub(super) fn new(name: &str, api: &RestApi, inbox: Inbox) -> Result<Self, UpstreamError> {
        let api = crate::rest::Api::new(name, api).map_err(|e| UpstreamError::Transport(name.into(), e))?;
        Ok(RestConnection { api: Arc::new(api), _inbox: inbox })
    }

    /// The MCP methods a REST API answers: listing its tools and calling one.
    async fn answer(&self, method: &str, params: Option<&RawValue>) -> Result<RawJson, UpstreamError> {
        let refuse = |code, message: String| {
            UpstreamError::Rpc(RawValue::from_string(RpcError::new(code, message).to_json()).expect("errors are JSON"))
        };
        match method {
            "tools/list" => Ok(jsonrpc::raw(&self.api.list())),
            "tools/call" => {
                let params: serde_json::Value = params
                    .map(|p| serde_json::from_str(p.get()))
                    .transpose()
                    .map_err(|e| refuse(jsonrpc::INVALID_PARAMS, format!("unreadable params: {e}")))?
                    .unwrap_or_default();
                match self.api.call(&params).await {
                    Ok(result) => Ok(jsonrpc::raw(&result)),
                    Err(e) => Err(refuse(jsonrpc::INVALID_PARAMS, e)),
                }
            }
            "ping" => Ok(jsonrpc::raw(&serde_json::json!({}))),
            other => Err(refuse(jsonrpc::METHOD_NOT_FOUND, format!("method not found: {other}"))),
        }
    }
}

impl Connection for RestConnection {
    fn request<'a>(
        &'a self,
        method: &'a str,
        params: Option<&'a RawValue>,
        _timeout: Duration,
        _client: Option<&'a Link>,
    ) -> BoxFuture<'a, Result<RawJson, UpstreamError>> {
        Box::pin(self.answer(method, params))
    }

    fn notify<'a>(&'a self, _method: &'a str, _params: Option<&'a RawValue>) -> BoxFuture<'a, ()> {
        Box::pin(std::future::ready(()))
    }

    /// Each call stands alone; there is no connection to lose.
    fn closed(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::pending())
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::ready(()))
    }
}
