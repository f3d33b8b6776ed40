//! Tool shaping: how the file changes an upstream's tool before clients see it (title,
//! description, annotations, arguments hidden, fixed or defaulted), and the pin that detects a
//! change of the upstream's own definition.

use serde_json::{Map, Value};

/// The shaping of one tool, by its upstream-side name.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ToolShape {
    pub tool: String,
    pub title: Option<String>,
    pub description: Option<String>,
    /// Merged over the upstream's annotations, key by key.
    pub annotations: Map<String, Value>,
    pub arguments: Vec<(String, ArgumentShape)>,
    /// `sha256:<hex>` of the upstream's definition (`protocol::pin::definition_hash`).
    pub pin: Option<String>,
    pub on_change: OnChange,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ArgumentShape {
    /// Hidden from clients and always sent with this value.
    Fixed(Value),
    /// Shown with this default, and sent with it when the client leaves it out.
    Default(Value),
    /// Hidden from clients and never sent.
    Hidden,
}

/// What happens when a pinned tool's upstream definition no longer matches its pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum OnChange {
    /// Serve the changed tool and report the drift (log, `/readyz`, `check --live`).
    #[default]
    Warn,
    /// Withhold the tool until the pin is updated, and report the drift.
    Block,
}
