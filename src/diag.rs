//! Source files, locations and diagnostics that point into them.
//!
//! Every error amlops reports about a manifest names the file, the line and the column, shows
//! the offending line and puts a caret under the offending text, in the style of rustc:
//!
//! ```text
//! error: unknown key `comand` in a command job
//!   --> jobs/train.yml:3:1
//!    |
//!  3 | comand: python train.py
//!    | ^^^^^^
//!    = help: did you mean `command`?
//! ```

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A file read by amlops, kept whole so diagnostics can quote it.
#[derive(Debug)]
pub struct SourceFile {
    /// Path on disk.
    pub path: PathBuf,
    /// Path as shown to the user (relative to the working directory when possible).
    pub display: String,
    /// Full text.
    pub text: String,
}

impl SourceFile {
    pub fn new(path: &Path, text: String) -> Arc<Self> {
        Arc::new(Self {
            path: path.to_path_buf(),
            display: display_path(path),
            text,
        })
    }

    /// The text of 1-based line `line`, without its line break.
    pub fn line_text(&self, line: u32) -> Option<&str> {
        self.text
            .split('\n')
            .nth(line.checked_sub(1)? as usize)
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
    }

    /// The directory that relative paths in this file resolve from.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }
}

/// Shows `path` relative to the current directory when it lies beneath it.
pub fn display_path(path: &Path) -> String {
    let cwd = std::env::current_dir().ok();
    let shown = cwd
        .as_deref()
        .and_then(|cwd| path.strip_prefix(cwd).ok())
        .unwrap_or(path);
    let text = shown.display().to_string();
    text.strip_prefix("./").map(str::to_owned).unwrap_or(text)
}

/// A position in a source file: 1-based line and column (in characters), and the length of
/// the marked text in characters.
#[derive(Clone)]
pub struct Loc {
    pub file: Arc<SourceFile>,
    pub line: u32,
    pub column: u32,
    pub len: u32,
}

impl Loc {
    pub fn new(file: &Arc<SourceFile>, line: u32, column: u32, len: u32) -> Self {
        Self {
            file: Arc::clone(file),
            line: line.max(1),
            column: column.max(1),
            len,
        }
    }

    /// The start of a file, for problems with the file as a whole.
    pub fn file_start(file: &Arc<SourceFile>) -> Self {
        Self::new(file, 1, 1, 0)
    }

    /// `path:line:column`, the form editors and terminals turn into links.
    pub fn position(&self) -> String {
        format!("{}:{}:{}", self.file.display, self.line, self.column)
    }
}

impl fmt::Debug for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.position())
    }
}

impl PartialEq for Loc {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.file, &other.file)
            && (self.line, self.column, self.len) == (other.line, other.column, other.len)
    }
}

/// A value together with where it was written.
#[derive(Clone, Debug)]
pub struct Located<T> {
    pub value: T,
    pub loc: Loc,
}

impl<T> Located<T> {
    pub fn new(value: T, loc: Loc) -> Self {
        Self { value, loc }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Located<U> {
        Located::new(f(self.value), self.loc)
    }

    pub fn as_ref(&self) -> Located<&T> {
        Located::new(&self.value, self.loc.clone())
    }
}

impl<T: PartialEq> PartialEq for Located<T> {
    /// Two located values are equal when their values are; where they were written does not
    /// change what they mean.
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T> std::ops::Deref for Located<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem, located where possible, with optional hints.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub loc: Option<Loc>,
    /// A file the problem concerns when there is no position inside it.
    pub path: Option<String>,
    /// Dotted path of the field concerned, such as `inputs.training_data.path`.
    pub field: Option<String>,
    pub hints: Vec<String>,
    /// Further places that explain the problem (the other end of a reference, say).
    pub related: Vec<(String, Loc)>,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            message: message.into(),
            loc: None,
            path: None,
            field: None,
            hints: Vec::new(),
            related: Vec::new(),
        }
    }

    pub fn warning(message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(message)
        }
    }

    pub fn at(mut self, loc: &Loc) -> Self {
        self.loc = Some(loc.clone());
        self
    }

    pub fn in_file(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    pub fn related(mut self, label: impl Into<String>, loc: &Loc) -> Self {
        self.related.push((label.into(), loc.clone()));
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The file this diagnostic concerns, as shown to the user.
    pub fn file(&self) -> Option<&str> {
        match &self.loc {
            Some(loc) => Some(&loc.file.display),
            None => self.path.as_deref(),
        }
    }

    /// Renders the diagnostic for a terminal, without colour.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{label}: {}", visible(&self.message));
        if let Some(loc) = &self.loc {
            render_snippet(&mut out, loc, self.field.as_deref());
        } else if let Some(path) = &self.path {
            let _ = writeln!(out, "  --> {path}");
        }
        for (label, loc) in &self.related {
            let _ = writeln!(out, "   = note: {label} at {}", loc.position());
        }
        for hint in &self.hints {
            let _ = writeln!(out, "   = help: {}", visible(hint));
        }
        out
    }

    /// A machine-readable form for `--json` output.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "severity": match self.severity { Severity::Error => "error", Severity::Warning => "warning" },
            "message": self.message,
            "file": self.file(),
            "line": self.loc.as_ref().map(|l| l.line),
            "column": self.loc.as_ref().map(|l| l.column),
            "field": self.field,
            "hints": self.hints,
            "related": self.related.iter().map(|(label, loc)| serde_json::json!({
                "label": label, "file": loc.file.display, "line": loc.line, "column": loc.column,
            })).collect::<Vec<_>>(),
        })
    }
}

fn render_snippet(out: &mut String, loc: &Loc, field: Option<&str>) {
    let number = loc.line.to_string();
    let pad = " ".repeat(number.len());
    match field {
        Some(field) => {
            let _ = writeln!(
                out,
                "{pad}--> {} (field `{}`)",
                loc.position(),
                visible(field)
            );
        }
        None => {
            let _ = writeln!(out, "{pad}--> {}", loc.position());
        }
    }
    let Some(text) = loc.file.line_text(loc.line) else {
        return;
    };
    if field.is_some_and(holds_a_secret) {
        // The line would show the secret itself.
        let _ = writeln!(out, "{pad} |");
        let _ = writeln!(out, "{number} | (line not shown: it holds a secret)");
        return;
    }
    let text = crate::redact::without_signature(text).unwrap_or_else(|| text.to_owned());
    // Each character as shown: invisible and control characters spelt out, so that what
    // the caret points at can be seen (and a bidirectional override cannot reorder the line).
    let shown: Vec<String> = text.chars().map(shown_char).collect();
    let width = |chars: &[String]| chars.iter().map(|c| c.chars().count()).sum::<usize>();
    let count = shown.len();
    let start = (loc.column.saturating_sub(1) as usize).min(count);
    let end = (start + loc.len.max(1) as usize).min(count).max(start);
    // A long line is cut to a window around the caret.
    let (from, to) = if count <= SNIPPET_WIDTH {
        (0, count)
    } else {
        let from = start.saturating_sub(SNIPPET_WIDTH / 3);
        (from, (from + SNIPPET_WIDTH).min(count))
    };
    let before = if from > 0 { "…" } else { "" };
    let after = if to < count { "…" } else { "" };
    let _ = writeln!(out, "{pad} |");
    let _ = writeln!(
        out,
        "{number} | {before}{}{after}",
        shown[from..to].concat()
    );
    let offset = before.chars().count() + width(&shown[from..start.max(from)]);
    let len = width(&shown[start.min(to)..end.min(to)]).max(1);
    let _ = writeln!(out, "{pad} | {}{}", " ".repeat(offset), "^".repeat(len));
}

/// Whether a field's value is a secret, by its name (`ssh_settings.admin_password`).
fn holds_a_secret(field: &str) -> bool {
    let last = field
        .rsplit('.')
        .next()
        .unwrap_or(field)
        .to_ascii_lowercase();
    ["password", "secret", "token", "account_key", "private_key"]
        .iter()
        .any(|word| last.contains(word))
}

/// The most characters of a line a snippet shows.
const SNIPPET_WIDTH: usize = 160;

fn shown_char(c: char) -> String {
    match c {
        '\t' => " ".into(),
        c if c.is_control() || invisible(c) => format!("\\u{{{:04x}}}", c as u32),
        c => c.to_string(),
    }
}

/// Characters that print as nothing or reorder what follows them.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00ad}'
            | '\u{034f}'
            | '\u{061c}'
            | '\u{115f}'..='\u{1160}'
            | '\u{17b4}'..='\u{17b5}'
            | '\u{180b}'..='\u{180f}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{3164}'
            | '\u{fe00}'..='\u{fe0f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{e0000}'..='\u{e007f}'
    )
}

/// `text` with control and invisible characters spelt out (`\u{202e}`); newlines kept.
pub fn visible(text: &str) -> std::borrow::Cow<'_, str> {
    if !text
        .chars()
        .any(|c| (c.is_control() && c != '\n') || invisible(c))
    {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| match c {
                '\n' => "\n".to_owned(),
                c => shown_char(c),
            })
            .collect(),
    )
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.render().trim_end())
    }
}

/// A collection of diagnostics gathered while reading many files, so that one run reports
/// every problem rather than only the first.
#[derive(Debug, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| d.is_error())
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| !d.is_error())
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }
}

/// The candidate closest to `word` by edit distance, when it is close enough to be a likely
/// misspelling.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edit distance between two strings, counted in characters: insertions, deletions,
/// substitutions and transpositions of neighbours (`lr` for `rl`) each count one.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows of the optimal-string-alignment table: two back, one back, current.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            current[j] = best;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> Arc<SourceFile> {
        Arc::new(SourceFile {
            path: PathBuf::from("jobs/train.yml"),
            display: "jobs/train.yml".into(),
            text: text.into(),
        })
    }

    #[test]
    fn renders_line_and_caret() {
        let f = file("name: x\ncomand: python train.py\n");
        let d = Diagnostic::error("unknown key `comand` in a command job")
            .at(&Loc::new(&f, 2, 1, 6))
            .hint("did you mean `command`?");
        assert_eq!(
            d.render(),
            "error: unknown key `comand` in a command job\n --> jobs/train.yml:2:1\n  |\n2 | comand: python train.py\n  | ^^^^^^\n   = help: did you mean `command`?\n"
        );
    }

    #[test]
    fn long_lines_are_cut_around_the_caret_and_invisible_characters_spelt_out() {
        let long = format!("key: {}bad{}", "x".repeat(500), "y".repeat(500));
        let f = file(&long);
        let d = Diagnostic::error("x").at(&Loc::new(&f, 1, 506, 3));
        let rendered = d.render();
        let lines: Vec<&str> = rendered.lines().collect();
        assert!(lines[3].len() < 200 * 3, "{}", lines[3]);
        let code = lines[3].trim_start_matches("1 | ");
        let caret = lines[4].trim_start_matches("  | ");
        let at = caret.find('^').unwrap();
        assert_eq!(
            code.chars().skip(at).take(3).collect::<String>(),
            "bad",
            "{rendered}"
        );
        let f = file("name: a\u{202e}b\u{200b}c");
        let d = Diagnostic::error("bad name `a\u{202e}b`").at(&Loc::new(&f, 1, 8, 1));
        let rendered = d.render();
        assert!(!rendered.contains('\u{202e}') && !rendered.contains('\u{200b}'));
        assert!(
            rendered.contains("1 | name: a\\u{202e}b\\u{200b}c\n  |        ^^^^^^^^\n"),
            "{rendered}"
        );
        assert!(rendered.starts_with("error: bad name `a\\u{202e}b`"));
    }

    #[test]
    fn caret_is_clamped_to_the_line() {
        let f = file("a: b");
        let d = Diagnostic::error("x").at(&Loc::new(&f, 1, 10, 5));
        assert!(
            d.render().ends_with("1 | a: b\n  |     ^\n"),
            "{}",
            d.render()
        );
    }

    #[test]
    fn suggests_close_keys_only() {
        let keys = ["command", "code", "compute", "environment"];
        assert_eq!(did_you_mean("comand", keys), Some("command"));
        assert_eq!(did_you_mean("enviroment", keys), Some("environment"));
        assert_eq!(did_you_mean("banana", keys), None);
        assert_eq!(did_you_mean("rl", ["lr", "k"]), Some("lr"));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
