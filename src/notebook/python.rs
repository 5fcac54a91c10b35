//! The boundary to the Python parser, and the IPython syntax that sits on top of Python.
//!
//! Cells are parsed with ruff's parser in its notebook mode, which lexes IPython escape
//! commands (`%magic`, `!shell`, `?help`) as statements at the start of a logical line and never
//! inside strings or comments. Two things it leaves to us: a cell magic (`%%name`) owns the whole
//! cell body, which may not be Python at all, so it is split off before parsing; and automagics
//! (`ls "/tmp/x"` without `%`) are syntax errors to a parser, so a line that fails to parse and
//! starts with a known magic name is re-read as that magic. Everything outside this file sees
//! only [`PreparedCell`]: source text, its AST and 1-based line numbers within the cell.

use ruff_python_ast::token::{Token, TokenKind};
use ruff_python_ast::{ModModule, PySourceType, PythonVersion};
use ruff_python_parser::{ParseError, ParseOptions, Parsed, parse_unchecked_source};
use ruff_text_size::{Ranged, TextRange, TextSize};

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
        // Each line becomes explicit at most once; a cell cannot have more automagic lines than
        // lines.
        let mut budget = text.lines().count();
        while budget > 0 {
            let mut offsets = automagics_at_errors(&text, &parsed);
            if offsets.is_empty() {
                break;
            }
            offsets.truncate(budget);
            budget -= offsets.len();
            let starts = line_starts(&text);
            automagic_lines.extend(offsets.iter().map(|offset| {
                starts.partition_point(|start| start <= offset) as u32 + line_offset
            }));
            text = insert_percents(&text, &offsets);
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
    #[cfg(test)]
    PARSED_BYTES.set(PARSED_BYTES.get() + text.len());
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

fn is_string_content(kind: TokenKind) -> bool {
    matches!(
        kind,
        TokenKind::String | TokenKind::FStringMiddle | TokenKind::TStringMiddle
    )
}

#[cfg(test)]
thread_local! {
    /// Bytes given to the parser on this thread, for tests that count work.
    static PARSED_BYTES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn parse(text: &str) -> Parsed<ModModule> {
    #[cfg(test)]
    PARSED_BYTES.set(PARSED_BYTES.get() + text.len());
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

/// The offset where a `%` makes the line of `error` an explicit magic, when that line starts
/// with an automagic name followed by an argument.
fn automagic_at(text: &str, error: &ParseError) -> Option<usize> {
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

/// The offsets, in order, at which successive rounds of "parse, then make the line of the first
/// error an explicit magic" would insert a `%`, as far as they can be told from this one parse.
///
/// Reparsing after every line costs a parse of the whole cell per automagic line. Instead, when
/// the line of the first error is self-contained, the next round's first error is known
/// without parsing: a line that starts a logical line, has balanced brackets, ends with a
/// logical newline and holds only expression tokens leaves the lexer and the parser in the same
/// state at its end whether it is read as Python or as a `%` magic. Its errors then disappear
/// and every later error stays as it is, so the next round's first error is the first one
/// after the line. The first line that is not self-contained ends the batch (it is still made
/// explicit; the caller parses again). The batch never differs from the rounds one by one; a
/// test holds the two to the same results.
fn automagics_at_errors(text: &str, parsed: &Parsed<ModModule>) -> Vec<usize> {
    let errors = parsed.errors();
    // The smallest error start from each index on: the errors after a line must all lie after
    // it, whatever order the parser reported them in.
    let mut later_min = vec![usize::MAX; errors.len() + 1];
    for index in (0..errors.len()).rev() {
        later_min[index] = later_min[index + 1].min(errors[index].location.start().to_usize());
    }
    let mut offsets = Vec::new();
    let mut next = 0;
    while let Some(error) = errors.get(next) {
        let Some(offset) = automagic_at(text, error) else {
            break;
        };
        offsets.push(offset);
        match after_self_contained_line(text, parsed, next, offset, &later_min) {
            Some(after) => next = after,
            None => break,
        }
    }
    offsets
}

/// When the automagic line starting at `offset` (holding error `first`) is self-contained, the
/// index of the first error after it.
fn after_self_contained_line(
    text: &str,
    parsed: &Parsed<ModModule>,
    first: usize,
    offset: usize,
    later_min: &[usize],
) -> Option<usize> {
    let line_start = text[..offset].rfind('\n').map_or(0, |newline| newline + 1);
    let line_end = text[offset..]
        .find('\n')
        .map_or(text.len(), |at| offset + at);
    // A `%` magic runs on over a line break after a backslash, even one in a comment.
    let line = &text[line_start..line_end];
    if line.contains('\r') || line.ends_with('\\') {
        return None;
    }
    let word_end = text[offset..line_end]
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(line_end, |end| offset + end);
    // This line's errors come from reading its argument as Python; one before the argument
    // (indentation) would stay.
    let errors = parsed.errors();
    let mut after = first;
    while let Some(error) = errors.get(after) {
        let at = error.location.start().to_usize();
        if !(line_start..=line_end).contains(&at) {
            break;
        }
        if at < word_end {
            return None;
        }
        after += 1;
    }
    if later_min[after] <= line_end {
        return None;
    }
    let tokens: &[Token] = parsed.tokens();
    let first_token = tokens.partition_point(|token| token.start().to_usize() < line_start);
    let starts_logical_line = tokens[..first_token]
        .iter()
        .rev()
        .find(|token| {
            !matches!(
                token.kind(),
                TokenKind::Comment | TokenKind::NonLogicalNewline
            )
        })
        .is_none_or(|token| token.kind() == TokenKind::Newline);
    if !starts_logical_line {
        return None;
    }
    let mut open: Vec<TokenKind> = Vec::new();
    for token in &tokens[first_token..] {
        let (start, end) = (token.start().to_usize(), token.end().to_usize());
        if matches!(token.kind(), TokenKind::Indent | TokenKind::Dedent) {
            continue;
        }
        if start < offset {
            return None;
        }
        if token.kind() == TokenKind::Newline {
            return (start == line_end && open.is_empty()).then_some(after);
        }
        if end > line_end {
            return None;
        }
        match token.kind() {
            TokenKind::Lpar => open.push(TokenKind::Rpar),
            TokenKind::Lsqb => open.push(TokenKind::Rsqb),
            TokenKind::Lbrace => open.push(TokenKind::Rbrace),
            closing @ (TokenKind::Rpar | TokenKind::Rsqb | TokenKind::Rbrace) => {
                if open.pop() != Some(closing) {
                    return None;
                }
            }
            kind if is_plain_expression_token(kind) => {}
            _ => return None,
        }
    }
    None
}

/// Tokens that can only continue the simple statements of one line: no block, decorator,
/// lambda, string that spans lines, or escape command.
fn is_plain_expression_token(kind: TokenKind) -> bool {
    matches!(
        kind,
        TokenKind::Name
            | TokenKind::Int
            | TokenKind::Float
            | TokenKind::Complex
            | TokenKind::String
            | TokenKind::Comment
            | TokenKind::Dot
            | TokenKind::Comma
            | TokenKind::Semi
            | TokenKind::Plus
            | TokenKind::Minus
            | TokenKind::Star
            | TokenKind::Slash
            | TokenKind::DoubleSlash
            | TokenKind::Percent
            | TokenKind::DoubleStar
            | TokenKind::Vbar
            | TokenKind::Amper
            | TokenKind::Tilde
            | TokenKind::CircumFlex
            | TokenKind::LeftShift
            | TokenKind::RightShift
            | TokenKind::Less
            | TokenKind::Greater
            | TokenKind::LessEqual
            | TokenKind::GreaterEqual
            | TokenKind::EqEqual
            | TokenKind::NotEqual
            | TokenKind::Equal
            | TokenKind::Ellipsis
            | TokenKind::Unknown
            | TokenKind::True
            | TokenKind::False
            | TokenKind::None
    )
}

/// `text` with a `%` inserted at each of `offsets` (ascending).
fn insert_percents(text: &str, offsets: &[usize]) -> String {
    let mut out = String::with_capacity(text.len() + offsets.len());
    let mut copied = 0;
    for &offset in offsets {
        out.push_str(&text[copied..offset]);
        out.push('%');
        copied = offset;
    }
    out.push_str(&text[copied..]);
    out
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

    /// The rounds one at a time, each parsing the whole cell: what [`PreparedCell::new`] must
    /// match.
    fn one_round_at_a_time(source: &str) -> (String, Vec<u32>) {
        let (_, body, line_offset) = split_cell_magic(source);
        let mut text = body.to_string();
        let plain = parse_plain(&text);
        if plain.errors().is_empty() {
            return (text, Vec::new());
        }
        text = spell_out_escapes(&text, &plain);
        let mut parsed = parse(&text);
        let mut lines = Vec::new();
        for _ in 0..text.lines().count() {
            let first = parsed.errors().first();
            let Some(offset) = first.and_then(|error| automagic_at(&text, error)) else {
                break;
            };
            text.insert(offset, '%');
            lines.push(text[..offset].matches('\n').count() as u32 + 1 + line_offset);
            parsed = parse(&text);
        }
        (text, lines)
    }

    /// Lines around automagics: self-contained ones, and ones that change how later lines read.
    const LINES: &[&str] = &[
        "ls data\n",
        "ls \"/tmp/x\" \n",
        "pip install numpy==1.26\n",
        "cd ..\n",
        "mkdir -p out/models\n",
        "rm -rf /tmp/x  # clean\n",
        "cp a.txt b.txt; x = 1\n",
        "env A=1\n",
        "time x = f()\n",
        "ls x = = 1\n",
        "ls -l\n",
        "ls x[\n",
        "ls x]\n",
        "ls x)\n",
        "ls (a) b\n",
        "ls x[1] y\n",
        "ls 'open\n",
        "ls '''open\n",
        "ls f\"{x}\" y\n",
        "ls x \\\n",
        "ls x if y else z\n",
        "ls x: y\n",
        "time for i in y:\n",
        "ls @x\n",
        "ls x?\n",
        "ls x = !y\n",
        "ls x = %y\n",
        "ls lambda: y\n",
        "ls not x\n",
        "ls None True\n",
        "ls $HOME ~\n",
        "ls x\r\n",
        "ls\n",
        "%%time\n",
        "    ls data\n",
        "\tls data\n",
        "  ls data\n",
        "x = 1\n",
        "x = (1,\n",
        "  2)\n",
        "if x:\n",
        "else:\n",
        "try:\n",
        "    pass\n",
        "@dec\n",
        "def f():\n",
        "    return 1\n",
        "s = '''\n",
        "'''\n",
        "# comment\n",
        "\n",
        "y = [\n",
        "]\n",
        "%matplotlib inline\n",
        "?x\n",
        "x = 1 \\\n",
        "def broken(:\n",
        "print(x)\n",
    ];

    /// xorshift64*: deterministic, no dependency.
    fn rng(mut seed: u64) -> impl FnMut() -> usize {
        move || {
            seed ^= seed >> 12;
            seed ^= seed << 25;
            seed ^= seed >> 27;
            seed.wrapping_mul(0x2545_f491_4f6c_dd1d) as usize
        }
    }

    fn assert_same_as_one_round_at_a_time(source: &str) {
        let cell = PreparedCell::new(source);
        let (text, lines) = one_round_at_a_time(source);
        assert_eq!(
            (&cell.text, &cell.automagic_lines),
            (&text, &lines),
            "{source:?}"
        );
    }

    #[test]
    fn automagic_batches_match_one_round_at_a_time() {
        let mut next = rng(0x2545_f491_4f6c_dd1d);
        for case in 0..3000usize {
            let mut source: String = (0..1 + next() % 24)
                .map(|_| {
                    // Mostly plain automagic lines, so that long batches form.
                    let pick = if next().is_multiple_of(3) {
                        next()
                    } else {
                        next() % 8
                    };
                    LINES[pick % LINES.len()]
                })
                .collect();
            if case.is_multiple_of(5) {
                source.truncate(source.trim_end().len());
            }
            assert_same_as_one_round_at_a_time(&source);
        }
    }

    #[test]
    fn automagic_batches_match_on_token_soup() {
        const WORDS: &[&str] = &["ls", "cd", "pip", "time", "env", "x", "if", "def"];
        const BITS: &[&str] = &[
            " x", " 1", " 'a'", " \"b\"", " (", " )", " [", " ]", " {", " }", " :", " =", " ==",
            " ;", " ,", " .", " -", " *", " /", " @", " ?", " !", " %", " $", " #c", " '''", " \\",
            " f'{", " }'", " if", " else", " lambda", " not", " None", " for", " import", " await",
            " ->", " :=", " ...", " \t", "\u{a0}", " é",
        ];
        const INDENTS: &[&str] = &["", "", "", "    ", "\t", "  "];
        const LINES_AROUND: &[&str] = &[
            "if x:\n",
            "    pass\n",
            "else:\n",
            "def f():\n",
            "x = (\n",
            ")\n",
            "s = '''\n",
            "'''\n",
            "\n",
            "# c\n",
            "%ls\n",
            "try:\n",
            "@d\n",
            "class A:\n",
            "x = 1 \\\n",
        ];
        let mut next = rng(7);
        for _ in 0..3000 {
            let mut source = String::new();
            for _ in 0..1 + next() % 16 {
                if next().is_multiple_of(4) {
                    source.push_str(LINES_AROUND[next() % LINES_AROUND.len()]);
                    continue;
                }
                source.push_str(INDENTS[next() % INDENTS.len()]);
                source.push_str(WORDS[next() % WORDS.len()]);
                for _ in 0..next() % 5 {
                    source.push_str(BITS[next() % BITS.len()]);
                }
                source.push('\n');
            }
            if next().is_multiple_of(4) {
                source.truncate(source.trim_end().len());
            }
            assert_same_as_one_round_at_a_time(&source);
        }
    }

    #[test]
    fn automagic_lines_cost_a_few_parses_not_one_each() {
        let source: String = (0..2000).map(|i| format!("ls data{i}\n")).collect();
        let before = PARSED_BYTES.get();
        let cell = PreparedCell::new(&source);
        let parsed = PARSED_BYTES.get() - before;
        assert_eq!(cell.automagic_lines.len(), 2000);
        assert!(cell.syntax_problems().is_empty());
        // Plain Python, IPython, and once more with every line explicit.
        assert!(
            parsed <= 3 * cell.text.len(),
            "{parsed} bytes parsed for a cell of {} bytes",
            cell.text.len()
        );
    }

    #[test]
    fn newer_syntax_is_an_error() {
        let cell = PreparedCell::new("type X = int\n");
        assert_eq!(cell.syntax_problems().len(), 1);
    }
}
