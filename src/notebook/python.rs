//! The boundary to the Python parser, and the IPython syntax that sits on top of Python.
//!
//! Cells are parsed with ruff's parser in its notebook mode, which lexes IPython escape
//! commands (`%magic`, `!shell`, `?help`) as statements at the start of a logical line and never
//! inside strings or comments. Two things it leaves to us: a cell magic (`%%name`) owns the whole
//! cell body, which may not be Python at all, so it is split off before parsing; and automagics
//! (`ls "/tmp/x"` without `%`) are syntax errors to a parser, so a line that fails to parse and
//! starts with a known magic name is re-read as that magic. Everything outside this file sees
//! only [`PreparedCell`]: source text, its AST and 1-based line numbers within the cell.

use ruff_python_ast::{ModModule, PySourceType, PythonVersion};
use ruff_python_parser::{ParseOptions, Parsed, parse_unchecked_source};
use ruff_text_size::{TextRange, TextSize};

/// The Python version parsed against: syntax newer than this is an error, since the job's
/// interpreter may be this old.
pub const TARGET_PYTHON: PythonVersion = PythonVersion::PY311;

/// A cell magic line (`%%time`, `%%writefile out.txt`) split off a cell.
#[derive(Debug, Clone, PartialEq)]
pub struct CellMagic {
    pub name: String,
    pub args: String,
    /// 1-based line of the `%%` line in the cell.
    pub line: u32,
}

/// A code cell ready for analysis.
#[derive(Debug)]
pub struct PreparedCell {
    pub cell_magic: Option<CellMagic>,
    /// The Python text that was parsed: the cell, or the body after a cell magic line, with
    /// automagic lines turned into `%` magics.
    pub text: String,
    /// Lines of the cell before `text` starts.
    pub line_offset: u32,
    pub parsed: Parsed<ModModule>,
    /// Byte offsets of line starts in `text`.
    line_starts: Vec<usize>,
    /// Lines whose automagic was made explicit, 1-based in the cell.
    pub automagic_lines: Vec<u32>,
}

/// A syntax error, 1-based line within the cell.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxProblem {
    pub line: u32,
    pub message: String,
}

/// Magic names IPython runs without `%` while automagic is on (the default).
const AUTOMAGICS: &[&str] = &[
    "cat",
    "cd",
    "clear",
    "conda",
    "cp",
    "env",
    "history",
    "less",
    "ll",
    "load_ext",
    "ls",
    "lsmagic",
    "mamba",
    "matplotlib",
    "mkdir",
    "more",
    "mv",
    "pip",
    "pwd",
    "rm",
    "rmdir",
    "run",
    "time",
    "timeit",
    "who",
    "whos",
];

impl PreparedCell {
    /// Splits a cell magic off, parses, and retries once per automagic line found.
    pub fn new(source: &str) -> Self {
        let (cell_magic, body, line_offset) = split_cell_magic(source);
        let mut text = body.to_string();
        let mut automagic_lines = Vec::new();
        let plain = parse_plain(&text);
        if plain.errors().is_empty() {
            let line_starts = line_starts(&text);
            return PreparedCell {
                cell_magic,
                text,
                line_offset,
                parsed: plain,
                line_starts,
                automagic_lines,
            };
        }
        text = spell_out_escapes(&text, &plain);
        let mut parsed = parse(&text);
        // Each round fixes one line; a cell cannot have more automagic lines than lines.
        for _ in 0..text.lines().count() {
            let Some(offset) = automagic_at_error(&text, &parsed) else {
                break;
            };
            text.insert(offset, '%');
            let line = text[..offset].matches('\n').count() as u32 + 1;
            automagic_lines.push(line + line_offset);
            parsed = parse(&text);
        }
        let line_starts = line_starts(&text);
        PreparedCell {
            cell_magic,
            text,
            line_offset,
            parsed,
            line_starts,
            automagic_lines,
        }
    }

    /// The same cell with its Python text replaced by `text`, which must keep the line breaks
    /// where they were (edits that stay within lines).
    pub fn with_text(&self, text: String) -> Self {
        let parsed = parse(&text);
        let line_starts = line_starts(&text);
        PreparedCell {
            cell_magic: self.cell_magic.clone(),
            text,
            line_offset: self.line_offset,
            parsed,
            line_starts,
            automagic_lines: self.automagic_lines.clone(),
        }
    }

    /// The 1-based cell line holding byte `offset` of [`Self::text`].
    pub fn line_of(&self, offset: TextSize) -> u32 {
        let offset = offset.to_usize();
        let line = self.line_starts.partition_point(|start| *start <= offset);
        line as u32 + self.line_offset
    }

    /// The text of `range`.
    pub fn slice(&self, range: TextRange) -> &str {
        &self.text[range.start().to_usize()..range.end().to_usize()]
    }

    /// Syntax errors, including syntax newer than [`TARGET_PYTHON`].
    pub fn syntax_problems(&self) -> Vec<SyntaxProblem> {
        let parse_errors = self.parsed.errors().iter().map(|error| SyntaxProblem {
            line: self.line_of(error.location.start()),
            message: error.error.to_string(),
        });
        let version_errors =
            self.parsed
                .unsupported_syntax_errors()
                .iter()
                .map(|error| SyntaxProblem {
                    line: self.line_of(error.range.start()),
                    message: error.to_string(),
                });
        parse_errors.chain(version_errors).collect()
    }

    /// Byte offset in [`Self::text`] of the start of the line holding `offset`.
    pub fn line_start(&self, offset: TextSize) -> usize {
        let offset = offset.to_usize();
        let line = self.line_starts.partition_point(|start| *start <= offset);
        self.line_starts[line.saturating_sub(1)]
    }
}

/// Parses without IPython syntax: the fast path for cells that are plain Python.
fn parse_plain(text: &str) -> Parsed<ModModule> {
    let options = ParseOptions::from(PySourceType::Python).with_target_version(TARGET_PYTHON);
    match ruff_python_parser::parse_unchecked(text, options).try_into_module() {
        Some(module) => module,
        None => parse_unchecked_source(text, PySourceType::Python),
    }
}

/// Rewrites line escapes that start with `?`, `/`, `;` or `,` into the `%` magics IPython
/// turns them into (`?x` is `%pinfo x`; the others are autocall).
///
/// ruff_python_parser 0.0.10 panics ("IPython escape command expression is only allowed for %
/// and !") when error recovery meets one of these escapes where it expects an expression, as
/// in `def?(,\n;`; `%` and `!` escapes are safe there. Lines that start inside a string are left
/// alone. TODO(#6): a continuation line that starts with `,` in a cell that also holds IPython
/// syntax is read as an autocall and then refused as a syntax error.
fn spell_out_escapes(text: &str, plain: &Parsed<ModModule>) -> String {
    let strings: Vec<TextRange> = plain
        .tokens()
        .iter()
        .filter(|token| is_string_content(token.kind()))
        .map(ruff_text_size::Ranged::range)
        .collect();
    let mut out = String::with_capacity(text.len() + 16);
    let mut offset = 0usize;
    for line in text.split_inclusive('\n') {
        let inside = starts_inside(&strings, offset);
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let rewritten = match trimmed.chars().next() {
            _ if inside => None,
            Some('?') if trimmed.starts_with("??") => Some(format!("%pinfo2 {}", &trimmed[2..])),
            Some('?') => Some(format!("%pinfo {}", &trimmed[1..])),
            Some('/' | ';' | ',') => Some(format!("%autocall {}", &trimmed[1..])),
            _ => None,
        };
        match rewritten {
            Some(rewritten) => {
                out.push_str(indent);
                out.push_str(&rewritten);
            }
            None => out.push_str(line),
        }
        offset += line.len();
    }
    out
}

/// Whether `offset` lies strictly inside one of `ranges`, which are sorted and do not overlap
/// (token ranges), so only the last range starting before `offset` can hold it.
fn starts_inside(ranges: &[TextRange], offset: usize) -> bool {
    let before = ranges.partition_point(|range| range.start().to_usize() < offset);
    before > 0 && offset < ranges[before - 1].end().to_usize()
}

fn is_string_content(kind: ruff_python_ast::token::TokenKind) -> bool {
    use ruff_python_ast::token::TokenKind;
    matches!(
        kind,
        TokenKind::String | TokenKind::FStringMiddle | TokenKind::TStringMiddle
    )
}

fn parse(text: &str) -> Parsed<ModModule> {
    let options = ParseOptions::from(PySourceType::Ipynb).with_target_version(TARGET_PYTHON);
    let parsed = ruff_python_parser::parse_unchecked(text, options);
    match parsed.try_into_module() {
        Some(module) => module,
        // Unreachable: module mode always yields a module; parse again in the plain way.
        None => parse_unchecked_source(text, PySourceType::Ipynb),
    }
}

fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(at, _)| at + 1))
        .collect()
}

/// IPython honours `%%name` only on the first non-blank line of a cell.
fn split_cell_magic(source: &str) -> (Option<CellMagic>, &str, u32) {
    let mut offset = 0;
    for (number, line) in source.split_inclusive('\n').enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            offset += line.len();
            continue;
        }
        let Some(rest) = line.strip_prefix("%%") else {
            break;
        };
        let rest = rest.trim_end();
        let (name, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let magic = CellMagic {
            name: name.to_string(),
            args: args.trim().to_string(),
            line: number as u32 + 1,
        };
        return (
            Some(magic),
            &source[offset + line.len()..],
            number as u32 + 1,
        );
    }
    (None, source, 0)
}

/// When the first parse error sits on a line that starts with an automagic name followed by an
/// argument, the offset where a `%` makes it an explicit magic.
fn automagic_at_error(text: &str, parsed: &Parsed<ModModule>) -> Option<usize> {
    let error = parsed.errors().first()?;
    let at = error.location.start().to_usize().min(text.len());
    let line_start = text[..at].rfind('\n').map_or(0, |newline| newline + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let indent = line.len() - line.trim_start().len();
    let word_end = line[indent..]
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(line.len(), |end| indent + end);
    let word = &line[indent..word_end];
    let rest = &line[word_end..];
    let looks_like_command = rest.starts_with(' ')
        && !rest.trim_start().starts_with('=')
        && !rest.trim_start().starts_with('(');
    (AUTOMAGICS.contains(&word) && looks_like_command).then_some(line_start + indent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruff_python_ast::Stmt;

    #[test]
    fn splits_cell_magic_after_blank_lines() {
        let cell = PreparedCell::new("\n%%time\nx = 1\n");
        let magic = cell.cell_magic.as_ref().unwrap();
        assert_eq!((magic.name.as_str(), magic.line), ("time", 2));
        assert_eq!(cell.text, "x = 1\n");
        assert_eq!(cell.line_of(TextSize::new(0)), 3);
        assert!(cell.syntax_problems().is_empty());
    }

    #[test]
    fn magic_text_inside_strings_stays_a_string() {
        let cell = PreparedCell::new("s = \"\"\"\n%matplotlib inline\n\"\"\"\n");
        assert!(cell.syntax_problems().is_empty());
        assert!(matches!(cell.parsed.syntax().body[0], Stmt::Assign(_)));
    }

    #[test]
    fn automagic_becomes_explicit() {
        let cell = PreparedCell::new("x = 1\nls \"/tmp/train\" \n");
        assert_eq!(cell.automagic_lines, [2]);
        assert!(cell.syntax_problems().is_empty());
        assert!(matches!(
            cell.parsed.syntax().body[1],
            Stmt::IpyEscapeCommand(_)
        ));
    }

    #[test]
    fn plain_names_are_not_automagic() {
        let cell = PreparedCell::new("ls = [1]\npwd\n");
        assert!(cell.automagic_lines.is_empty());
        assert!(cell.syntax_problems().is_empty());
    }

    #[test]
    fn escapes_that_crash_the_parser_are_spelled_out() {
        // Found by cargo fuzz: ruff_python_parser 0.0.10 panics on this input in notebook mode.
        let cell = PreparedCell::new("def?(,\n;");
        assert!(!cell.syntax_problems().is_empty());
        let cell = PreparedCell::new("?pd.read_csv\nx = 1\n");
        assert!(cell.text.starts_with("%pinfo pd.read_csv\n"));
        assert!(cell.syntax_problems().is_empty());
        let cell = PreparedCell::new("%ls\ns = \"\"\"\n,not code\n\"\"\"\n");
        assert!(cell.text.contains("\n,not code\n"));
    }

    #[test]
    fn newer_syntax_is_an_error() {
        let cell = PreparedCell::new("type X = int\n");
        assert_eq!(cell.syntax_problems().len(), 1);
    }
}
