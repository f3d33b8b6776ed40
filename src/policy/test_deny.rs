//! A test-only policy (debug builds only): `MCPGW_TEST_DENY` names public item keys (tool and
//! prompt names, resource URIs, resource-template URI templates), comma-separated, that no caller
//! may see or use. The integration tests use it to show that every binding's requests pass the
//! one policy seam: the items vanish from lists and every request naming them is refused alike.

use std::collections::HashSet;

use super::{Denial, Policy, Subject};
use crate::error::GatewayError;

/// The variable read when a chain is built.
const VARIABLE: &str = "MCPGW_TEST_DENY";

pub(super) struct DenyItems(HashSet<String>);

/// The policy `MCPGW_TEST_DENY` asks for, if it is set.
pub(super) fn from_env() -> Option<DenyItems> {
    let keys: HashSet<String> =
        std::env::var(VARIABLE).ok()?.split(',').map(str::trim).filter(|k| !k.is_empty()).map(str::to_string).collect();
    (!keys.is_empty()).then_some(DenyItems(keys))
}

impl Policy for DenyItems {
    fn name(&self) -> &'static str {
        "test-deny"
    }

    fn check(&self, subject: &Subject<'_>) -> Result<(), Denial> {
        match subject.item {
            Some(item) if self.0.contains(&item.public_key) => {
                Err(Denial::Refused(GatewayError::forbidden(format!("{} is denied to this caller", item.public_key))))
            }
            _ => Ok(()),
        }
    }
}
