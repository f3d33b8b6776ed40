//! A serde `Deserializer` over the positioned tree. It fills the raw config types directly,
//! records the position of every key path, and reports every unknown key (with a did-you-mean)
//! instead of stopping at the first.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};

use super::diagnostic::{Diagnostic, Pos, did_you_mean};
use super::syntax::Syntax;
use super::tree::{Entry, Node, Value};

/// Key path → where it was written. Filled while deserializing; read by validation.
#[derive(Clone, Debug, Default)]
pub(crate) struct Positions(HashMap<String, Pos>);

impl Positions {
    /// The position of the key `path` exactly as written, if it was.
    pub(crate) fn get(&self, path: &str) -> Option<Pos> {
        self.0.get(path).copied()
    }

    /// Every written key path with its position.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&str, Pos)> {
        self.0.iter().map(|(p, pos)| (p.as_str(), *pos))
    }

    /// The position of `path`, or of its nearest written ancestor.
    pub(crate) fn of(&self, path: &str) -> Pos {
        let mut p = path;
        loop {
            if let Some(pos) = self.0.get(p) {
                return *pos;
            }
            match p.rfind(['.', '[']) {
                Some(i) => p = &p[..i],
                None => {
                    return self.0.get("").copied().unwrap_or(Pos { line: 1, column: 1 });
                }
            }
        }
    }
}

/// At most this many reads of one file: each leaves out one more unusable value.
const MAX_PASSES: usize = 64;

/// What reading a tree gave.
pub(crate) struct Read<T> {
    pub value: T,
    pub positions: Positions,
    /// Unknown keys and values of the wrong type, in file order.
    pub findings: Vec<Diagnostic>,
    /// Key paths that held an unknown key or whose value was left out: later checks say nothing
    /// at these paths or right above them, since their problem is already reported.
    pub left_out: Vec<String>,
}

/// Deserializes `T` from the tree; returns it with the positions and every finding, errors
/// included. A value of the wrong type is reported and then left out (made null, or removed when
/// null will not do either) and the tree read again, so one pass over a file reports every such
/// mistake, and validation still sees the rest of the file. `Err` only when nothing usable is
/// left (the document itself is not a mapping).
pub(crate) fn from_tree<T: de::DeserializeOwned>(root: &Node, syntax: Syntax) -> Result<Read<T>, Vec<Diagnostic>> {
    let mut tree = std::borrow::Cow::Borrowed(root);
    let mut findings: Vec<Diagnostic> = Vec::new();
    // Paths whose value was left out, or that hold an unknown key: errors right above them are
    // consequences (a required key that went missing with them), not news.
    let mut failed: Vec<String> = Vec::new();
    let mut attempts: HashMap<String, u8> = HashMap::new();
    for _ in 0..MAX_PASSES {
        let ctx = Ctx::default();
        ctx.positions.borrow_mut().0.insert(String::new(), tree.pos);
        let result = T::deserialize(NodeDe { node: &tree, path: String::new(), ctx: &ctx });
        for d in ctx.findings.into_inner() {
            if !findings.contains(&d) {
                failed.push(d.path.clone());
                findings.push(d);
            }
        }
        let e = match result {
            Ok(value) => {
                findings.sort_by_key(|d| (d.line, d.column));
                return Ok(Read { value, positions: ctx.positions.into_inner(), findings, left_out: failed });
            }
            Err(e) => e,
        };
        let (pos, path) = e.at.clone().unwrap_or((tree.pos, String::new()));
        if !failed.iter().any(|f| parent(f) == Some(path.as_str())) && !failed.contains(&path) {
            let help = match e.missing {
                Some(field) => Some(format!("add {} here", syntax.key(field))),
                None => e.help,
            };
            findings.push(Diagnostic::error(pos, path.clone(), e.message).with_help_opt(help));
        }
        failed.push(path.clone());
        let attempt = attempts.entry(path.clone()).or_default();
        if path.is_empty() || !leave_out(tree.to_mut(), "", &path, *attempt) {
            break;
        }
        *attempt += 1;
    }
    findings.sort_by_key(|d| (d.line, d.column));
    Err(findings)
}

/// `a.b` for `a.b.c` and `a.b[2]`; `""` (the document) for a top-level key; `None` for the document.
pub(crate) fn parent(path: &str) -> Option<&str> {
    match path.rfind(['.', '[']) {
        Some(i) => Some(&path[..i]),
        None if path.is_empty() => None,
        None => Some(""),
    }
}

/// Makes the value at `target` null (first attempt) or removes it from its mapping or list.
/// Paths are rebuilt as the deserializer builds them, so keys holding dots match exactly.
fn leave_out(node: &mut Node, path: &str, target: &str, attempt: u8) -> bool {
    let children: Vec<(String, usize)> = match &node.value {
        Value::Map(entries) => entries.iter().enumerate().map(|(i, e)| (join(path, &e.key), i)).collect(),
        Value::Seq(items) => (0..items.len()).map(|i| (format!("{path}[{i}]"), i)).collect(),
        _ => return false,
    };
    for (child_path, i) in children {
        let child = match &mut node.value {
            Value::Map(entries) => &mut entries[i].value,
            Value::Seq(items) => &mut items[i],
            _ => unreachable!("only containers have children"),
        };
        if child_path == target {
            match attempt {
                0 => {
                    child.value = Value::Null;
                    child.text = None;
                }
                1 => match &mut node.value {
                    Value::Map(entries) => drop(entries.remove(i)),
                    Value::Seq(items) => drop(items.remove(i)),
                    _ => unreachable!("only containers have children"),
                },
                _ => return false,
            }
            return true;
        }
        let prefix = target.strip_prefix(child_path.as_str());
        if prefix.is_some_and(|rest| rest.starts_with(['.', '['])) && leave_out(child, &child_path, target, attempt) {
            return true;
        }
    }
    false
}

impl Diagnostic {
    fn with_help_opt(self, help: Option<String>) -> Self {
        match help {
            Some(h) => self.with_help(h),
            None => self,
        }
    }
}

#[derive(Default)]
struct Ctx {
    positions: RefCell<Positions>,
    findings: RefCell<Vec<Diagnostic>>,
}

#[derive(Debug)]
pub(crate) struct DeError {
    message: String,
    help: Option<String>,
    at: Option<(Pos, String)>,
    /// The required key that is missing (its help is spelt in the file's syntax).
    missing: Option<&'static str>,
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError { message: msg.to_string(), help: None, at: None, missing: None }
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DeError { message: format!("expected {exp}, found {}", describe(&unexp)), help: None, at: None, missing: None }
    }

    fn missing_field(field: &'static str) -> Self {
        DeError { message: format!("missing required key `{field}`"), help: None, at: None, missing: Some(field) }
    }
}

fn describe(u: &de::Unexpected<'_>) -> String {
    match u {
        de::Unexpected::Str(s) => format!("the string \"{s}\""),
        de::Unexpected::Map => "a mapping".into(),
        de::Unexpected::Seq => "a list".into(),
        de::Unexpected::Unit => "nothing (null)".into(),
        other => other.to_string(),
    }
}

struct NodeDe<'a> {
    node: &'a Node,
    path: String,
    ctx: &'a Ctx,
}

impl<'a> NodeDe<'a> {
    fn locate(&self, mut e: DeError) -> DeError {
        if e.at.is_none() {
            e.at = Some((self.node.pos, self.path.clone()));
        }
        e
    }

    fn mismatch(&self, expected: &str) -> DeError {
        DeError {
            message: format!("expected {expected}, found {}", self.node.value.kind()),
            help: None,
            at: Some((self.node.pos, self.path.clone())),
            missing: None,
        }
    }

    fn child(&self, path: String, node: &'a Node) -> NodeDe<'a> {
        NodeDe::new(node, path, self.ctx)
    }

    /// Errors about a scalar point at the value; errors about a section point at its key.
    fn new(node: &'a Node, path: String, ctx: &'a Ctx) -> Self {
        // An empty value (`key:` with nothing after it) keeps the key's position.
        if !matches!(node.value, Value::Map(_) | Value::Seq(_) | Value::Null) {
            ctx.positions.borrow_mut().0.insert(path.clone(), node.pos);
        }
        NodeDe { node, path, ctx }
    }

    fn scalar_text(&self) -> Option<String> {
        match &self.node.value {
            Value::Str(s) => Some(s.clone()),
            Value::Bool(_) | Value::Int(_) | Value::Float(_) => self.node.text.clone(),
            _ => None,
        }
    }

    fn map_access(&self, entries: &'a [Entry], known: Option<&'static [&'static str]>) -> EntriesAccess<'a> {
        let mut kept = Vec::with_capacity(entries.len());
        for entry in entries {
            let path = join(&self.path, &entry.key);
            self.ctx.positions.borrow_mut().0.insert(path.clone(), entry.key_pos);
            if let Some(fields) = known
                && !fields.contains(&entry.key.as_str())
            {
                let mut d = Diagnostic::error(entry.key_pos, path, format!("unknown key \"{}\"", entry.key));
                d = match did_you_mean(&entry.key, fields.iter().copied()) {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None => d.with_help(format!("valid keys here: {}", fields.join(", "))),
                };
                self.ctx.findings.borrow_mut().push(d);
                continue;
            }
            kept.push(entry);
        }
        EntriesAccess { entries: kept.into_iter(), value: None, parent: self.path.clone(), ctx: self.ctx }
    }
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() { key.to_string() } else { format!("{parent}.{key}") }
}

impl<'de, 'a> de::Deserializer<'de> for NodeDe<'a> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let r = match &self.node.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(n) => visitor.visit_i64(*n),
            Value::Float(f) => visitor.visit_f64(*f),
            Value::Str(s) => visitor.visit_str(s),
            Value::Seq(items) => visitor.visit_seq(ItemsAccess { items: items.iter().enumerate(), de: &self }),
            Value::Map(entries) => visitor.visit_map(self.map_access(entries, None)),
        };
        r.map_err(|e| self.locate(e))
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.scalar_text() {
            Some(s) => visitor.visit_string(s).map_err(|e| self.locate(e)),
            None => Err(self.mismatch("a string")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Seq(items) => visitor
                .visit_seq(ItemsAccess { items: items.iter().enumerate(), de: &self })
                .map_err(|e| self.locate(e)),
            _ => Err(self.mismatch("a list")),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Map(entries) => visitor.visit_map(self.map_access(entries, None)).map_err(|e| self.locate(e)),
            Value::Null => visitor.visit_map(self.map_access(&[], None)),
            _ => Err(self.mismatch("a mapping")),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Map(entries) => {
                visitor.visit_map(self.map_access(entries, Some(fields))).map_err(|e| self.locate(e))
            }
            Value::Null => visitor.visit_map(self.map_access(&[], Some(fields))).map_err(|e| self.locate(e)),
            _ => Err(self.mismatch("a mapping")),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Str(s) if variants.contains(&s.as_str()) => {
                visitor.visit_enum(s.as_str().into_deserializer()).map_err(|e: DeError| self.locate(e))
            }
            Value::Str(s) => Err(DeError {
                message: format!("\"{s}\" is not one of {}", variants.join(", ")),
                help: did_you_mean(s, variants.iter().copied()).map(|m| format!("did you mean \"{m}\"?")),
                at: Some((self.node.pos, self.path.clone())),
                missing: None,
            }),
            _ => Err(self.mismatch(&format!("one of {}", variants.join(", ")))),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node.value {
            Value::Null => visitor.visit_unit(),
            _ => Err(self.mismatch("nothing (null)")),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 bytes byte_buf unit_struct tuple
        tuple_struct identifier
    }
}

struct ItemsAccess<'a, 'b> {
    items: std::iter::Enumerate<std::slice::Iter<'a, Node>>,
    de: &'b NodeDe<'a>,
}

impl<'de, 'a, 'b> SeqAccess<'de> for ItemsAccess<'a, 'b> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            None => Ok(None),
            Some((i, node)) => {
                let path = format!("{}[{i}]", self.de.path);
                self.de.ctx.positions.borrow_mut().0.insert(path.clone(), node.pos);
                seed.deserialize(self.de.child(path, node)).map(Some)
            }
        }
    }
}

struct EntriesAccess<'a> {
    entries: std::vec::IntoIter<&'a Entry>,
    value: Option<&'a Entry>,
    parent: String,
    ctx: &'a Ctx,
}

impl<'de, 'a> MapAccess<'de> for EntriesAccess<'a> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        match self.entries.next() {
            None => Ok(None),
            Some(entry) => {
                self.value = Some(entry);
                let key: de::value::StrDeserializer<'_, DeError> = entry.key.as_str().into_deserializer();
                seed.deserialize(key).map(Some).map_err(|mut e| {
                    e.at.get_or_insert((entry.key_pos, join(&self.parent, &entry.key)));
                    e
                })
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let entry = self.value.take().expect("serde asks for a value after its key");
        let path = join(&self.parent, &entry.key);
        seed.deserialize(NodeDe::new(&entry.value, path, self.ctx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tree::parse_yaml;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        command: String,
        #[serde(default)]
        args: Vec<String>,
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        inner: Inner,
        #[serde(default)]
        port: Option<u16>,
    }

    fn load(text: &str) -> Result<Outer, Vec<String>> {
        let render = |ds: Vec<Diagnostic>| -> Vec<String> {
            ds.iter().map(|d| format!("{}:{} {} {}", d.line, d.column, d.path, d.message)).collect()
        };
        match from_tree::<Outer>(&parse_yaml(text).unwrap(), Syntax::Yaml) {
            Ok(read) if read.findings.is_empty() => Ok(read.value),
            Ok(Read { findings: ds, .. }) | Err(ds) => Err(render(ds)),
        }
    }

    #[test]
    fn every_unknown_key_is_reported_with_position() {
        let errs = load("inner: {command: x, argz: []}\nprot: 1\n").unwrap_err();
        assert_eq!(errs, ["1:21 inner.argz unknown key \"argz\"", "2:1 prot unknown key \"prot\""]);
    }

    #[test]
    fn type_errors_name_the_path() {
        let errs = load("inner:\n  command: x\n  args: notalist\n").unwrap_err();
        assert_eq!(errs, ["3:9 inner.args expected a list, found a string"]);
    }

    #[test]
    fn numbers_are_range_checked_and_scalars_coerce_to_strings() {
        assert!(load("inner: {command: 12}\nport: 80\n").is_ok());
        let errs = load("inner: {command: x}\nport: 70000\n").unwrap_err();
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("2:7 port"), "{errs:?}");
    }

    #[test]
    fn missing_keys_point_at_their_parent() {
        let errs = load("inner: {args: []}\n").unwrap_err();
        assert_eq!(errs, ["1:8 inner missing required key `command`"]);
    }

    /// A wrong value does not hide the next one: each is reported, then left out, in one pass.
    #[test]
    fn every_wrong_value_is_reported_in_one_pass() {
        let errs = load("inner:\n  command: [x]\n  args: notalist\nport: many\n").unwrap_err();
        assert_eq!(
            errs,
            [
                "2:12 inner.command expected a string, found a list",
                "3:9 inner.args expected a list, found a string",
                "4:7 port expected u16, found the string \"many\"",
            ]
        );
    }

    /// A misspelt required key is one mistake: the key it should have been is not also "missing".
    #[test]
    fn a_misspelt_required_key_is_reported_once() {
        let errs = load("inner: {comand: x}\nprot: 1\n").unwrap_err();
        assert_eq!(errs, ["1:9 inner.comand unknown key \"comand\"", "2:1 prot unknown key \"prot\""]);
    }
}
