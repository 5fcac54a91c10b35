//! Reading `.ipynb` files (nbformat 4.0 to 4.5) into a normalised [`Notebook`].
//!
//! The reader is deliberately lenient about what the format allows to vary (sources as one
//! string or a list of strings, CRLF or CR line breaks, missing cell ids before 4.5, unknown
//! metadata keys) and strict about what it must not guess: the major version, the shape of
//! `cells`, and the type of every field it relies on. Sources are normalised to `\n` line breaks
//! so two spellings of the same notebook produce the same analysis.

use serde_json::{Map, Value};

/// A notebook reduced to what the conversion needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Notebook {
    pub nbformat: u64,
    pub nbformat_minor: u64,
    /// `metadata.kernelspec.name`.
    pub kernel_name: Option<String>,
    /// `metadata.kernelspec.language`.
    pub kernel_language: Option<String>,
    /// `metadata.language_info.name`.
    pub language_info_name: Option<String>,
    /// `metadata.language_info.version`, for example `3.10.11`.
    pub language_version: Option<String>,
    pub cells: Vec<Cell>,
}

/// One cell; `index` is its position in the notebook's `cells` array.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub index: usize,
    /// The nbformat 4.5 cell id, when present.
    pub id: Option<String>,
    pub kind: CellKind,
    /// The source with line breaks normalised to `\n`.
    pub source: String,
    pub tags: Vec<String>,
    pub execution_count: Option<i64>,
    /// `metadata.run_control.frozen`: the author disabled the cell.
    pub frozen: bool,
    /// The cell has a stored `error` output.
    pub has_error_output: bool,
    /// Text the cell printed to stdout when it last ran (`stream` outputs).
    pub stdout: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CellKind {
    Code,
    Markdown,
    Raw,
}

impl CellKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CellKind::Code => "code",
            CellKind::Markdown => "markdown",
            CellKind::Raw => "raw",
        }
    }
}

/// Why a file could not be read as a notebook.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ReadError {
    #[error("not valid UTF-8 at byte {offset}")]
    Utf8 { offset: usize },
    #[error("not valid JSON at line {line}, column {column}: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("not a notebook: {0}")]
    Shape(String),
    #[error("expected nbformat 4, found {0}")]
    Version(String),
    #[error("cell {index}: {message}")]
    Cell { index: usize, message: String },
}

impl ReadError {
    /// A sentence telling the user how to get a readable notebook.
    pub fn hint(&self) -> &'static str {
        match self {
            ReadError::Version(_) => {
                "open and save the notebook in a current Jupyter to upgrade it to nbformat 4"
            }
            _ => "check that the file is a Jupyter notebook saved by Jupyter, VS Code or nbformat",
        }
    }
}

/// Parses notebook bytes. A leading UTF-8 byte order mark is accepted.
pub fn read_notebook(bytes: &[u8]) -> Result<Notebook, ReadError> {
    let text = std::str::from_utf8(bytes).map_err(|error| ReadError::Utf8 {
        offset: error.valid_up_to(),
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let root: Value = serde_json::from_str(text).map_err(|error| ReadError::Json {
        line: error.line(),
        column: error.column(),
        message: json_message(&error),
    })?;
    let root = root
        .as_object()
        .ok_or_else(|| ReadError::Shape("the top level is not a JSON object".into()))?;
    let (nbformat, nbformat_minor) = read_version(root)?;
    let metadata = match root.get("metadata") {
        None | Some(Value::Null) => &EMPTY,
        Some(Value::Object(map)) => map,
        Some(_) => return Err(ReadError::Shape("`metadata` is not an object".into())),
    };
    let kernelspec = object_at(metadata, "kernelspec");
    let language_info = object_at(metadata, "language_info");
    let cells = root
        .get("cells")
        .and_then(Value::as_array)
        .ok_or_else(|| ReadError::Shape("`cells` is missing or not an array".into()))?;
    let cells = cells
        .iter()
        .enumerate()
        .map(|(index, cell)| read_cell(index, cell))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Notebook {
        nbformat,
        nbformat_minor,
        kernel_name: string_at(kernelspec, "name"),
        kernel_language: string_at(kernelspec, "language"),
        language_info_name: string_at(language_info, "name"),
        language_version: string_at(language_info, "version"),
        cells,
    })
}

static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

/// serde_json's message without its own " at line N column M" suffix, which we report apart.
fn json_message(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message,
    }
}

fn read_version(root: &Map<String, Value>) -> Result<(u64, u64), ReadError> {
    let major = root.get("nbformat").ok_or_else(|| {
        ReadError::Shape("`nbformat` is missing (is this a notebook?)".to_string())
    })?;
    let Some(major) = major.as_u64() else {
        return Err(ReadError::Version(major.to_string()));
    };
    if major != 4 {
        return Err(ReadError::Version(major.to_string()));
    }
    let minor = root
        .get("nbformat_minor")
        .and_then(Value::as_u64)
        .ok_or_else(|| ReadError::Shape("`nbformat_minor` is missing or not a number".into()))?;
    Ok((major, minor))
}

fn object_at<'a>(map: &'a Map<String, Value>, key: &str) -> &'a Map<String, Value> {
    map.get(key).and_then(Value::as_object).unwrap_or(&EMPTY)
}

fn string_at(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.get(key).and_then(Value::as_str).map(str::to_string)
}

fn read_cell(index: usize, cell: &Value) -> Result<Cell, ReadError> {
    let error = |message: &str| ReadError::Cell {
        index,
        message: message.to_string(),
    };
    let cell = cell.as_object().ok_or_else(|| error("not a JSON object"))?;
    let kind = match cell.get("cell_type").and_then(Value::as_str) {
        Some("code") => CellKind::Code,
        Some("markdown") => CellKind::Markdown,
        Some("raw") => CellKind::Raw,
        Some(_) => return Err(error("unknown `cell_type`")),
        None => return Err(error("`cell_type` is missing")),
    };
    let source = match cell.get("source") {
        None | Some(Value::Null) => String::new(),
        Some(value) => multiline(value)
            .ok_or_else(|| error("`source` is neither a string nor a list of strings"))?,
    };
    let metadata = object_at(cell, "metadata");
    let tags = match metadata.get("tags") {
        Some(Value::Array(tags)) => tags
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    let frozen = object_at(metadata, "run_control")
        .get("frozen")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let outputs = cell.get("outputs").and_then(Value::as_array);
    let outputs = outputs.map(Vec::as_slice).unwrap_or_default();
    Ok(Cell {
        index,
        id: string_at(cell, "id"),
        kind,
        source: normalise_newlines(&source),
        tags,
        execution_count: cell.get("execution_count").and_then(Value::as_i64),
        frozen,
        has_error_output: outputs
            .iter()
            .any(|output| output.get("output_type").and_then(Value::as_str) == Some("error")),
        stdout: normalise_newlines(&stdout_of(outputs)),
    })
}

/// nbformat's "multiline string": one string, or strings to concatenate with no separator.
fn multiline(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Array(parts) => parts.iter().map(|part| part.as_str()).collect(),
        _ => None,
    }
}

fn stdout_of(outputs: &[Value]) -> String {
    outputs
        .iter()
        .filter(|output| output.get("output_type").and_then(Value::as_str) == Some("stream"))
        .filter(|output| output.get("name").and_then(Value::as_str) == Some("stdout"))
        .filter_map(|output| output.get("text").and_then(multiline))
        .collect()
}

/// Turns `\r\n` and lone `\r` into `\n`.
pub fn normalise_newlines(text: &str) -> String {
    if !text.contains('\r') {
        return text.to_string();
    }
    text.replace("\r\n", "\n").replace('\r', "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notebook(cells: &str, minor: u32) -> String {
        format!(
            r#"{{"nbformat": 4, "nbformat_minor": {minor}, "metadata": {{
                "kernelspec": {{"name": "python3", "language": "python"}}}},
                "cells": {cells}}}"#
        )
    }

    #[test]
    fn string_and_list_sources_read_the_same() {
        let list = notebook(
            r#"[{"cell_type": "code", "metadata": {}, "source": ["a = 1\r\n", "b = 2"], "outputs": []}]"#,
            2,
        );
        let string = notebook(
            r#"[{"cell_type": "code", "metadata": {}, "source": "a = 1\nb = 2", "outputs": [], "id": "x"}]"#,
            5,
        );
        let list = read_notebook(list.as_bytes()).unwrap();
        let string = read_notebook(string.as_bytes()).unwrap();
        assert_eq!(list.cells[0].source, string.cells[0].source);
        assert_eq!(list.cells[0].source, "a = 1\nb = 2");
        assert_eq!(string.cells[0].id.as_deref(), Some("x"));
    }

    #[test]
    fn rejects_old_formats_and_non_notebooks() {
        let v3 = r#"{"nbformat": 3, "nbformat_minor": 0, "worksheets": []}"#;
        assert_eq!(
            read_notebook(v3.as_bytes()),
            Err(ReadError::Version("3".into()))
        );
        assert!(matches!(read_notebook(b"[1]"), Err(ReadError::Shape(_))));
        assert!(matches!(
            read_notebook(b"{\"nbformat\": 4,"),
            Err(ReadError::Json { .. })
        ));
        assert_eq!(read_notebook(b"\xff"), Err(ReadError::Utf8 { offset: 0 }));
    }

    #[test]
    fn reads_tags_outputs_and_bom() {
        let text = notebook(
            r#"[{"cell_type": "code", "metadata": {"tags": ["parameters"], "run_control": {"frozen": true}},
                 "source": [], "execution_count": 3,
                 "outputs": [{"output_type": "stream", "name": "stdout", "text": ["hi\r\n"]},
                             {"output_type": "error", "ename": "E", "evalue": "", "traceback": []}]}]"#,
            4,
        );
        let bytes = [b"\xef\xbb\xbf".as_slice(), text.as_bytes()].concat();
        let cell = &read_notebook(&bytes).unwrap().cells[0];
        assert_eq!(cell.tags, ["parameters"]);
        assert!(cell.frozen && cell.has_error_output);
        assert_eq!(cell.stdout, "hi\n");
        assert_eq!(cell.execution_count, Some(3));
    }

    #[test]
    fn bad_cell_names_its_index() {
        let text = notebook(r#"[{"cell_type": "code", "source": 3}]"#, 4);
        assert!(matches!(
            read_notebook(text.as_bytes()),
            Err(ReadError::Cell { index: 0, .. })
        ));
    }
}
