//! Every TOML text clawbake reads, kept whole so that any later error can
//! quote the line it is about.
//!
//! A value remembers where it came from as an [`Origin`]: which source and
//! which byte range. Line and column are computed only when an error is shown.

use std::ops::Range;
use std::path::PathBuf;

/// Index of a source in [`Sources`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourceId(pub usize);

/// Where a value was written: a source and a byte range in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub source: SourceId,
    pub span: Range<usize>,
}

/// Whether a source ships inside the binary or was written by the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    Builtin,
    User,
}

/// One TOML text and the name it is shown under (`layers/base.toml`,
/// `mysite/site.toml`).
#[derive(Clone, Debug)]
pub struct Source {
    pub name: String,
    pub path: Option<PathBuf>,
    pub text: String,
    pub kind: SourceKind,
}

/// All sources of one build, in the order they were loaded.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    list: Vec<Source>,
}

impl Sources {
    pub fn add(&mut self, source: Source) -> SourceId {
        self.list.push(source);
        SourceId(self.list.len() - 1)
    }

    pub fn get(&self, id: SourceId) -> &Source {
        &self.list[id.0]
    }

    pub fn iter(&self) -> impl Iterator<Item = (SourceId, &Source)> {
        self.list.iter().enumerate().map(|(i, s)| (SourceId(i), s))
    }

    /// 1-based line and column of a byte offset, counting columns in chars.
    pub fn line_col(&self, id: SourceId, offset: usize) -> (usize, usize) {
        let text = &self.get(id).text;
        let offset = offset.min(text.len());
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = text[line_start..offset].chars().count() + 1;
        (line, col)
    }

    /// Overwrite a value in a source's text with `*`, keeping its length,
    /// so that a diagnostic quoting the line cannot show a secret.
    pub fn redact(&mut self, origin: &Origin) {
        let text = &mut self.list[origin.source.0].text;
        let Some(secret) = text.get(origin.span.clone()) else {
            return;
        };
        let masked: String = secret
            .chars()
            .map(|c| {
                if c == '"' || c == '\'' {
                    c.to_string()
                } else {
                    "*".repeat(c.len_utf8())
                }
            })
            .collect();
        text.replace_range(origin.span.clone(), &masked);
    }

    /// `name:line:col` of an origin.
    pub fn locate(&self, origin: &Origin) -> String {
        let (line, col) = self.line_col(origin.source, origin.span.start);
        format!("{}:{line}:{col}", self.get(origin.source).name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one_and_in_chars() {
        let mut sources = Sources::default();
        let id = sources.add(Source {
            name: "t.toml".into(),
            path: None,
            text: "a = 1\nbé = \"x\"\n".into(),
            kind: SourceKind::User,
        });
        assert_eq!(sources.line_col(id, 0), (1, 1));
        assert_eq!(sources.line_col(id, 6), (2, 1));
        // "bé = " is 6 bytes but 5 chars, so the quote is column 6.
        assert_eq!(sources.line_col(id, 12), (2, 6));
    }
}
