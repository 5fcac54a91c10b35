//! YAML text to located [`Node`] trees, through serde-saphyr.
//!
//! serde-saphyr parses (merge keys and aliases included) and reports each value with its span.
//! Its implicit typing follows YAML 1.2, so every plain scalar is typed again here from its
//! source text with PyYAML's YAML 1.1 rules (see [`super::node`]), which is what `az ml` uses.

use std::fmt;
use std::sync::Arc;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::node::{Entry, Node, NodeValue, Scalar, ScalarKind, resolve_plain};
use crate::diag::{Diagnostic, Loc, Located, SourceFile};

/// Parses every document of a YAML file. Comment-only and empty documents are left out.
/// Duplicate keys keep the last value, as PyYAML does, and are reported as warnings.
pub fn parse(
    file: &Arc<SourceFile>,
    warnings: &mut Vec<Diagnostic>,
) -> Result<Vec<Node>, Diagnostic> {
    let text = file.text.strip_prefix('\u{feff}').unwrap_or(&file.text);
    let options = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
        with_snippet: false,
    };
    let raw: Vec<Spanned<Raw>> = serde_saphyr::from_multiple_with_options(text, options)
        .map_err(|e| syntax_error(file, &e))?;
    let converter = Converter { file, text };
    Ok(raw
        .iter()
        .map(|doc| converter.node(doc, warnings))
        .collect())
}

fn syntax_error(file: &Arc<SourceFile>, error: &serde_saphyr::Error) -> Diagnostic {
    let message = error.to_string();
    let message = strip_location_suffix(&message);
    let diagnostic = Diagnostic::error(match limit_breached(message) {
        Some(limit) => format!("YAML document refused: {limit}"),
        None => format!("invalid YAML: {message}"),
    });
    match error.location() {
        Some(loc) => diagnostic.at(&Loc::new(file, loc.line() as u32, loc.column() as u32, 1)),
        None => diagnostic.in_file(file.display.clone()),
    }
}

/// The reader's resource limits, in words: they keep alias bombs and absurd nesting from
/// exhausting memory or the stack.
fn limit_breached(message: &str) -> Option<String> {
    let detail = message.strip_prefix("budget breached: ")?;
    let number = || {
        detail
            .split(|c: char| !c.is_ascii_digit())
            .find(|part| !part.is_empty())
            .unwrap_or("?")
            .to_owned()
    };
    Some(if detail.starts_with("Depth") {
        format!(
            "it nests more than {} levels deep",
            number()
                .parse::<u64>()
                .map_or(number(), |n| (n - 1).to_string())
        )
    } else if detail.starts_with("Nodes") || detail.contains("alias") || detail.contains("Alias") {
        format!(
            "it expands to more than {} values (aliases that repeat anchors many times over?)",
            number()
                .parse::<u64>()
                .map_or(number(), |n| (n - 1).to_string())
        )
    } else {
        format!("it exceeds a size limit of the reader ({detail})")
    })
}

/// serde-saphyr appends " at line L, column C" to messages; the diagnostic shows the place.
fn strip_location_suffix(message: &str) -> &str {
    let first_line = message.lines().next().unwrap_or(message);
    match first_line.rfind(" at line ") {
        Some(i) => &first_line[..i],
        None => first_line,
    }
}

/// A value as serde-saphyr hands it over, before YAML 1.1 typing.
enum Raw {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Raw>>),
    Map(Vec<(Spanned<Raw>, Spanned<Raw>)>),
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }

    fn visit_none<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        Raw::deserialize(d)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Int(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw::Int(v.into()))
    }

    fn visit_i128<E>(self, v: i128) -> Result<Raw, E> {
        Ok(Raw::Int(v))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Raw, E> {
        i128::try_from(v)
            .map(Raw::Int)
            .map_err(|_| E::custom("integer too large"))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Str(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Str(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Raw, E> {
        String::from_utf8(v.to_vec())
            .map(Raw::Str)
            .map_err(|_| E::custom("binary values are not supported"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Raw::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Raw::Map(entries))
    }
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Raw, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct Converter<'a> {
    file: &'a Arc<SourceFile>,
    /// The text serde-saphyr parsed (the file without a byte-order mark).
    text: &'a str,
}

impl Converter<'_> {
    fn loc(&self, raw: &Spanned<Raw>) -> Loc {
        let at = raw.referenced;
        let len = at.span().len().min(u32::MAX as u64) as u32;
        Loc::new(self.file, at.line() as u32, at.column() as u32, len)
    }

    /// The source text of a value's span, when serde-saphyr knows its byte range.
    fn source_text(&self, raw: &Spanned<Raw>) -> Option<&str> {
        let span = raw.referenced.span();
        let start = span.byte_offset()? as usize;
        let len = span.byte_len()? as usize;
        self.text.get(start..start.checked_add(len)?)
    }

    /// Whether an explicit tag (`!!str 12`) precedes the value at `raw`.
    fn is_tagged(&self, raw: &Spanned<Raw>) -> bool {
        let Some(start) = raw.referenced.span().byte_offset() else {
            return false;
        };
        let before = self.text.get(..start as usize).unwrap_or("");
        let token = before.trim_end_matches([' ', '\t']);
        let last_word = token
            .rsplit([' ', '\t', '\n', ':', '-', '[', '{', ','])
            .next()
            .unwrap_or("");
        last_word.starts_with('!') && token.len() < before.len()
    }

    fn node(&self, raw: &Spanned<Raw>, warnings: &mut Vec<Diagnostic>) -> Node {
        let loc = self.loc(raw);
        let value = match &raw.value {
            Raw::Seq(items) => {
                NodeValue::Seq(items.iter().map(|i| self.node(i, warnings)).collect())
            }
            Raw::Map(entries) => NodeValue::Map(self.entries(entries, warnings)),
            _ => NodeValue::Scalar(self.scalar(raw)),
        };
        Node { value, loc }
    }

    fn entries(
        &self,
        raw: &[(Spanned<Raw>, Spanned<Raw>)],
        warnings: &mut Vec<Diagnostic>,
    ) -> Vec<Entry> {
        let mut entries: Vec<Entry> = Vec::with_capacity(raw.len());
        for (key, value) in raw {
            let key_loc = self.loc(key);
            let name = match &key.value {
                Raw::Seq(_) | Raw::Map(_) => {
                    warnings.push(
                        Diagnostic::warning(
                            "a mapping key that is a list or mapping is read as text",
                        )
                        .at(&key_loc),
                    );
                    self.source_text(key).unwrap_or("?").to_owned()
                }
                _ => self.scalar(key).text,
            };
            let value = self.node(value, warnings);
            if let Some(i) = entries.iter().position(|e| e.key.value == name) {
                let first = entries.remove(i);
                warnings.push(
                    Diagnostic::warning(format!(
                        "duplicate key `{name}`: the last value is used, as `az ml` does"
                    ))
                    .at(&key_loc)
                    .related("first written", &first.key.loc),
                );
            }
            entries.push(Entry {
                key: Located::new(name, key_loc),
                value,
            });
        }
        entries
    }

    fn scalar(&self, raw: &Spanned<Raw>) -> Scalar {
        let source = self.source_text(raw).unwrap_or("");
        let quoted = source.starts_with(['"', '\'']);
        let plain_text = match &raw.value {
            Raw::Str(s) if quoted || s != source || self.is_tagged(raw) => {
                // Quoted, block or tagged scalars are strings as written.
                return Scalar {
                    kind: ScalarKind::Str,
                    text: s.clone(),
                    quoted: true,
                };
            }
            Raw::Str(s) => s.clone(),
            _ if !source.is_empty() && !quoted && !self.is_tagged(raw) => source.to_owned(),
            other => return Self::typed_as_parsed(other, source),
        };
        let kind = resolve_plain(&plain_text);
        Scalar {
            kind,
            text: plain_text,
            quoted: false,
        }
    }

    /// A value whose source text is unknown or explicitly tagged keeps serde-saphyr's type.
    fn typed_as_parsed(raw: &Raw, source: &str) -> Scalar {
        let (kind, text) = match raw {
            Raw::Null => (ScalarKind::Null, String::new()),
            Raw::Bool(b) => (ScalarKind::Bool(*b), b.to_string()),
            Raw::Int(i) => (ScalarKind::Int(*i), i.to_string()),
            Raw::Float(f) => (ScalarKind::Float(*f), source.to_owned()),
            Raw::Str(s) => (ScalarKind::Str, s.clone()),
            Raw::Seq(_) | Raw::Map(_) => (ScalarKind::Str, source.to_owned()),
        };
        Scalar {
            kind,
            text,
            quoted: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse_one(text: &str) -> Node {
        let file = SourceFile::new(Path::new("t.yml"), text.to_owned());
        let mut warnings = Vec::new();
        let mut docs = parse(&file, &mut warnings).expect("parses");
        assert_eq!(docs.len(), 1);
        docs.remove(0)
    }

    fn kind_of(doc: &Node, key: &str) -> (ScalarKind, String) {
        let s = doc.get(key).and_then(Node::scalar).expect(key);
        (s.kind.clone(), s.python_str())
    }

    #[test]
    fn scalars_mean_what_pyyaml_reads() {
        let doc = parse_one(
            "version: 01\nlr: 2e-5\nq: \"2e-5\"\nb: yes\nv: 1.10\ns: !!str 12\nn:\nbig: 1_000\nsx: 1:30\n",
        );
        assert_eq!(kind_of(&doc, "version"), (ScalarKind::Int(1), "1".into()));
        assert_eq!(kind_of(&doc, "lr"), (ScalarKind::Str, "2e-5".into()));
        assert_eq!(kind_of(&doc, "q"), (ScalarKind::Str, "2e-5".into()));
        assert_eq!(kind_of(&doc, "b"), (ScalarKind::Bool(true), "True".into()));
        assert_eq!(kind_of(&doc, "v"), (ScalarKind::Float(1.1), "1.1".into()));
        assert_eq!(kind_of(&doc, "s"), (ScalarKind::Str, "12".into()));
        assert_eq!(kind_of(&doc, "n").0, ScalarKind::Null);
        assert_eq!(kind_of(&doc, "big"), (ScalarKind::Int(1000), "1000".into()));
        assert_eq!(kind_of(&doc, "sx"), (ScalarKind::Int(90), "90".into()));
    }

    #[test]
    fn block_scalars_and_merge_keys() {
        let doc = parse_one(
            "base: &b {image: img, x: 1}\nenv:\n  <<: *b\n  name: t\ncmd: >-\n  python a.py\n  --x 1\n",
        );
        assert_eq!(doc.get_str("cmd"), Some("python a.py --x 1"));
        let env = doc.get("env").unwrap();
        assert_eq!(env.get_str("image"), Some("img"));
        assert_eq!(env.get_str("name"), Some("t"));
    }

    #[test]
    fn locations_are_one_based() {
        let doc = parse_one("a: 1\nbb:\n  c: hello\n");
        let c = doc.get("bb").unwrap().get("c").unwrap();
        assert_eq!((c.loc.line, c.loc.column, c.loc.len), (3, 6, 5));
        let key = &doc.get("bb").unwrap().entries().unwrap()[0].key;
        assert_eq!((key.loc.line, key.loc.column), (3, 3));
    }

    #[test]
    fn duplicate_keys_keep_the_last_and_warn() {
        let file = SourceFile::new(Path::new("t.yml"), "a: 1\na: 2\n".into());
        let mut warnings = Vec::new();
        let docs = parse(&file, &mut warnings).unwrap();
        assert_eq!(docs[0].get("a").unwrap().scalar().unwrap().text, "2");
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn syntax_errors_are_located() {
        let file = SourceFile::new(Path::new("t.yml"), "a: [1, 2\nb: 3\n".into());
        let err = parse(&file, &mut Vec::new()).unwrap_err();
        let loc = err.loc.expect("located");
        assert_eq!(loc.line, 2);
        assert!(!err.message.contains(" at line "), "{}", err.message);
    }

    #[test]
    fn multi_document_files_and_empty_ones() {
        let file = SourceFile::new(Path::new("t.yml"), "a: 1\n---\nb: 2\n".into());
        assert_eq!(parse(&file, &mut Vec::new()).unwrap().len(), 2);
        let empty = SourceFile::new(Path::new("t.yml"), "# only a comment\n".into());
        assert_eq!(parse(&empty, &mut Vec::new()).unwrap().len(), 0);
    }
}
