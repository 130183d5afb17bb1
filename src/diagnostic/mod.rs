//! Errors about the user's input, shown the way rustc shows them: the
//! message, the file, line and column, the line itself with a caret, and
//! what to type instead.

use std::fmt::Write as _;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

pub mod source;

use source::{Origin, Sources};

/// One problem with the input, with everything needed to explain it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub message: String,
    pub primary: Option<(Origin, String)>,
    pub secondary: Vec<(Origin, String)>,
    pub help: Vec<String>,
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            primary: None,
            secondary: Vec::new(),
            help: Vec::new(),
            notes: Vec::new(),
        }
    }

    #[must_use]
    pub fn primary(mut self, origin: Origin, label: impl Into<String>) -> Diagnostic {
        self.primary = Some((origin, label.into()));
        self
    }

    #[must_use]
    pub fn secondary(mut self, origin: Origin, label: impl Into<String>) -> Diagnostic {
        self.secondary.push((origin, label.into()));
        self
    }

    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help.push(help.into());
        self
    }

    #[must_use]
    pub fn note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    /// Render for a terminal (`color`) or for a log and tests (plain).
    pub fn render(&self, sources: &Sources, color: bool) -> String {
        let shown = self.shown();
        if shown.primary.is_none() && shown.secondary.is_empty() {
            return shown.render_bare();
        }
        shown.render_shown(sources, color)
    }

    /// A copy safe for a terminal: every text escaped (a value with an
    /// ESC in it must not clear the screen or print a fake line), each at
    /// most 1000 characters.
    fn shown(&self) -> Diagnostic {
        let text = |t: &str| terminal_safe(t, 1000);
        Diagnostic {
            message: text(&self.message),
            primary: self.primary.as_ref().map(|(o, l)| (o.clone(), text(l))),
            secondary: self
                .secondary
                .iter()
                .map(|(o, l)| (o.clone(), text(l)))
                .collect(),
            help: self.help.iter().map(|h| text(h)).collect(),
            notes: self.notes.iter().map(|n| text(n)).collect(),
        }
    }

    fn render_shown(&self, sources: &Sources, color: bool) -> String {
        let renderer = if color {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        let mut title = Level::ERROR.primary_title(&self.message);
        let mut groups: Vec<Group<'_>> = Vec::new();
        // One snippet per source file, the primary one first.
        let mut annotated: Vec<(&Origin, &str, bool)> = Vec::new();
        if let Some((origin, label)) = &self.primary {
            annotated.push((origin, label, true));
        }
        for (origin, label) in &self.secondary {
            annotated.push((origin, label, false));
        }
        let mut seen = Vec::new();
        let mut first = Some(title.clone());
        for (origin, _, _) in &annotated {
            if seen.contains(&origin.source) {
                continue;
            }
            seen.push(origin.source);
            let source = sources.get(origin.source);
            let text = shown_source(&source.text);
            let mut snippet = Snippet::source(text)
                .path(source.name.as_str())
                .line_start(1);
            for (o, label, primary) in &annotated {
                if o.source == origin.source {
                    let kind = if *primary {
                        AnnotationKind::Primary
                    } else {
                        AnnotationKind::Context
                    };
                    snippet = snippet.annotation(kind.span(o.span.clone()).label(*label));
                }
            }
            match first.take() {
                Some(t) => {
                    title = t;
                    groups.push(title.clone().element(snippet));
                }
                None => groups.push(Group::with_level(Level::ERROR).element(snippet)),
            }
        }
        if let Some(t) = first {
            groups.push(Group::with_title(t));
        }
        let last = groups.len() - 1;
        let mut tail = std::mem::replace(&mut groups[last], Group::with_level(Level::ERROR));
        for help in &self.help {
            tail = tail.element(Level::HELP.message(help.as_str()));
        }
        for note in &self.notes {
            tail = tail.element(Level::NOTE.message(note.as_str()));
        }
        groups[last] = tail;
        renderer.render(&groups)
    }
}

impl Diagnostic {
    /// A diagnostic with no source line to show: message, then help and notes.
    fn render_bare(&self) -> String {
        let mut out = format!("error: {}", self.message);
        for help in &self.help {
            let _ = write!(out, "\n  = help: {help}");
        }
        for note in &self.notes {
            let _ = write!(out, "\n  = note: {note}");
        }
        out
    }
}

/// Render several diagnostics, separated by blank lines, with a count.
pub fn render_all(diagnostics: &[Diagnostic], sources: &Sources, color: bool) -> String {
    let mut out = String::new();
    for (i, d) in diagnostics.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&d.render(sources, color));
        out.push('\n');
    }
    if diagnostics.len() > 1 {
        let _ = writeln!(
            out,
            "error: {} problems in the site; nothing was written",
            diagnostics.len()
        );
    }
    out
}

/// The closest of `candidates` to `word`, if it is close enough to be a typo.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(word, c), *c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// `text` with control characters (but newlines) and bidirectional
/// overrides escaped as `\u{..}`, cut at `max` characters.
pub fn terminal_safe(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        if (c.is_control() && c != '\n') || is_bidi(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

fn is_bidi(c: char) -> bool {
    ('\u{202a}'..='\u{202e}').contains(&c) || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// A source's text for a snippet: control characters (but newlines and
/// tabs) and bidirectional overrides replaced by characters of the same
/// length in bytes (`?`, or U+FFFD for a three-byte one), so every span
/// still points where it did.
fn shown_source(text: &str) -> std::borrow::Cow<'_, str> {
    if !text
        .chars()
        .any(|c| (c.is_control() && c != '\n' && c != '\t') || is_bidi(c))
    {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if (c.is_control() && c != '\n' && c != '\t') || is_bidi(c) {
            match c.len_utf8() {
                3 => out.push('\u{fffd}'),
                n => out.push_str(&"?".repeat(n)),
            }
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}
