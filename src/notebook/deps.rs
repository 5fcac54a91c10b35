//! Python dependencies: import names to PyPI distributions, and install lines.
//!
//! Versions come only from the notebook's own install lines or a requirements file the user
//! passes; an import alone yields a bare name. The mapping is curated, not scraped: an unknown
//! module maps to itself and the report says so.

/// Import name → PyPI distribution, where they differ. Sorted by import name.
const DISTRIBUTIONS: &[(&str, &str)] = &[
    ("Bio", "biopython"),
    ("Crypto", "pycryptodome"),
    ("IPython", "ipython"),
    ("Levenshtein", "levenshtein"),
    ("MySQLdb", "mysqlclient"),
    ("OpenSSL", "pyopenssl"),
    ("PIL", "pillow"),
    ("attr", "attrs"),
    ("bs4", "beautifulsoup4"),
    ("category_encoders", "category-encoders"),
    ("cv2", "opencv-python-headless"),
    ("dateutil", "python-dateutil"),
    ("docx", "python-docx"),
    ("dotenv", "python-dotenv"),
    ("faiss", "faiss-cpu"),
    ("fitz", "pymupdf"),
    ("git", "gitpython"),
    ("github", "pygithub"),
    ("googleapiclient", "google-api-python-client"),
    ("jwt", "pyjwt"),
    ("magic", "python-magic"),
    ("mpl_toolkits", "matplotlib"),
    ("pkg_resources", "setuptools"),
    ("pptx", "python-pptx"),
    ("psycopg2", "psycopg2-binary"),
    ("sentence_transformers", "sentence-transformers"),
    ("serial", "pyserial"),
    ("skimage", "scikit-image"),
    ("sklearn", "scikit-learn"),
    ("tflite_runtime", "tflite-runtime"),
    ("umap", "umap-learn"),
    ("yaml", "pyyaml"),
    ("zmq", "pyzmq"),
];

/// Namespace packages whose distribution is named after two levels (`azure.identity`).
const NAMESPACES: &[&str] = &["azure", "azureml", "google"];

/// Namespaces whose distributions are named after three levels (`azure.ai.ml`).
const DEEP_NAMESPACES: &[&str] = &[
    "azure.ai",
    "azure.data",
    "azure.keyvault",
    "azure.mgmt",
    "azure.monitor",
    "azure.storage",
    "google.cloud",
];

/// Special two-level names.
const NAMESPACE_DISTRIBUTIONS: &[(&str, &str)] = &[("google.protobuf", "protobuf")];

/// Top-level modules of the Python 3.11 standard library (`sys.stdlib_module_names`).
const STDLIB: &[&str] = &[
    "__future__",
    "abc",
    "aifc",
    "antigravity",
    "argparse",
    "array",
    "ast",
    "asynchat",
    "asyncio",
    "asyncore",
    "atexit",
    "audioop",
    "base64",
    "bdb",
    "binascii",
    "bisect",
    "builtins",
    "bz2",
    "cProfile",
    "calendar",
    "cgi",
    "cgitb",
    "chunk",
    "cmath",
    "cmd",
    "code",
    "codecs",
    "codeop",
    "collections",
    "colorsys",
    "compileall",
    "concurrent",
    "configparser",
    "contextlib",
    "contextvars",
    "copy",
    "copyreg",
    "crypt",
    "csv",
    "ctypes",
    "curses",
    "dataclasses",
    "datetime",
    "dbm",
    "decimal",
    "difflib",
    "dis",
    "distutils",
    "doctest",
    "email",
    "encodings",
    "ensurepip",
    "enum",
    "errno",
    "faulthandler",
    "fcntl",
    "filecmp",
    "fileinput",
    "fnmatch",
    "fractions",
    "ftplib",
    "functools",
    "gc",
    "genericpath",
    "getopt",
    "getpass",
    "gettext",
    "glob",
    "graphlib",
    "grp",
    "gzip",
    "hashlib",
    "heapq",
    "hmac",
    "html",
    "http",
    "idlelib",
    "imaplib",
    "imghdr",
    "imp",
    "importlib",
    "inspect",
    "io",
    "ipaddress",
    "itertools",
    "json",
    "keyword",
    "lib2to3",
    "linecache",
    "locale",
    "logging",
    "lzma",
    "mailbox",
    "mailcap",
    "marshal",
    "math",
    "mimetypes",
    "mmap",
    "modulefinder",
    "msilib",
    "msvcrt",
    "multiprocessing",
    "netrc",
    "nis",
    "nntplib",
    "nt",
    "ntpath",
    "nturl2path",
    "numbers",
    "opcode",
    "operator",
    "optparse",
    "os",
    "ossaudiodev",
    "pathlib",
    "pdb",
    "pickle",
    "pickletools",
    "pipes",
    "pkgutil",
    "platform",
    "plistlib",
    "poplib",
    "posix",
    "posixpath",
    "pprint",
    "profile",
    "pstats",
    "pty",
    "pwd",
    "py_compile",
    "pyclbr",
    "pydoc",
    "pydoc_data",
    "pyexpat",
    "queue",
    "quopri",
    "random",
    "re",
    "readline",
    "reprlib",
    "resource",
    "rlcompleter",
    "runpy",
    "sched",
    "secrets",
    "select",
    "selectors",
    "shelve",
    "shlex",
    "shutil",
    "signal",
    "site",
    "smtpd",
    "smtplib",
    "sndhdr",
    "socket",
    "socketserver",
    "spwd",
    "sqlite3",
    "sre_compile",
    "sre_constants",
    "sre_parse",
    "ssl",
    "stat",
    "statistics",
    "string",
    "stringprep",
    "struct",
    "subprocess",
    "sunau",
    "symtable",
    "sys",
    "sysconfig",
    "syslog",
    "tabnanny",
    "tarfile",
    "telnetlib",
    "tempfile",
    "termios",
    "textwrap",
    "this",
    "threading",
    "time",
    "timeit",
    "tkinter",
    "token",
    "tokenize",
    "tomllib",
    "trace",
    "traceback",
    "tracemalloc",
    "tty",
    "turtle",
    "turtledemo",
    "types",
    "typing",
    "unicodedata",
    "unittest",
    "urllib",
    "uu",
    "uuid",
    "venv",
    "warnings",
    "wave",
    "weakref",
    "webbrowser",
    "winreg",
    "winsound",
    "wsgiref",
    "xdrlib",
    "xml",
    "xmlrpc",
    "zipapp",
    "zipfile",
    "zipimport",
    "zlib",
    "zoneinfo",
];

/// Whether `module` (a top-level name) is part of the standard library.
pub fn is_stdlib(module: &str) -> bool {
    module == "__future__" || STDLIB.binary_search(&module).is_ok()
}

/// The distribution that provides `module` (a dotted import path), or `None` for the standard
/// library. The flag says whether the answer came from the curated table or a known namespace.
pub fn distribution_for(module: &str) -> Option<(String, bool)> {
    let top = module.split('.').next().unwrap_or(module);
    if is_stdlib(top) {
        return None;
    }
    if NAMESPACES.contains(&top) {
        let parts: Vec<&str> = module.split('.').collect();
        if parts.len() >= 2 {
            let dotted = parts[..2].join(".");
            if let Some((_, known)) = NAMESPACE_DISTRIBUTIONS.iter().find(|(m, _)| *m == dotted) {
                return Some((known.to_string(), true));
            }
            let levels = if DEEP_NAMESPACES.contains(&dotted.as_str()) && parts.len() >= 3 {
                3
            } else {
                2
            };
            return Some((normalise_name(&parts[..levels].join("-")), true));
        }
    }
    match DISTRIBUTIONS.binary_search_by(|(name, _)| name.cmp(&top)) {
        Ok(found) => Some((DISTRIBUTIONS[found].1.to_string(), true)),
        Err(_) => Some((normalise_name(top), KNOWN_SAME.contains(&top))),
    }
}

/// Common modules whose distribution has the same name; anything else is reported as a guess.
const KNOWN_SAME: &[&str] = &[
    "catboost",
    "datasets",
    "joblib",
    "keras",
    "lightgbm",
    "matplotlib",
    "mlflow",
    "mltable",
    "numpy",
    "pandas",
    "papermill",
    "plotly",
    "pyarrow",
    "recommenders",
    "requests",
    "scipy",
    "seaborn",
    "statsmodels",
    "tensorflow",
    "torch",
    "torchvision",
    "tqdm",
    "transformers",
    "xgboost",
];

/// PEP 503 normalisation (lowercase, runs of `-_.` become `-`).
pub fn normalise_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// A requirement as written in an install line or requirements file.
#[derive(Debug, Clone, PartialEq)]
pub struct Requirement {
    /// Normalised distribution name.
    pub name: String,
    /// The full specifier as written (`pandas>=2`), with deprecated names corrected.
    pub spec: String,
}

/// Parses one requirement specifier; `None` for options and URLs we do not interpret.
pub fn parse_requirement(text: &str) -> Option<Requirement> {
    let text = text.trim().trim_matches(|c| c == '"' || c == '\'');
    let text = text.split(" #").next().unwrap_or(text).trim();
    if text.is_empty() || text.starts_with('-') || text.contains("://") {
        return None;
    }
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(text.len());
    if end == 0 {
        return None;
    }
    let raw_name = &text[..end];
    let mut name = normalise_name(raw_name);
    let mut spec = text.to_string();
    if name == "sklearn" {
        // The `sklearn` distribution is a placeholder that refuses to install.
        name = "scikit-learn".to_string();
        spec = format!("scikit-learn{}", &text[end..]);
    }
    Some(Requirement { name, spec })
}

/// What a `pip install ...` argument list asks for.
#[derive(Debug, Default, PartialEq)]
pub struct InstallLine {
    pub requirements: Vec<Requirement>,
    /// Files named with `-r`.
    pub files: Vec<String>,
    /// Arguments that need IPython's `$var` / `{expr}` expansion.
    pub expanded: Vec<String>,
    /// Options we do not carry over (`--index-url`, `-e`).
    pub ignored: Vec<String>,
}

/// Parses the arguments after `install`.
pub fn parse_install_args(args: &str) -> InstallLine {
    let mut line = InstallLine::default();
    let words = split_words(args);
    let mut words = words.iter();
    while let Some(word) = words.next() {
        let word = word.as_str();
        if word.contains('$') || (word.contains('{') && word.contains('}')) {
            line.expanded.push(word.to_string());
        } else if word == "-r" || word == "--requirement" {
            if let Some(file) = words.next() {
                line.files.push(file.clone());
            }
        } else if let Some(file) = word.strip_prefix("--requirement=") {
            line.files.push(file.to_string());
        } else if matches!(
            word,
            "-q" | "-qq" | "--quiet" | "-U" | "--upgrade" | "--user"
        ) || word.starts_with("--no-")
            || word == "-y"
            || word == "--yes"
        {
        } else if matches!(
            word,
            "-i" | "--index-url" | "--extra-index-url" | "-e" | "-c" | "-f"
        ) {
            let value = words.next().cloned().unwrap_or_default();
            line.ignored
                .push(format!("{word} {value}").trim().to_string());
        } else if word.starts_with('-') {
            line.ignored.push(word.to_string());
        } else if let Some(requirement) = parse_requirement(word) {
            line.requirements.push(requirement);
        } else {
            line.ignored.push(word.to_string());
        }
    }
    line
}

/// Reads a requirements file's lines.
pub fn parse_requirements_file(text: &str) -> InstallLine {
    let mut line = InstallLine::default();
    for raw in text.lines() {
        let raw = raw.split(" #").next().unwrap_or(raw).trim();
        if raw.is_empty() || raw.starts_with('#') {
            continue;
        }
        if raw.starts_with('-') {
            let nested = parse_install_args(raw);
            line.files.extend(nested.files);
            line.ignored.extend(nested.ignored);
        } else if let Some(requirement) = parse_requirement(raw) {
            line.requirements.push(requirement);
        } else {
            line.ignored.push(raw.to_string());
        }
    }
    line
}

/// Shell-like word splitting with quotes (no escapes beyond quotes).
pub fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in text.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => current.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            None => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(current);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted() {
        assert!(DISTRIBUTIONS.windows(2).all(|pair| pair[0].0 < pair[1].0));
        assert!(STDLIB.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn maps_imports_to_distributions() {
        let name = |module| distribution_for(module).map(|(name, _)| name);
        assert_eq!(name("sklearn.svm").as_deref(), Some("scikit-learn"));
        assert_eq!(name("cv2").as_deref(), Some("opencv-python-headless"));
        assert_eq!(
            name("category_encoders").as_deref(),
            Some("category-encoders")
        );
        assert_eq!(name("azure.ai.ml").as_deref(), Some("azure-ai-ml"));
        assert_eq!(
            name("google.cloud.storage").as_deref(),
            Some("google-cloud-storage")
        );
        assert_eq!(name("azure.identity").as_deref(), Some("azure-identity"));
        assert_eq!(name("os.path"), None);
        assert_eq!(name("__future__"), None);
        assert_eq!(
            distribution_for("somethingodd"),
            Some(("somethingodd".into(), false))
        );
    }

    #[test]
    fn parses_install_lines() {
        let line =
            parse_install_args("-q \"pandas>=2\" sklearn==1.0 -r req.txt $pkg --index-url x");
        let specs: Vec<_> = line.requirements.iter().map(|r| r.spec.as_str()).collect();
        assert_eq!(specs, ["pandas>=2", "scikit-learn==1.0"]);
        assert_eq!(line.files, ["req.txt"]);
        assert_eq!(line.expanded, ["$pkg"]);
        assert_eq!(line.ignored, ["--index-url x"]);
    }

    #[test]
    fn parses_requirements_files() {
        let file = parse_requirements_file("# c\nxgboost\nazureml-mlflow # x\n\nscikit_learn\n");
        let names: Vec<_> = file.requirements.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["xgboost", "azureml-mlflow", "scikit-learn"]);
    }
}
