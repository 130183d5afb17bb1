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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tree::{self, Table};
    use crate::diagnostic::source::{Origin, Source, SourceId, SourceKind, Sources};
    use proptest::prelude::*;

    /// Parse each text as a layer and merge them in order.
    fn merged(layers: &[&str]) -> (Sources, Result<Value, Diagnostic>) {
        let mut sources = Sources::default();
        let mut out: Option<Value> = None;
        for (i, text) in layers.iter().enumerate() {
            let id = sources.add(Source {
                name: format!("layer{i}.toml"),
                path: None,
                text: (*text).to_owned(),
                kind: SourceKind::User,
            });
            let layer = tree::parse(&sources, id).expect("test layer parses");
            match &mut out {
                None => out = Some(layer),
                Some(m) => {
                    if let Err(d) = merge(m, layer, "") {
                        return (sources, Err(d));
                    }
                }
            }
        }
        (sources, Ok(out.expect("at least one layer")))
    }

    #[test]
    fn precedence() {
        // (layers, key, expected value, the layer that set it)
        let table: &[(&[&str], &str, &str, &str)] = &[
            (&["a = 1", "a = 2"], "a", "2", "layer1.toml"),
            (&["a = 1", "b = 2"], "a", "1", "layer0.toml"),
            (&["a = 1", "", "a = 3"], "a", "3", "layer2.toml"),
            (
                &["[t]\nx = 1\ny = 1", "[t]\ny = 2"],
                "t.x",
                "1",
                "layer0.toml",
            ),
            (
                &["[t]\nx = 1\ny = 1", "[t]\ny = 2"],
                "t.y",
                "2",
                "layer1.toml",
            ),
            (&["l = [1, 2]", "l = [3]"], "l", "[3]", "layer1.toml"),
            (&["l = [1, 2]", "l = []"], "l", "[]", "layer1.toml"),
            (&["a = \"x\"", "a = 5"], "a", "5", "layer1.toml"),
            (&["[t.u]\nv = 1", "t.u.w = 2"], "t.u.v", "1", "layer0.toml"),
            (&["[t.u]\nv = 1", "t.u.w = 2"], "t.u.w", "2", "layer1.toml"),
        ];
        for (layers, key, value, from) in table {
            let (sources, result) = merged(layers);
            let tree = result.expect("merges");
            let v = tree
                .get(key)
                .unwrap_or_else(|| panic!("{layers:?}: no `{key}`"));
            assert_eq!(v.to_toml(), *value, "{layers:?}: `{key}`");
            assert_eq!(
                sources.get(v.origin.source).name,
                *from,
                "{layers:?}: `{key}`"
            );
        }
    }

    #[test]
    fn overridden_origins_are_kept_in_order() {
        let (sources, result) = merged(&["a = 1", "a = 2", "a = 3"]);
        let tree = result.unwrap();
        let a = tree.get("a").unwrap();
        let names: Vec<&str> = a
            .overridden
            .iter()
            .map(|o| sources.get(o.source).name.as_str())
            .collect();
        assert_eq!(names, ["layer0.toml", "layer1.toml"]);
    }

    #[test]
    fn a_table_cannot_become_a_value() {
        let (_, result) = merged(&["[t]\nx = 1", "t = 5"]);
        let d = result.unwrap_err();
        assert_eq!(
            d.message,
            "`t` is an integer here but a table in an earlier layer"
        );
        let (_, result) = merged(&["t = 5", "[t]\nx = 1"]);
        assert_eq!(
            result.unwrap_err().message,
            "`t` is a table here but an integer in an earlier layer"
        );
    }

    // Property tests: trees over a small alphabet where `a`, `b` are always
    // tables and `x`, `y`, `z` never are, so every merge is defined.

    fn origin(source: usize, n: usize) -> Origin {
        Origin {
            source: SourceId(source),
            span: n..n + 1,
        }
    }

    fn leaf(source: usize) -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<i64>().prop_map(Node::Integer),
            "[a-z]{0,3}".prop_map(Node::String),
            any::<bool>().prop_map(Node::Bool),
            prop::collection::vec(any::<i8>(), 0..3).prop_map(move |v| {
                Node::Array(
                    v.into_iter()
                        .map(|i| Value::new(Node::Integer(i.into()), origin(source, 0)))
                        .collect(),
                )
            }),
        ]
        .prop_flat_map(move |node| (Just(node), 0usize..50))
        .prop_map(move |(node, n)| Value::new(node, origin(source, n)))
    }

    fn table(source: usize, depth: u32) -> BoxedStrategy<Value> {
        let leaves = prop::collection::btree_map(
            prop::sample::select(vec!["x", "y", "z"]),
            leaf(source),
            0..3,
        );
        let base = leaves.prop_map(move |m| {
            let t: Table = m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            Value::new(Node::Table(t), origin(source, 0))
        });
        if depth == 0 {
            return base.boxed();
        }
        (
            base,
            prop::collection::btree_map(
                prop::sample::select(vec!["a", "b"]),
                table(source, depth - 1),
                0..2,
            ),
        )
            .prop_map(|(mut v, subs)| {
                if let Node::Table(t) = &mut v.node {
                    t.extend(subs.into_iter().map(|(k, s)| (k.to_owned(), s)));
                }
                v
            })
            .boxed()
    }

    fn m(a: &Value, b: &Value) -> Value {
        let mut out = a.clone();
        merge(&mut out, b.clone(), "").expect("shapes agree by construction");
        out
    }

    proptest! {
        #[test]
        fn an_empty_layer_changes_nothing(a in table(0, 2)) {
            prop_assert_eq!(m(&a, &Value::empty_table(SourceId(9))), a);
        }

        #[test]
        fn applying_a_layer_twice_equals_once_but_for_history(a in table(0, 2), b in table(1, 2)) {
            let once = m(&a, &b);
            let twice = m(&once, &b);
            prop_assert_eq!(strip_history(twice), strip_history(once));
        }

        #[test]
        fn grouping_does_not_matter(a in table(0, 2), b in table(1, 2), c in table(2, 2)) {
            prop_assert_eq!(m(&m(&a, &b), &c), m(&a, &m(&b, &c)));
        }

        #[test]
        fn the_last_layer_wins_per_key(a in table(0, 2), b in table(1, 2)) {
            let merged = m(&a, &b);
            for (path, value) in leaf_paths(&b) {
                let got = merged.get(&path).expect("every key of the last layer is present");
                prop_assert_eq!(&got.node, &value.node);
                prop_assert_eq!(&got.origin, &value.origin);
            }
            for (path, _) in leaf_paths(&a) {
                prop_assert!(merged.get(&path).is_some(), "`{}` from the first layer was lost", path);
            }
        }
    }

    fn strip_history(mut v: Value) -> Value {
        v.overridden.clear();
        if let Node::Table(t) = &mut v.node {
            for child in t.values_mut() {
                *child = strip_history(child.clone());
            }
        }
        v
    }

    fn leaf_paths(v: &Value) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        if let Node::Table(t) = &v.node {
            for (k, child) in t {
                match child.node {
                    Node::Table(_) => out.extend(
                        leaf_paths(child)
                            .into_iter()
                            .map(|(p, c)| (format!("{k}.{p}"), c)),
                    ),
                    _ => out.push((k.clone(), child.clone())),
                }
            }
        }
        out
    }
}
