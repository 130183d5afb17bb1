//! `clawbake explain KEY`: a merged value and the layers behind it.

use std::fmt::Write as _;

use crate::config::Merged;
use crate::config::merge::join;
use crate::config::tree::{Node, Value};
use crate::diagnostic::did_you_mean;
use crate::diagnostic::source::Origin;
use crate::error::Error;

/// The explanation text, or an error naming the closest key.
pub fn explain(merged: &Merged, key: &str) -> Result<String, Error> {
    let value = find(merged, key)?;
    let mut out = String::new();
    if let Node::Table(_) = value.node {
        let mut paths = Vec::new();
        leaves(value, key, &mut paths);
        for (path, leaf) in paths {
            let _ = writeln!(out, "{path} = {}", leaf.to_toml());
            let _ = writeln!(out, "  set in {}", locate(merged, &leaf.origin));
        }
    } else {
        let _ = writeln!(out, "{key} = {}", value.to_toml());
        let _ = writeln!(out, "  set in     {}", locate(merged, &value.origin));
        for earlier in value.overridden.iter().rev() {
            let text = &merged.sources.get(earlier.source).text[earlier.span.clone()];
            let _ = writeln!(out, "  overrides  {} (was {text})", locate(merged, earlier));
        }
    }
    let chain: Vec<&str> = merged
        .layers
        .iter()
        .map(|id| merged.sources.get(*id).name.as_str())
        .collect();
    let _ = writeln!(out, "layers: {}", chain.join(" -> "));
    Ok(out)
}

/// The merged value at `key`, or an error naming the closest key.
fn find<'a>(merged: &'a Merged, key: &str) -> Result<&'a Value, Error> {
    let Some(value) = merged.tree.get(key) else {
        let mut paths = Vec::new();
        leaves(&merged.tree, "", &mut paths);
        let candidates: Vec<&str> = paths.iter().map(|(p, _)| p.as_str()).collect();
        let help = did_you_mean(key, &candidates).map_or_else(
            || {
                "`clawbake explain site` lists a table's keys; the layers are under `layers/`"
                    .to_owned()
            },
            |best| format!("did you mean `{best}`?"),
        );
        return Err(Error::Message {
            message: format!("no layer sets `{key}`"),
            help: Some(help),
        });
    };
    Ok(value)
}

/// `explain --json`: `{"key", "layers", "values": [{"key", "value", "set_in",
/// "overrides": [{"in", "was"}]}]}`, one value per leaf under `key`.
pub fn explain_json(merged: &Merged, key: &str) -> Result<String, Error> {
    let value = find(merged, key)?;
    let mut paths = Vec::new();
    leaves(value, key, &mut paths);
    let values: Vec<serde_json::Value> = paths
        .iter()
        .map(|(path, leaf)| {
            let overrides: Vec<serde_json::Value> = leaf
                .overridden
                .iter()
                .rev()
                .map(|earlier| {
                    serde_json::json!({
                        "in": locate(merged, earlier),
                        "was": &merged.sources.get(earlier.source).text[earlier.span.clone()],
                    })
                })
                .collect();
            serde_json::json!({
                "key": path,
                "value": leaf.to_toml(),
                "set_in": locate(merged, &leaf.origin),
                "overrides": overrides,
            })
        })
        .collect();
    let layers: Vec<&str> = merged
        .layers
        .iter()
        .map(|id| merged.sources.get(*id).name.as_str())
        .collect();
    let mut out = serde_json::to_string_pretty(&serde_json::json!({
        "key": key,
        "layers": layers,
        "values": values,
    }))
    .expect("an explanation serializes");
    out.push('\n');
    Ok(out)
}

fn locate(merged: &Merged, origin: &Origin) -> String {
    merged.sources.locate(origin)
}

fn leaves<'a>(value: &'a Value, path: &str, out: &mut Vec<(String, &'a Value)>) {
    match &value.node {
        Node::Table(t) => {
            for (k, v) in t {
                leaves(v, &join(path, k), out);
            }
        }
        _ => out.push((path.to_owned(), value)),
    }
}
