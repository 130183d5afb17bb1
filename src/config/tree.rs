//! The value tree that layers are parsed into and merged as.
//!
//! It is TOML's data model plus, on every value, the [`Origin`] that wrote it
//! and the origins it overrode. Keeping our own tree (instead of
//! `toml::Value`) is what lets `clawbake explain` name the layer behind a
//! value and lets every validation error point at a line.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use toml::de::{DeTable, DeValue};

use crate::diagnostic::Diagnostic;
use crate::diagnostic::source::{Origin, SourceId, Sources};

/// A table: keys in sorted order, so that everything built from it is
/// deterministic.
pub type Table = BTreeMap<String, Value>;

#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Table(Table),
    Array(Vec<Value>),
    String(String),
    Integer(i64),
    /// An integer too large for an `i64`, as written: no setting takes one,
    /// and the type check says so.
    BigInteger(String),
    Float(f64),
    Bool(bool),
    Datetime(String),
}

/// A value, where it was written, and where its key was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    pub node: Node,
    pub origin: Origin,
    /// The key that introduced this value, for errors about the key itself
    /// (unknown keys). `None` for the root and for array elements.
    pub key_origin: Option<Origin>,
    /// Origins of the values this one replaced, oldest first.
    pub overridden: Vec<Origin>,
}

impl Value {
    pub fn new(node: Node, origin: Origin) -> Value {
        Value {
            node,
            origin,
            key_origin: None,
            overridden: Vec::new(),
        }
    }

    pub fn empty_table(source: SourceId) -> Value {
        Value::new(Node::Table(Table::new()), Origin { source, span: 0..0 })
    }

    pub fn as_table(&self) -> Option<&Table> {
        match &self.node {
            Node::Table(t) => Some(t),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.node {
            Node::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value at a dotted path such as `firewall.ssh_port` or
    /// `firewall.admin_cidrs[0]`.
    pub fn get(&self, path: &str) -> Option<&Value> {
        path.split('.').try_fold(self, |value, segment| {
            let (key, indices) = match segment.find('[') {
                Some(i) => (&segment[..i], &segment[i..]),
                None => (segment, ""),
            };
            let mut value = value.as_table()?.get(key)?;
            for index in indices.split_terminator(']') {
                let i: usize = index.strip_prefix('[')?.parse().ok()?;
                match &value.node {
                    Node::Array(items) => value = items.get(i)?,
                    _ => return None,
                }
            }
            Some(value)
        })
    }

    /// What kind of value this is, as an error message names it.
    pub fn kind(&self) -> &'static str {
        match self.node {
            Node::Table(_) => "a table",
            Node::Array(_) => "a list",
            Node::String(_) => "a string",
            Node::Integer(_) | Node::BigInteger(_) => "an integer",
            Node::Float(_) => "a float",
            Node::Bool(_) => "a boolean",
            Node::Datetime(_) => "a date",
        }
    }

    /// The value written back as TOML, for `explain` and help messages.
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        self.write_toml(&mut out);
        out
    }

    fn write_toml(&self, out: &mut String) {
        match &self.node {
            Node::String(s) => out.push_str(&toml_string(s)),
            Node::Integer(i) => {
                let _ = write!(out, "{i}");
            }
            Node::Float(f) => {
                let _ = write!(out, "{f:?}");
            }
            Node::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            Node::Datetime(d) | Node::BigInteger(d) => out.push_str(d),
            Node::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write_toml(out);
                }
                out.push(']');
            }
            Node::Table(table) => {
                out.push('{');
                for (i, (key, item)) in table.iter().enumerate() {
                    out.push_str(if i > 0 { ", " } else { " " });
                    out.push_str(&toml_key(key));
                    out.push_str(" = ");
                    item.write_toml(out);
                }
                out.push_str(if table.is_empty() { "}" } else { " }" });
            }
        }
    }
}

/// A TOML basic string with the escapes TOML requires.
pub fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A key as TOML needs it written: bare when it can be, quoted otherwise.
pub fn toml_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_owned()
    } else {
        toml_string(key)
    }
}

/// Parse one source into a tree. Syntax errors point at the offending text.
pub fn parse(sources: &Sources, id: SourceId) -> Result<Value, Diagnostic> {
    let text = &sources.get(id).text;
    match DeTable::parse(text) {
        Ok(table) => {
            let span = table.span();
            let node = convert_table(table.into_inner(), id);
            Ok(Value::new(node, Origin { source: id, span }))
        }
        Err(err) => {
            let span = err.span().unwrap_or(0..0);
            let message = err.message().trim_end().to_owned();
            Err(Diagnostic::new(format!(
                "could not parse `{}` as TOML",
                sources.get(id).name
            ))
            .primary(Origin { source: id, span }, message))
        }
    }
}

fn convert_table(table: DeTable<'_>, source: SourceId) -> Node {
    let mut out = Table::new();
    for (key, value) in table {
        let key_origin = Origin {
            source,
            span: key.span(),
        };
        let mut converted = convert(value, source);
        converted.key_origin = Some(key_origin);
        out.insert(key.into_inner().into_owned(), converted);
    }
    Node::Table(out)
}

fn convert(value: toml::Spanned<DeValue<'_>>, source: SourceId) -> Value {
    let span = value.span();
    let node = match value.into_inner() {
        DeValue::String(s) => Node::String(s.into_owned()),
        // The parser has already checked the digits; a value that does not
        // fit an i64 is kept as written so the type check can report it.
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => Node::Integer(n),
            Err(_) => Node::BigInteger(i.to_string()),
        },
        DeValue::Float(f) => Node::Float(f.as_str().parse().unwrap_or(f64::NAN)),
        DeValue::Boolean(b) => Node::Bool(b),
        DeValue::Datetime(d) => Node::Datetime(d.to_string()),
        DeValue::Array(items) => {
            Node::Array(items.into_iter().map(|v| convert(v, source)).collect())
        }
        DeValue::Table(t) => convert_table(t, source),
    };
    Value::new(node, Origin { source, span })
}
