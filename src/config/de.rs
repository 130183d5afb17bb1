//! A serde deserializer over the merged [`Value`] tree.
//!
//! Deserializing through our own tree (rather than `toml::from_str`) keeps
//! two things serde would otherwise lose: the origin of the value an error
//! is about, and the structure of the error (which field was unknown, and
//! which were expected), so a message can suggest the key that was meant.

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};

use super::merge::join;
use super::tree::{Node, Value};
use crate::diagnostic::source::Origin;

/// What went wrong, with enough structure to write a helpful message.
#[derive(Clone, Debug, PartialEq)]
pub enum DeErrorKind {
    Custom(String),
    InvalidType {
        expected: String,
        found: String,
    },
    InvalidValue {
        expected: String,
        found: String,
    },
    UnknownField {
        field: String,
        expected: &'static [&'static str],
    },
    UnknownVariant {
        variant: String,
        expected: &'static [&'static str],
    },
    MissingField {
        field: &'static str,
    },
}

/// A deserialization error and the value (path and origin) it is about.
#[derive(Clone, Debug, PartialEq)]
pub struct DeError {
    pub kind: DeErrorKind,
    /// Dotted path of the value; for a missing field, of its table.
    pub path: Option<String>,
    pub origin: Option<Origin>,
}

impl DeError {
    fn new(kind: DeErrorKind) -> DeError {
        DeError {
            kind,
            path: None,
            origin: None,
        }
    }

    /// Attach a location unless a deeper value already did.
    fn at(mut self, path: &str, origin: &Origin) -> DeError {
        if self.path.is_none() {
            self.path = Some(path.to_owned());
            self.origin = Some(origin.clone());
        }
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            DeErrorKind::Custom(msg) => f.write_str(msg),
            DeErrorKind::InvalidType { expected, found }
            | DeErrorKind::InvalidValue { expected, found } => {
                write!(f, "expected {expected}, found {found}")
            }
            DeErrorKind::UnknownField { field, .. } => write!(f, "unknown key `{field}`"),
            DeErrorKind::UnknownVariant { variant, expected } => {
                write!(f, "`{variant}` is not one of {}", one_of(expected))
            }
            DeErrorKind::MissingField { field } => write!(f, "missing required key `{field}`"),
        }
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError::new(DeErrorKind::Custom(msg.to_string()))
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DeError::new(DeErrorKind::InvalidType {
            expected: describe_expected(&exp.to_string()),
            found: describe_unexpected(&unexp),
        })
    }

    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DeError::new(DeErrorKind::InvalidValue {
            expected: describe_expected(&exp.to_string()),
            found: describe_unexpected(&unexp),
        })
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        DeError::new(DeErrorKind::UnknownField {
            field: field.to_owned(),
            expected,
        })
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        DeError::new(DeErrorKind::UnknownVariant {
            variant: variant.to_owned(),
            expected,
        })
    }

    fn missing_field(field: &'static str) -> Self {
        DeError::new(DeErrorKind::MissingField { field })
    }
}

/// `` `a`, `b` or `c` ``
pub fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.split_last() {
        None => "nothing".to_owned(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// serde names Rust types ("u16", "struct Host"); users write TOML.
fn describe_expected(exp: &str) -> String {
    let range = |lo: i128, hi: i128| format!("a whole number from {lo} to {hi}");
    match exp {
        "u8" => range(0, u8::MAX.into()),
        "u16" => range(0, u16::MAX.into()),
        "u32" | "u64" | "usize" => "a whole number, 0 or more".to_owned(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        "a boolean" | "bool" => "`true` or `false`".to_owned(),
        "a sequence" => "a list".to_owned(),
        "a string" | "a borrowed string" => "a string".to_owned(),
        "a map" => "a table".to_owned(),
        other if other.starts_with("struct ") => "a table".to_owned(),
        other if other.starts_with("enum ") => "a string".to_owned(),
        other => other.to_owned(),
    }
}

fn describe_unexpected(unexp: &de::Unexpected<'_>) -> String {
    use de::Unexpected as U;
    match unexp {
        U::Bool(b) => format!("`{b}`"),
        U::Unsigned(n) => format!("`{n}`"),
        U::Signed(n) => format!("`{n}`"),
        // `22.0`, not `22`: the float is what is wrong with it.
        U::Float(n) => format!("`{n:?}`"),
        U::Str(s) => format!("the string {}", super::tree::toml_string(s)),
        U::Seq => "a list".to_owned(),
        U::Map => "a table".to_owned(),
        U::Other(other) => (*other).to_owned(),
        other => other.to_string(),
    }
}

/// Deserializes one value of the tree; `path` is its dotted path.
pub struct ValueDe<'a> {
    value: &'a Value,
    path: String,
}

impl<'a> ValueDe<'a> {
    pub fn new(value: &'a Value) -> ValueDe<'a> {
        ValueDe {
            value,
            path: String::new(),
        }
    }

    fn locate<T>(&self, result: Result<T, DeError>) -> Result<T, DeError> {
        result.map_err(|e| e.at(&self.path, &self.value.origin))
    }
}

impl<'de> de::Deserializer<'de> for ValueDe<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.value.node {
            Node::String(s) => visitor.visit_str(s),
            Node::Integer(i) => visitor.visit_i64(*i),
            Node::Float(f) => visitor.visit_f64(*f),
            Node::Bool(b) => visitor.visit_bool(*b),
            Node::Datetime(d) => Err(de::Error::invalid_type(
                de::Unexpected::Other(&format!("the date {d}")),
                &visitor,
            )),
            Node::BigInteger(n) => Err(de::Error::invalid_type(
                de::Unexpected::Other(&format!("`{n}`, a number too large for any setting")),
                &visitor,
            )),
            Node::Array(items) => visitor.visit_seq(Seq {
                items: items.iter().enumerate(),
                path: &self.path,
            }),
            Node::Table(table) => visitor.visit_map(Map {
                entries: table.iter(),
                pending: None,
                path: &self.path,
            }),
        };
        self.locate(result)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let path = self.path.clone();
        let origin = self.value.origin.clone();
        visitor.visit_some(self).map_err(|e| e.at(&path, &origin))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let path = self.path.clone();
        let origin = self.value.origin.clone();
        visitor
            .visit_newtype_struct(self)
            .map_err(|e| e.at(&path, &origin))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let result = match &self.value.node {
            Node::String(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            _ => Err(de::Error::invalid_type(
                de::Unexpected::Other(self.value.kind()),
                &"a string",
            )),
        };
        self.locate(result)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}

struct Seq<'a, I> {
    items: I,
    path: &'a str,
}

impl<'de, I> SeqAccess<'de> for Seq<'_, I>
where
    I: Iterator<Item = (usize, &'de Value)>,
{
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            None => Ok(None),
            Some((i, value)) => {
                let path = format!("{}[{i}]", self.path);
                seed.deserialize(ValueDe {
                    value,
                    path: path.clone(),
                })
                .map(Some)
                .map_err(|e| e.at(&path, &value.origin))
            }
        }
    }
}

struct Map<'p, 'v, I> {
    entries: I,
    pending: Option<(String, &'v Value)>,
    path: &'p str,
}

impl<'de, I> MapAccess<'de> for Map<'_, 'de, I>
where
    I: Iterator<Item = (&'de String, &'de Value)>,
{
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        let path = join(self.path, key);
        let key_origin = value.key_origin.as_ref().unwrap_or(&value.origin);
        let parsed = seed
            .deserialize(key.as_str().into_deserializer())
            .map_err(|e: DeError| e.at(&path, key_origin))?;
        self.pending = Some((path, value));
        Ok(Some(parsed))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let (path, value) = self
            .pending
            .take()
            .ok_or_else(|| <DeError as de::Error>::custom("internal error: value before key"))?;
        seed.deserialize(ValueDe {
            value,
            path: path.clone(),
        })
        .map_err(|e| e.at(&path, &value.origin))
    }
}
