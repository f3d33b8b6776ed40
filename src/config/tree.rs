//! The positioned document tree: YAML and TOML both parse into `Node`s that remember where they
//! were written, so every later error can name `file:line:col`.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use super::diagnostic::{Diagnostic, Pos};

#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub pos: Pos,
    pub value: Value,
    /// The scalar as written, for scalars that resolved to a non-string (so `TZ: 0` can still be a string).
    pub text: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub value: Node,
}

impl Node {
    /// Whether the document holds nothing: no content, only comments, `~` or `{}`.
    pub(crate) fn is_empty(&self) -> bool {
        match &self.value {
            Value::Null => true,
            Value::Map(entries) => entries.is_empty(),
            _ => false,
        }
    }
}

impl Value {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// Parses YAML text into a tree. Errors are positioned; the path is empty.
pub(crate) fn parse_yaml(text: &str) -> Result<Node, Diagnostic> {
    let mut builder = YamlBuilder::default();
    let mut parser = Parser::new_from_str(text);
    let mut documents = 0;
    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(|e| {
            let m = e.marker();
            let explained = super::yaml_error::explain(text, m.line(), m.col() + 1, e.info());
            Diagnostic::error(explained.pos, "", explained.message).with_help(explained.help)
        })?;
        if let Event::DocumentStart(_) = event {
            documents += 1;
            if documents > 1 {
                return Err(Diagnostic::error(start(&span), "", "the file holds more than one YAML document")
                    .with_help("keep one document: remove the second `---`"));
            }
        }
        builder.on_event(event, span)?;
    }
    Ok(builder.root.unwrap_or(Node { pos: pos(1, 0), value: Value::Map(vec![]), text: None }))
}

/// Parses TOML text into a tree.
pub(crate) fn parse_toml(text: &str) -> Result<Node, Diagnostic> {
    let lines = LineIndex::new(text);
    let table = toml::de::DeTable::parse(text).map_err(|e| {
        let at = e.span().map(|s| lines.pos(s.start)).unwrap_or_default();
        Diagnostic::error(at, "", format!("invalid TOML: {}", e.message().trim()))
    })?;
    let span = table.span();
    Ok(toml_table(table.get_ref(), lines.pos(span.start), &lines))
}

fn toml_table(table: &toml::de::DeTable<'_>, at: Pos, lines: &LineIndex) -> Node {
    let entries = table
        .iter()
        .map(|(k, v)| Entry {
            key: k.get_ref().to_string(),
            key_pos: lines.pos(k.span().start),
            value: toml_value(v.get_ref(), lines.pos(v.span().start), lines),
        })
        .collect();
    Node { pos: at, value: Value::Map(entries), text: None }
}

fn toml_value(value: &toml::de::DeValue<'_>, at: Pos, lines: &LineIndex) -> Node {
    use toml::de::DeValue;
    let (value, text) = match value {
        DeValue::String(s) => (Value::Str(s.to_string()), None),
        DeValue::Integer(i) => {
            let parsed = i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok();
            match parsed {
                Some(n) => (Value::Int(n), Some(i.as_str().to_string())),
                None => (Value::Str(i.as_str().to_string()), None),
            }
        }
        DeValue::Float(f) => {
            let t = f.as_str().replace('_', "");
            (Value::Float(t.parse().unwrap_or(f64::NAN)), Some(f.as_str().to_string()))
        }
        DeValue::Boolean(b) => (Value::Bool(*b), Some(b.to_string())),
        DeValue::Datetime(d) => (Value::Str(d.to_string()), None),
        DeValue::Array(items) => (
            Value::Seq(items.iter().map(|v| toml_value(v.get_ref(), lines.pos(v.span().start), lines)).collect()),
            None,
        ),
        DeValue::Table(t) => return toml_table(t, at, lines),
    };
    Node { pos: at, value, text }
}

/// Byte offset → line:column, for formats whose parser reports byte spans.
struct LineIndex {
    starts: Vec<usize>,
    text_len: usize,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts, text_len: text.len() }
    }

    fn pos(&self, offset: usize) -> Pos {
        let offset = offset.min(self.text_len);
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        Pos { line: line as u32, column: (offset - self.starts[line - 1]) as u32 + 1 }
    }
}

fn pos(line: usize, col0: usize) -> Pos {
    Pos { line: line as u32, column: col0 as u32 + 1 }
}

fn start(span: &Span) -> Pos {
    pos(span.start.line(), span.start.col())
}

enum Open {
    Seq(Node),
    Map { node: Node, pending_key: Option<(String, Pos)> },
}

#[derive(Default)]
struct YamlBuilder {
    stack: Vec<(Open, usize)>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
}

impl YamlBuilder {
    fn on_event(&mut self, event: Event<'_>, span: Span) -> Result<(), Diagnostic> {
        let at = start(&span);
        match event {
            Event::Scalar(text, style, anchor, _tag) => {
                let node = scalar(text, style, at);
                self.push(node, anchor)
            }
            Event::SequenceStart(anchor, _) => {
                self.stack.push((Open::Seq(Node { pos: at, value: Value::Seq(vec![]), text: None }), anchor));
                Ok(())
            }
            Event::MappingStart(anchor, _) => {
                let node = Node { pos: at, value: Value::Map(vec![]), text: None };
                self.stack.push((Open::Map { node, pending_key: None }, anchor));
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (open, anchor) = self.stack.pop().expect("parser balances start and end events");
                let node = match open {
                    Open::Seq(node) | Open::Map { node, .. } => node,
                };
                self.push(node, anchor)
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(node) => {
                    let mut node = node.clone();
                    node.pos = at;
                    self.push(node, 0)
                }
                None => Err(Diagnostic::error(at, "", "alias to an unknown anchor")),
            },
            _ => Ok(()),
        }
    }

    fn push(&mut self, node: Node, anchor: usize) -> Result<(), Diagnostic> {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some((Open::Seq(seq), _)) => {
                if let Value::Seq(items) = &mut seq.value {
                    items.push(node);
                }
            }
            Some((Open::Map { node: map, pending_key }, _)) => match pending_key.take() {
                None => {
                    let key = match node.value {
                        Value::Str(s) => s,
                        Value::Null => String::new(),
                        _ => match node.text {
                            Some(t) => t,
                            None => {
                                return Err(Diagnostic::error(node.pos, "", "a mapping key must be a plain word"));
                            }
                        },
                    };
                    if let Value::Map(entries) = &map.value
                        && entries.iter().any(|e| e.key == key)
                    {
                        return Err(Diagnostic::error(node.pos, "", format!("duplicate key \"{key}\""))
                            .with_help("each key may appear once in a mapping: merge or remove one"));
                    }
                    *pending_key = Some((key, node.pos));
                }
                Some((key, key_pos)) => {
                    if let Value::Map(entries) = &mut map.value {
                        entries.push(Entry { key, key_pos, value: node });
                    }
                }
            },
        }
        Ok(())
    }
}

/// Resolves a YAML scalar by the core schema: plain `true`, `12`, `~` are typed, quoted ones are strings.
fn scalar(text: Cow<'_, str>, style: ScalarStyle, at: Pos) -> Node {
    let text = text.into_owned();
    if style != ScalarStyle::Plain {
        return Node { pos: at, value: Value::Str(text), text: None };
    }
    let value = match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Value::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => Value::Float(f64::NAN),
        t => match parse_int(t) {
            Some(n) => Value::Int(n),
            None if looks_like_float(t) => t.parse().map(Value::Float).unwrap_or(Value::Str(text.clone())),
            None => {
                return Node { pos: at, value: Value::Str(text), text: None };
            }
        },
    };
    Node { pos: at, value, text: Some(text) }
}

fn parse_int(t: &str) -> Option<i64> {
    if let Some(hex) = t.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok();
    }
    if let Some(oct) = t.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8).ok();
    }
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) { t.parse().ok() } else { None }
}

fn looks_like_float(t: &str) -> bool {
    let body = t.strip_prefix(['-', '+']).unwrap_or(t);
    body.bytes().any(|b| b.is_ascii_digit())
        && body.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && body.bytes().filter(|b| *b == b'.').count() <= 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<String> {
        match parse_yaml(text).unwrap().value {
            Value::Map(entries) => entries.iter().map(|e| format!("{}={}", e.key, e.value.value.kind())).collect(),
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn yaml_scalars_follow_the_core_schema() {
        assert_eq!(
            kinds("a: 1\nb: '1'\nc: true\nd: ~\ne: 1.5\nf: text\ng: 0x1f\n"),
            ["a=an integer", "b=a string", "c=a boolean", "d=null", "e=a number", "f=a string", "g=an integer"]
        );
    }

    #[test]
    fn yaml_keys_keep_their_positions() {
        let node = parse_yaml("top:\n  inner: 1\n").unwrap();
        let Value::Map(entries) = node.value else { panic!() };
        let Value::Map(inner) = &entries[0].value.value else { panic!() };
        assert_eq!(inner[0].key_pos, Pos { line: 2, column: 3 });
    }

    #[test]
    fn yaml_duplicate_keys_are_rejected_with_position() {
        let err = parse_yaml("a: 1\na: 2\n").unwrap_err();
        assert_eq!((err.line, err.column), (2, 1));
        assert!(err.message.contains("duplicate key"), "{}", err.message);
    }

    #[test]
    fn yaml_anchors_are_copied_into_aliases() {
        let node = parse_yaml("a: &x {k: 1}\nb: *x\n").unwrap();
        let Value::Map(entries) = node.value else { panic!() };
        assert!(matches!(&entries[1].value.value, Value::Map(m) if m[0].key == "k"));
    }

    #[test]
    fn toml_positions_are_line_and_column() {
        let node = parse_toml("listen = \"x\"\n[upstreams.a]\nurl = \"http://h\"\n").unwrap();
        let Value::Map(entries) = node.value else { panic!() };
        assert_eq!(entries[0].key_pos, Pos { line: 1, column: 1 });
        let Value::Map(ups) = &entries[1].value.value else { panic!() };
        let Value::Map(a) = &ups[0].value.value else { panic!() };
        assert_eq!(a[0].key_pos, Pos { line: 3, column: 1 });
    }
}
