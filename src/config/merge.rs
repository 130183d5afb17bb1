//! Layer merging: the last layer wins per key, tables merge key by key, and
//! every value keeps the origins it replaced.
//!
//! Lists are values like any other: a later layer's list replaces the whole
//! earlier list. That keeps a list readable in one place (the layer that set
//! it) and makes removing an item as easy as adding one.
//!
//! A key that is a table in one layer and a plain value in another is an
//! error rather than a silent replacement: it is almost always a typo, and
//! refusing it is what makes merging associative.

use super::tree::{Node, Value};
use crate::diagnostic::Diagnostic;

/// Merge `layer` into `base`. `path` is the dotted path of `base`, for errors.
pub fn merge(base: &mut Value, layer: Value, path: &str) -> Result<(), Diagnostic> {
    match (&mut base.node, layer.node) {
        (Node::Table(base_table), Node::Table(layer_table)) => {
            for (key, value) in layer_table {
                let child = join(path, &key);
                match base_table.get_mut(&key) {
                    Some(existing) => merge(existing, value, &child)?,
                    None => {
                        base_table.insert(key, value);
                    }
                }
            }
            Ok(())
        }
        (Node::Table(_), node) | (_, node @ Node::Table(_)) => {
            let layer = Value { node, ..layer };
            Err(Diagnostic::new(format!(
                "`{path}` is {} here but {} in an earlier layer",
                layer.kind(),
                base.kind()
            ))
            .primary(
                layer.key_origin.clone().unwrap_or(layer.origin.clone()),
                format!("{} cannot replace {}", layer.kind(), base.kind()),
            )
            .secondary(base.origin.clone(), "first set here")
            .help("a table's keys can be overridden one by one, but the table itself cannot become a value (or the reverse)"))
        }
        (_, node) => {
            let mut overridden = std::mem::take(&mut base.overridden);
            overridden.push(base.origin.clone());
            overridden.extend(layer.overridden);
            *base = Value {
                node,
                origin: layer.origin,
                key_origin: layer.key_origin.or(base.key_origin.take()),
                overridden,
            };
            Ok(())
        }
    }
}

/// `a.b` from `a` and `b`, and just `b` at the root.
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}
