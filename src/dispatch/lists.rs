//! `*/list`: one page of the virtual server's catalog, cut at the client's cursor. With no policy
//! the page is a copy of items serialized when the table was built; with policies, only the items
//! the caller may use are listed, by the same decision that would refuse their use (a tool is
//! listed when `tools/call` of it would be allowed, a resource when `resources/read` would).

use serde_json::Value;

use super::{Request, page_size};
use crate::error::GatewayError;
use crate::live::Snapshot;
use crate::policy::Subject;
use crate::protocol::{ItemKind, RawJson};
use crate::routing::{Catalog, render_page};

pub(super) fn page(
    snapshot: &Snapshot,
    request: &Request,
    catalog: &Catalog,
    kind: ItemKind,
) -> Result<RawJson, GatewayError> {
    let offset = cursor(request)?;
    let size = page_size(snapshot);
    let page = if snapshot.policy.is_empty() {
        catalog.page(kind, offset, size)
    } else {
        // An item is listed when the method that uses it would be allowed.
        let method = crate::policy::use_method(kind);
        let visible: Vec<_> = catalog
            .list(kind)
            .iter()
            .filter(|item| {
                let subject = Subject {
                    caller: request.caller(),
                    virtual_server: request.virtual_server(),
                    method,
                    item: Some(item),
                    uri: None,
                    listing: true,
                };
                snapshot.policy.check(&subject).is_ok()
            })
            .collect();
        render_page(kind, &visible, offset, size)
    };
    page.ok_or_else(invalid_cursor)
}

/// Where the page starts: the `cursor` a previous page handed out (an offset), or the start.
fn cursor(request: &Request) -> Result<usize, GatewayError> {
    let fields = super::resolve::object(request)?;
    match fields.get("cursor") {
        None | Some(Value::Null) => Ok(0),
        Some(Value::String(c)) => c.parse().map_err(|_| invalid_cursor()),
        Some(_) => Err(invalid_cursor()),
    }
}

fn invalid_cursor() -> GatewayError {
    GatewayError::invalid_params("invalid cursor")
}
