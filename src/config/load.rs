//! From files to a merged tree: read the site file, pick the built-in
//! layers its `[site]` table selects, parse everything with spans, and merge
//! in order (base, selected layers, includes, site).

use std::path::{Path, PathBuf};

use super::layers::{self, Builtin};
use super::merge::merge;
use super::tree::{self, Node, Value};
use crate::diagnostic::Diagnostic;
use crate::diagnostic::source::{Origin, Source, SourceId, SourceKind, Sources};

/// Where the site comes from.
#[derive(Clone, Debug)]
pub enum SiteInput {
    /// The example site built into the binary.
    Example,
    /// A `site.toml` on disk.
    File(PathBuf),
}

/// The merged tree and everything needed to explain it.
#[derive(Debug)]
pub struct Merged {
    pub sources: Sources,
    pub tree: Value,
    /// The layers in the order they were merged.
    pub layers: Vec<SourceId>,
    /// The site file's directory, where its locks live (`None` for the example).
    pub site_dir: Option<PathBuf>,
}

impl Merged {
    /// The site file as it was named (the last layer), `None` for the
    /// built-in example.
    pub fn site_file(&self) -> Option<&str> {
        self.site_dir.as_ref()?;
        self.layers
            .last()
            .map(|id| self.sources.get(*id).name.as_str())
    }
}

/// Loading failed: the diagnostics, and the sources they point into.
#[derive(Debug)]
pub struct Failure {
    pub sources: Sources,
    pub diagnostics: Vec<Diagnostic>,
}

pub fn load(input: &SiteInput) -> Result<Merged, Failure> {
    let mut sources = Sources::default();
    match load_into(&mut sources, input) {
        Ok((tree, layers, site_dir)) => Ok(Merged {
            sources,
            tree,
            layers,
            site_dir,
        }),
        Err(diagnostic) => {
            super::secret_shape::redact_secret_lines(&mut sources);
            Err(Failure {
                sources,
                diagnostics: vec![diagnostic],
            })
        }
    }
}

fn add_builtin(sources: &mut Sources, builtin: &Builtin) -> SourceId {
    sources.add(Source {
        name: builtin.name.to_owned(),
        path: None,
        text: builtin.text.to_owned(),
        kind: SourceKind::Builtin,
    })
}

/// The most a site file or an included layer may hold: a site is a few
/// kilobytes; anything near this is not one (`/dev/zero`, a log).
const MAX_FILE: u64 = 1024 * 1024;

fn read_user_file(sources: &mut Sources, path: &Path, what: &str) -> Result<SourceId, Diagnostic> {
    use std::io::Read as _;
    let fail =
        |why: String| Diagnostic::new(format!("could not read {what} `{}`: {why}", path.display()));
    // Checked before opening: opening a FIFO for reading waits for a writer.
    let meta = std::fs::metadata(path).map_err(|e| {
        let d = fail(e.to_string());
        if e.kind() == std::io::ErrorKind::NotFound && what == "site file" {
            d.help("create one with `clawbake init mysite`, or run `clawbake build` with no argument for the example site")
        } else {
            d
        }
    })?;
    if !meta.is_file() {
        return Err(fail("it is not a regular file".into()).help("give the path of a TOML file"));
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE + 1).read_to_string(&mut text))
        .map_err(|e| fail(e.to_string()))?;
    if text.len() as u64 > MAX_FILE {
        return Err(fail(format!(
            "it is larger than {} KiB, which no site is",
            MAX_FILE / 1024
        )));
    }
    Ok(sources.add(Source {
        name: path.display().to_string(),
        path: Some(path.to_owned()),
        text,
        kind: SourceKind::User,
    }))
}

type Loaded = (Value, Vec<SourceId>, Option<PathBuf>);

fn load_into(sources: &mut Sources, input: &SiteInput) -> Result<Loaded, Diagnostic> {
    let base_id = add_builtin(sources, &layers::BASE);
    let base = tree::parse(sources, base_id)?;

    let (site_id, site_dir) = match input {
        SiteInput::Example => (add_builtin(sources, &layers::EXAMPLE_SITE), None),
        SiteInput::File(path) => {
            let id = read_user_file(sources, path, "site file")?;
            let dir = path
                .parent()
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
            (id, Some(dir))
        }
    };
    let site = tree::parse(sources, site_id)?;

    let mut includes = Vec::new();
    // Each file once: the site itself and every layer, by their real paths.
    let mut seen: Vec<PathBuf> = match input {
        SiteInput::File(path) => std::fs::canonicalize(path).into_iter().collect(),
        SiteInput::Example => Vec::new(),
    };
    for (path, origin) in include_paths(&site)? {
        let dir = site_dir.clone().unwrap_or_else(|| PathBuf::from("."));
        let full = dir.join(&path);
        let id = read_user_file(sources, &full, "included layer")
            .map_err(|d| d.primary(origin.clone(), "included here"))?;
        let real = std::fs::canonicalize(&full).unwrap_or_else(|_| full.clone());
        if seen.contains(&real) {
            return Err(Diagnostic::new(format!("`{path}` is included twice"))
                .primary(origin, "the site file, or a layer already listed")
                .help("list each layer once, and never the site file itself"));
        }
        seen.push(real);
        let layer = tree::parse(sources, id)?;
        // Includes do not nest: one list, in the site file, says every
        // layer and its order.
        if let Some(nested) = layer.get("site.include") {
            return Err(
                Diagnostic::new(format!("`{path}` has an `include` of its own"))
                    .primary(nested.origin.clone(), "includes do not nest")
                    .help("list every layer in the site file's `include`, in the order they apply"),
            );
        }
        includes.push((id, layer));
    }

    // Selectors are read from base, includes and site merged, so a site can
    // change its tier in one line.
    let mut preview = base.clone();
    for (_, layer) in &includes {
        merge(&mut preview, layer.clone(), "")?;
    }
    merge(&mut preview, site.clone(), "")?;

    let mut order = vec![(base_id, base)];
    for selector in layers::SELECTORS {
        let key = *selector;
        let value = preview.get(key);
        let chosen = value.and_then(Value::as_str).unwrap_or_default();
        let choices: Vec<&str> = layers::SELECTED
            .iter()
            .filter(|(s, _, _)| s == selector)
            .map(|(_, v, _)| *v)
            .collect();
        let Some((_, _, builtin)) = layers::SELECTED
            .iter()
            .find(|(s, v, _)| s == selector && *v == chosen)
        else {
            // Checked here, not in validation: without its layer the site
            // would fail on keys the missing layer sets, far from the typo.
            let mut d = Diagnostic::new(format!("invalid value for `{key}`"));
            if let Some(v) = value {
                d = d.primary(
                    v.origin.clone(),
                    format!("expected {}", super::de::one_of(&choices)),
                );
            }
            if let Some(best) = crate::diagnostic::did_you_mean(chosen, &choices) {
                d = d.help(format!("did you mean `\"{best}\"`?"));
            }
            return Err(d);
        };
        let id = add_builtin(sources, builtin);
        let layer = tree::parse(sources, id)?;
        order.push((id, layer));
    }
    order.extend(includes);
    order.push((site_id, site));

    let mut ids = Vec::new();
    let mut merged: Option<Value> = None;
    for (id, layer) in order {
        ids.push(id);
        match &mut merged {
            None => merged = Some(layer),
            Some(m) => merge(m, layer, "")?,
        }
    }
    let merged = merged.unwrap_or_else(|| Value::empty_table(base_id));
    Ok((merged, ids, site_dir))
}

/// `site.include` read straight from the site file (before merging).
fn include_paths(site: &Value) -> Result<Vec<(String, Origin)>, Diagnostic> {
    let Some(include) = site.get("site.include") else {
        return Ok(Vec::new());
    };
    let Node::Array(items) = &include.node else {
        return Err(Diagnostic::new("invalid value for `site.include`")
            .primary(
                include.origin.clone(),
                format!("expected a list of file names, found {}", include.kind()),
            )
            .help("write `include = [\"extra.toml\"]`"));
    };
    items
        .iter()
        .map(|item| match item.as_str() {
            Some(s) => Ok((s.to_owned(), item.origin.clone())),
            None => Err(Diagnostic::new("invalid value for `site.include`").primary(
                item.origin.clone(),
                format!("expected a file name, found {}", item.kind()),
            )),
        })
        .collect()
}
