//! Item lists as an upstream reported them: tools, resources, resource templates and prompts,
//! each kept as its JSON object so unknown fields survive.

use serde_json::{Map, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum ItemKind {
    Tool,
    Resource,
    ResourceTemplate,
    Prompt,
}

impl ItemKind {
    pub(crate) const ALL: [ItemKind; 4] =
        [ItemKind::Tool, ItemKind::Resource, ItemKind::ResourceTemplate, ItemKind::Prompt];

    /// The `*/list` method.
    pub(crate) fn list_method(self) -> &'static str {
        match self {
            ItemKind::Tool => "tools/list",
            ItemKind::Resource => "resources/list",
            ItemKind::ResourceTemplate => "resources/templates/list",
            ItemKind::Prompt => "prompts/list",
        }
    }

    /// The array field of the list result.
    pub(crate) fn list_field(self) -> &'static str {
        match self {
            ItemKind::Tool => "tools",
            ItemKind::Resource => "resources",
            ItemKind::ResourceTemplate => "resourceTemplates",
            ItemKind::Prompt => "prompts",
        }
    }

    /// The field that identifies an item of this kind.
    pub(crate) fn key_field(self) -> &'static str {
        match self {
            ItemKind::Tool | ItemKind::Prompt => "name",
            ItemKind::Resource => "uri",
            ItemKind::ResourceTemplate => "uriTemplate",
        }
    }

    /// The capability an upstream declares to have items of this kind.
    pub(crate) fn capability(self) -> &'static str {
        match self {
            ItemKind::Tool => "tools",
            ItemKind::Resource | ItemKind::ResourceTemplate => "resources",
            ItemKind::Prompt => "prompts",
        }
    }

    /// The notification announcing a change of this kind's list.
    pub(crate) fn list_changed(self) -> &'static str {
        match self {
            ItemKind::Tool => "notifications/tools/list_changed",
            ItemKind::Resource | ItemKind::ResourceTemplate => "notifications/resources/list_changed",
            ItemKind::Prompt => "notifications/prompts/list_changed",
        }
    }
}

/// One item: its identifying key (name, URI or URI template) and its JSON object.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Item {
    pub key: String,
    pub json: Map<String, Value>,
}

impl Item {
    /// Reads an item from a list entry; `None` when it lacks its key field.
    pub(crate) fn from_json(kind: ItemKind, value: Value) -> Option<Item> {
        let Value::Object(json) = value else {
            return None;
        };
        let key = json.get(kind.key_field())?.as_str()?.to_string();
        Some(Item { key, json })
    }
}

/// Everything one upstream currently offers.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ItemSet {
    pub tools: Vec<Item>,
    pub resources: Vec<Item>,
    pub resource_templates: Vec<Item>,
    pub prompts: Vec<Item>,
}

impl ItemSet {
    pub(crate) fn is_empty(&self) -> bool {
        ItemKind::ALL.iter().all(|kind| self.of(*kind).is_empty())
    }

    pub(crate) fn of(&self, kind: ItemKind) -> &[Item] {
        match kind {
            ItemKind::Tool => &self.tools,
            ItemKind::Resource => &self.resources,
            ItemKind::ResourceTemplate => &self.resource_templates,
            ItemKind::Prompt => &self.prompts,
        }
    }

    pub(crate) fn of_mut(&mut self, kind: ItemKind) -> &mut Vec<Item> {
        match kind {
            ItemKind::Tool => &mut self.tools,
            ItemKind::Resource => &mut self.resources,
            ItemKind::ResourceTemplate => &mut self.resource_templates,
            ItemKind::Prompt => &mut self.prompts,
        }
    }
}
