//! The policy seam: an ordered chain of checks on a resolved request. Each policy sees who is
//! calling, which virtual server, which method and which item (never a socket), and allows,
//! hides the item, or refuses with a typed reason. Lists are filtered by the same decisions as
//! calls, so what a caller sees is exactly what it may use. The chain is built from the model at
//! each reload.

mod rules;
#[cfg(debug_assertions)]
mod test_deny;

use crate::error::GatewayError;
use crate::model::Model;
use crate::protocol::ItemKind;
use crate::routing::Published;
use crate::session::Caller;
pub(crate) use rules::covering;

/// What a policy decides on: a request resolved to its virtual server and item.
pub(crate) struct Subject<'a> {
    pub caller: &'a Caller,
    pub virtual_server: &'a str,
    pub method: &'a str,
    /// The item the request names (or, while filtering a list, the listed item).
    pub item: Option<&'a Published>,
    /// The URI a resource request names, when the item is the template it falls under.
    pub uri: Option<&'a str>,
    /// Whether a list is being filtered (`method` is then the one that uses the items).
    pub listing: bool,
}

/// The method that uses an item of this kind: what a listing of it is decided as, and what a
/// subscription or completion of it must also pass.
pub(crate) fn use_method(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Tool => "tools/call",
        ItemKind::Prompt => "prompts/get",
        ItemKind::Resource | ItemKind::ResourceTemplate => "resources/read",
    }
}

/// Why a request may not go on.
#[derive(Debug)]
pub(crate) enum Denial {
    /// The caller may not know the item exists: it is answered as if it did not.
    Hidden,
    /// Refused with this error.
    Refused(GatewayError),
}

/// One check in the chain.
pub(crate) trait Policy: Send + Sync {
    /// Its name, for logs.
    fn name(&self) -> &'static str;
    /// `Err` with how the request is refused when it may not go on.
    fn check(&self, subject: &Subject<'_>) -> Result<(), Denial>;
}

/// The policies of one generation, in order.
#[derive(Default)]
pub(crate) struct Chain {
    policies: Vec<Box<dyn Policy>>,
}

impl Chain {
    /// The chain the model asks for.
    pub(crate) fn build(model: &Model) -> Chain {
        let mut policies: Vec<Box<dyn Policy>> = Vec::new();
        if let Some(rules) = rules::Rules::build(model) {
            policies.push(Box::new(rules));
        }
        #[cfg(debug_assertions)]
        if let Some(deny) = test_deny::from_env() {
            policies.push(Box::new(deny));
        }
        Chain { policies }
    }

    /// A chain of exactly these policies.
    #[cfg(test)]
    pub(crate) fn of(policies: Vec<Box<dyn Policy>>) -> Chain {
        Chain { policies }
    }

    /// Runs every policy in order; the first refusal stops the request.
    pub(crate) fn check(&self, subject: &Subject<'_>) -> Result<(), Denial> {
        for policy in &self.policies {
            if let Err(denied) = policy.check(subject) {
                // Lists are filtered item by item; only refusals of requests are worth a line.
                if !subject.listing {
                    tracing::debug!(
                        policy = policy.name(), caller = ?subject.caller.identity, peer = ?subject.caller.peer,
                        virtual_server = %subject.virtual_server, method = %subject.method,
                        item = subject.item.map_or("", |i| i.public_key.as_str()), denied = ?denied, "denied"
                    );
                }
                return Err(denied);
            }
        }
        Ok(())
    }

    /// Whether no policy is configured: every item of a catalog is visible and usable.
    pub(crate) fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Kind;

    struct DenyMethod(&'static str);

    impl Policy for DenyMethod {
        fn name(&self) -> &'static str {
            "deny-method"
        }
        fn check(&self, subject: &Subject<'_>) -> Result<(), Denial> {
            if subject.method == self.0 { Err(Denial::Refused(GatewayError::forbidden("no"))) } else { Ok(()) }
        }
    }

    #[test]
    fn the_first_refusal_stops_the_chain() {
        let chain = Chain { policies: vec![Box::new(DenyMethod("tools/call")), Box::new(DenyMethod("x"))] };
        let caller = Caller::local();
        let subject = |method| Subject {
            caller: &caller,
            virtual_server: "default",
            method,
            item: None,
            uri: None,
            listing: false,
        };
        assert!(chain.check(&subject("tools/list")).is_ok());
        let Err(Denial::Refused(e)) = chain.check(&subject("tools/call")) else { panic!("tools/call went on") };
        assert_eq!(e.kind, Kind::Forbidden);
        assert!(Chain::default().is_empty());
    }
}
