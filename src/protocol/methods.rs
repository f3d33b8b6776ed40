//! The one method table: every client-to-server method the gateway answers or routes, with what
//! it routes by, whether the upstream may ask the client something while serving it, how its
//! answer may travel, whether its result may be cached, and in which era it exists. Dispatch and
//! every binding read it; nobody keeps a list of their own.

/// What a request names in its params: the item it routes by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// Nothing: answered by the gateway, or fanned out.
    None,
    /// A tool or prompt by its public `name`.
    Name,
    /// A resource by `uri`.
    Uri,
    /// A prompt or resource named by `ref` (`completion/complete`).
    Ref,
    /// A task by its public `taskId`.
    TaskId,
}

impl Target {
    /// The params field a stateless request mirrors into `Mcp-Name`, when it has one.
    pub(crate) fn name_field(self) -> Option<&'static str> {
        match self {
            Target::Name => Some("name"),
            Target::Uri => Some("uri"),
            Target::TaskId => Some("taskId"),
            Target::None | Target::Ref => None,
        }
    }
}

/// How the answer to a request may travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// One result, nothing before it.
    Plain,
    /// Progress, log messages or questions to the client may come first (an event stream), when
    /// the request asks for progress or the client can be asked.
    MayStream,
    /// A stream of notifications that ends only when the client closes it.
    Stream,
}

/// In which protocol era a method exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Eras {
    Both,
    /// Session-based versions only (removed by, or never part of, the stateless revision).
    Session,
    /// The stateless revision only.
    Stateless,
}

/// One row of the table.
#[derive(Debug)]
pub(crate) struct Method {
    pub name: &'static str,
    pub target: Target,
    /// The upstream may send the client requests (sampling, elicitation, roots) while serving it.
    pub may_ask: bool,
    pub answer: Answer,
    /// Its result may be cached by a stateless client (`ttlMs`, `cacheScope`).
    pub cacheable: bool,
    pub eras: Eras,
}

impl Method {
    /// Whether a stateless client may call it.
    pub(crate) fn stateless(&self) -> bool {
        self.eras != Eras::Session
    }

    /// Whether a session-based client may call it.
    pub(crate) fn session(&self) -> bool {
        self.eras != Eras::Stateless
    }
}

const fn row(name: &'static str, target: Target, may_ask: bool, answer: Answer, cacheable: bool, eras: Eras) -> Method {
    Method { name, target, may_ask, answer, cacheable, eras }
}

use Answer::{MayStream, Plain, Stream};
use Target::{Name, Ref, TaskId, Uri};

/// Every method, client to server.
pub(crate) const METHODS: [Method; 20] = [
    row("initialize", Target::None, false, Plain, false, Eras::Session),
    row("ping", Target::None, false, Plain, false, Eras::Session),
    row("server/discover", Target::None, false, Plain, true, Eras::Stateless),
    row("tools/list", Target::None, false, Plain, true, Eras::Both),
    row("tools/call", Name, true, MayStream, false, Eras::Both),
    row("resources/list", Target::None, false, Plain, true, Eras::Both),
    row("resources/templates/list", Target::None, false, Plain, true, Eras::Both),
    row("resources/read", Uri, true, MayStream, true, Eras::Both),
    row("resources/subscribe", Uri, false, Plain, false, Eras::Session),
    row("resources/unsubscribe", Uri, false, Plain, false, Eras::Session),
    row("prompts/list", Target::None, false, Plain, true, Eras::Both),
    row("prompts/get", Name, true, MayStream, false, Eras::Both),
    row("completion/complete", Ref, true, MayStream, false, Eras::Both),
    row("logging/setLevel", Target::None, false, Plain, false, Eras::Session),
    row("subscriptions/listen", Target::None, false, Stream, false, Eras::Stateless),
    row("tasks/get", TaskId, false, Plain, false, Eras::Both),
    // A task that waits for input asks for it while its client waits for the result.
    row("tasks/result", TaskId, true, MayStream, false, Eras::Session),
    row("tasks/cancel", TaskId, false, Plain, false, Eras::Both),
    row("tasks/list", Target::None, false, Plain, false, Eras::Session),
    // The tasks extension's way to give a task the input it waits for.
    row("tasks/update", TaskId, false, Plain, false, Eras::Stateless),
];

/// The row of `name`, when the gateway knows the method.
pub(crate) fn find(name: &str) -> Option<&'static Method> {
    METHODS.iter().find(|m| m.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_is_listed_once() {
        for (i, m) in METHODS.iter().enumerate() {
            assert!(METHODS[i + 1..].iter().all(|other| other.name != m.name), "{} twice", m.name);
        }
        assert_eq!(find("tools/call").map(|m| m.target), Some(Target::Name));
        assert!(find("initialize").is_some_and(|m| !m.stateless()));
        assert!(find("subscriptions/listen").is_some_and(|m| !m.session() && m.answer == Answer::Stream));
        assert!(find("nope").is_none());
    }
}
