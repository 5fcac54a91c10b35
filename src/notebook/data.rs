//! Data the notebook reads and writes, found in the AST.
//!
//! A call is a read or a write by its callee (`pd.read_csv`, `df.to_parquet`, `open(p, "w")`,
//! `joblib.dump`); its path argument is resolved to a string only when the code makes that
//! certain: a literal, a parameter or holder attribute with a literal default, or a module
//! constant bound once, possibly wrapped in `Path(...)`, `str(...)` or joined with a literal file
//! name. Anything else is reported as dynamic, never guessed.

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{Expr, Operator, Stmt};
use ruff_text_size::{Ranged, TextRange};

/// Read or write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    /// `os.makedirs`: the folder will be written to.
    MakeDir,
}

/// Where a path value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum PathOrigin {
    /// A string literal in the call; its range can be replaced by a parameter.
    Literal { range: TextRange },
    /// A module-level name: a parameter or a constant bound once.
    Name { name: String },
    /// `holder.attribute` of an argument holder.
    Attribute { name: String },
    /// A library downloads the data itself at run time.
    Download,
    /// Not resolvable statically.
    Dynamic,
}

/// A resolved path use.
#[derive(Debug, Clone, PartialEq)]
pub struct PathUse {
    pub access: Access,
    pub origin: PathOrigin,
    /// The path is joined with a file name, so the resolved value is a folder.
    pub joined: bool,
    /// The callee as written (`pd.read_csv`).
    pub callee: String,
    pub range: TextRange,
}

/// Callee suffixes that read their first argument.
const READERS: &[&str] = &[
    "read_csv",
    "read_parquet",
    "read_json",
    "read_excel",
    "read_feather",
    "read_pickle",
    "read_table",
    "read_orc",
    "read_hdf",
    "read_fwf",
    "read_sas",
    "read_stata",
    "read_spss",
    "read_xml",
    "loadtxt",
    "genfromtxt",
    "np.load",
    "numpy.load",
    "joblib.load",
    "torch.load",
    "pq.read_table",
    "parquet.read_table",
    "mltable.load",
    "Image.open",
    "cv2.imread",
    "imread",
    "glob.glob",
    "os.listdir",
    "os.walk",
    "os.scandir",
    "read_text",
    "read_bytes",
    "load_workbook",
];

/// Callee suffixes that write to their path argument.
const WRITERS: &[&str] = &[
    "to_csv",
    "to_parquet",
    "to_json",
    "to_pickle",
    "to_excel",
    "to_feather",
    "to_hdf",
    "np.save",
    "np.savez",
    "np.savetxt",
    "numpy.save",
    "joblib.dump",
    "torch.save",
    "savefig",
    "save_model",
    "write_text",
    "write_bytes",
    "imwrite",
    "pq.write_table",
];

/// Keyword names that carry the path.
const PATH_KEYWORDS: &[&str] = &[
    "path",
    "filepath_or_buffer",
    "path_or_buf",
    "fname",
    "file",
    "filename",
    "f",
    "io",
    "model_path",
    "filepath",
];

/// Library calls that fetch data over the network at run time.
const DOWNLOADERS: &[&str] = &[
    "load_pandas_df",
    "load_spark_df",
    "load_dataset",
    "fetch_openml",
    "fetch_california_housing",
    "fetch_20newsgroups",
    "fetch_covtype",
    "fetch_lfw_people",
    "fetch_olivetti_faces",
    "download_artifacts",
    "maybe_download",
    "urlretrieve",
];

fn ends_with_segment(callee: &str, suffix: &str) -> bool {
    callee == suffix
        || callee
            .strip_suffix(suffix)
            .is_some_and(|head| head.ends_with('.'))
}

/// Context for resolving names.
pub trait Resolver {
    /// Source text of a range of the statement's cell.
    fn slice(&self, range: TextRange) -> &str;
    /// Whether `name` is a module-level name with a literal string value we know.
    fn is_path_name(&self, name: &str) -> bool;
    /// The holder variable, when parameters live on one.
    fn holder(&self) -> Option<&str>;
}

/// Finds path uses in a statement.
pub fn path_uses(stmt: &Stmt, resolver: &dyn Resolver) -> Vec<PathUse> {
    let mut finder = Finder {
        resolver,
        uses: Vec::new(),
    };
    finder.visit_stmt(stmt);
    finder.uses
}

struct Finder<'r> {
    resolver: &'r dyn Resolver,
    uses: Vec<PathUse>,
}

impl Finder<'_> {
    fn classify<'c>(
        &self,
        call: &'c ruff_python_ast::ExprCall,
    ) -> Option<(Access, Option<&'c Expr>)> {
        let callee = self.resolver.slice(call.func.range());
        let first = call.arguments.args.first();
        let keyword = || {
            call.arguments
                .keywords
                .iter()
                .find(|keyword| {
                    keyword
                        .arg
                        .as_ref()
                        .is_some_and(|arg| PATH_KEYWORDS.contains(&arg.as_str()))
                })
                .map(|keyword| &keyword.value)
        };
        if DOWNLOADERS
            .iter()
            .any(|name| ends_with_segment(callee, name))
        {
            return Some((Access::Read, None));
        }
        if callee == "open" || callee.ends_with(".open") && !callee.ends_with("Image.open") {
            let mode = call.arguments.args.get(1).or_else(|| {
                call.arguments
                    .find_keyword("mode")
                    .map(|keyword| &keyword.value)
            });
            let mode = mode.and_then(|mode| mode.as_string_literal_expr());
            let writes = mode.is_some_and(|mode| {
                let mode = mode.value.to_str();
                mode.contains('w') || mode.contains('a') || mode.contains('x')
            });
            let access = if writes { Access::Write } else { Access::Read };
            let target = if callee == "open" { first } else { None };
            return Some((access, target.or_else(keyword)));
        }
        if callee == "os.makedirs" || callee == "makedirs" || callee.ends_with(".mkdir") {
            return Some((Access::MakeDir, first.or_else(keyword)));
        }
        let target = || {
            let path_keyword = keyword();
            // Methods such as `df.to_csv(path)` and `model.save_model(path)` take it first.
            path_keyword.or(first)
        };
        if READERS.iter().any(|name| ends_with_segment(callee, name)) {
            return Some((Access::Read, target()));
        }
        if WRITERS.iter().any(|name| ends_with_segment(callee, name)) {
            let target = if callee.ends_with("dump") || callee.ends_with("torch.save") {
                // `joblib.dump(value, filename)`, `torch.save(obj, f)`.
                keyword().or(call.arguments.args.get(1))
            } else {
                target()
            };
            return Some((Access::Write, target));
        }
        None
    }

    /// Resolves a path expression, and whether a file name was joined to it.
    fn resolve(&self, expr: &Expr) -> (PathOrigin, bool) {
        match expr {
            Expr::StringLiteral(literal) => (
                PathOrigin::Literal {
                    range: literal.range(),
                },
                false,
            ),
            Expr::Name(name) if self.resolver.is_path_name(name.id.as_str()) => (
                PathOrigin::Name {
                    name: name.id.to_string(),
                },
                false,
            ),
            Expr::Attribute(attribute) => match attribute.value.as_ref() {
                Expr::Name(holder) if Some(holder.id.as_str()) == self.resolver.holder() => (
                    PathOrigin::Attribute {
                        name: attribute.attr.to_string(),
                    },
                    false,
                ),
                _ => (PathOrigin::Dynamic, false),
            },
            Expr::Call(call) => {
                let callee = self.resolver.slice(call.func.range());
                let wraps = matches!(callee, "Path" | "pathlib.Path" | "str" | "os.fspath");
                if wraps && call.arguments.args.len() == 1 && call.arguments.keywords.is_empty() {
                    return self.resolve(&call.arguments.args[0]);
                }
                if callee == "os.path.join" && call.arguments.args.len() >= 2 {
                    let rest_literal = call.arguments.args[1..]
                        .iter()
                        .all(Expr::is_string_literal_expr);
                    if rest_literal {
                        let (origin, _) = self.resolve(&call.arguments.args[0]);
                        return (origin, true);
                    }
                }
                (PathOrigin::Dynamic, false)
            }
            Expr::BinOp(binop) if binop.op == Operator::Div => {
                if binop.right.is_string_literal_expr() {
                    let (origin, _) = self.resolve(&binop.left);
                    return (origin, true);
                }
                (PathOrigin::Dynamic, false)
            }
            _ => (PathOrigin::Dynamic, false),
        }
    }
}

impl<'a> Visitor<'a> for Finder<'_> {
    fn visit_expr(&mut self, expr: &'a Expr) {
        if let Expr::Call(call) = expr
            && let Some((access, target)) = self.classify(call)
        {
            let callee = self.resolver.slice(call.func.range()).to_string();
            let (origin, joined) = match target {
                Some(target) => self.resolve(target),
                None if access == Access::Read => (PathOrigin::Download, false),
                None => (PathOrigin::Dynamic, false),
            };
            self.uses.push(PathUse {
                access,
                origin,
                joined,
                callee,
                range: call.range(),
            });
        }
        visitor::walk_expr(self, expr);
    }
}

/// How a path string is reached from a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// `https://`, `azureml://`, `wasbs://`, `abfss://`, `azureml:` asset.
    Remote,
    /// Relative to the notebook's folder.
    Relative,
    /// An absolute local path that will not exist on a compute.
    Absolute,
}

pub fn path_kind(path: &str) -> PathKind {
    let remote = [
        "http://",
        "https://",
        "azureml://",
        "wasbs://",
        "wasb://",
        "abfss://",
        "adl://",
        "azureml:",
    ];
    if remote.iter().any(|prefix| path.starts_with(prefix)) {
        PathKind::Remote
    } else if path.starts_with('/')
        || path.starts_with('~')
        || path.starts_with('\\')
        || path.as_bytes().get(1) == Some(&b':')
    {
        PathKind::Absolute
    } else {
        PathKind::Relative
    }
}

/// Whether a path names a file (its last segment has an extension) rather than a folder.
pub fn looks_like_file(path: &str) -> bool {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    if path.ends_with('/') || path.ends_with('\\') {
        return false;
    }
    let last = path.rsplit(['/', '\\']).next().unwrap_or(path);
    last.rfind('.')
        .is_some_and(|dot| dot > 0 && dot + 1 < last.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notebook::python::PreparedCell;

    struct Fixed<'a>(&'a PreparedCell);

    impl Resolver for Fixed<'_> {
        fn slice(&self, range: TextRange) -> &str {
            self.0.slice(range)
        }
        fn is_path_name(&self, name: &str) -> bool {
            name == "file_url"
        }
        fn holder(&self) -> Option<&str> {
            Some("args")
        }
    }

    fn uses(source: &str) -> Vec<PathUse> {
        let cell = PreparedCell::new(source);
        let resolver = Fixed(&cell);
        cell.parsed
            .syntax()
            .body
            .iter()
            .flat_map(|stmt| path_uses(stmt, &resolver))
            .collect()
    }

    #[test]
    fn finds_reads_through_names_holders_and_joins() {
        let found = uses(
            "df = pd.read_csv(file_url)\ndata = pd.read_csv((Path(args.raw_data) / 'taxi.csv'))\nx = pd.read_csv(f\"{a}.csv\")\n",
        );
        assert_eq!(
            found[0].origin,
            PathOrigin::Name {
                name: "file_url".into()
            }
        );
        assert_eq!(
            found[1].origin,
            PathOrigin::Attribute {
                name: "raw_data".into()
            }
        );
        assert!(found[1].joined);
        assert_eq!(found[2].origin, PathOrigin::Dynamic);
    }

    #[test]
    fn finds_writes_and_downloads() {
        let found = uses(
            "train.to_parquet((Path(args.train_data) / \"train.parquet\"))\nopen('out.txt', 'w')\njoblib.dump(value=m, filename=name)\nratings = movielens.load_pandas_df(size='100k')\nos.makedirs(args.out, exist_ok=True)\n",
        );
        let accesses: Vec<_> = found.iter().map(|found| found.access).collect();
        assert_eq!(
            accesses,
            [
                Access::Write,
                Access::Write,
                Access::Write,
                Access::Read,
                Access::MakeDir
            ]
        );
        assert_eq!(found[3].origin, PathOrigin::Download);
        assert_eq!(found[2].origin, PathOrigin::Dynamic);
    }

    #[test]
    fn classifies_path_strings() {
        assert_eq!(path_kind("https://x/y.csv"), PathKind::Remote);
        assert_eq!(path_kind("../../data/"), PathKind::Relative);
        assert_eq!(path_kind("/tmp/prep/train"), PathKind::Absolute);
        assert_eq!(path_kind("C:\\data"), PathKind::Absolute);
        assert!(looks_like_file("https://x/iris.csv") && !looks_like_file("../../data/"));
        assert!(!looks_like_file("/tmp/prep/train"));
    }
}
