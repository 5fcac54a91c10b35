//! What to do with each IPython construct. Nothing is silently commented out: every magic,
//! shell escape and help request is dropped with a reason, moved into the environment, turned
//! into plain Python, or refused.

use ruff_python_ast::IpyEscapeKind;

use super::deps::{InstallLine, parse_install_args};

/// The decision for one IPython line or cell construct.
#[derive(Debug, PartialEq)]
pub enum Treatment {
    /// No effect on a job's results.
    Drop { reason: String },
    /// `%pip install` and friends: the requirements move into the environment.
    Install { line: InstallLine, conda: bool },
    /// Replace with this Python statement.
    Replace { python: String },
    /// Cannot be converted.
    Refuse {
        code: &'static str,
        message: String,
        hint: String,
    },
}

fn drop(reason: &str) -> Treatment {
    Treatment::Drop {
        reason: reason.to_string(),
    }
}

fn refuse(code: &'static str, message: String, hint: &str) -> Treatment {
    Treatment::Refuse {
        code,
        message,
        hint: hint.to_string(),
    }
}

/// Shell commands that only show something.
const READ_ONLY_SHELL: &[&str] = &[
    "cat",
    "date",
    "df",
    "du",
    "echo",
    "free",
    "head",
    "hostname",
    "ll",
    "ls",
    "lscpu",
    "nproc",
    "nvidia-smi",
    "printenv",
    "ps",
    "pwd",
    "tail",
    "top",
    "tree",
    "uname",
    "wc",
    "which",
    "whoami",
];

/// Line magics that only configure the notebook front end or show something.
const DISPLAY_MAGICS: &[&str] = &[
    "autoreload",
    "config",
    "history",
    "lsmagic",
    "magic",
    "matplotlib",
    "pdb",
    "pinfo",
    "pinfo2",
    "precision",
    "pwd",
    "ls",
    "who",
    "whos",
    "who_ls",
    "xmode",
    "load_ext",
    "reload_ext",
];

/// Extensions that register cell magics running another language.
const FOREIGN_EXTENSIONS: &[&str] = &[
    "rpy2.ipython",
    "sql",
    "sparkmagic.magics",
    "google.cloud.bigquery",
];

/// Treats a line escape (`%name args`, `!cmd`, `?obj`).
pub fn line_escape(kind: IpyEscapeKind, value: &str) -> Treatment {
    match kind {
        IpyEscapeKind::Help | IpyEscapeKind::Help2 => drop("help request"),
        IpyEscapeKind::Shell | IpyEscapeKind::ShCap => shell(value),
        IpyEscapeKind::Magic => line_magic(value),
        IpyEscapeKind::Magic2 => refuse(
            "NB033",
            "cell magic `%%` is only valid on the first line of a cell".to_string(),
            "move it to the first line of its cell or remove it",
        ),
        IpyEscapeKind::Quote | IpyEscapeKind::Quote2 | IpyEscapeKind::Paren => refuse(
            "NB033",
            "IPython autocall syntax has no Python equivalent here".to_string(),
            "write the call with parentheses",
        ),
    }
}

fn shell(command: &str) -> Treatment {
    let words: Vec<&str> = command.split_whitespace().collect();
    match words.as_slice() {
        [] => drop("empty shell escape"),
        ["pip" | "pip3", "install", ..] => install(command, false),
        ["python" | "python3", "-m", "pip", "install", ..] => install(command, false),
        ["conda" | "mamba", "install", ..] => install(command, true),
        ["pip" | "pip3", "list" | "freeze" | "show", ..] => drop("shows installed packages"),
        ["cd", ..] => refuse(
            "NB030",
            "`!cd` changes the working directory".to_string(),
            "use paths relative to the notebook's folder instead",
        ),
        [first, ..] if READ_ONLY_SHELL.contains(first) => drop("read-only shell command"),
        [first, ..] => refuse(
            "NB033",
            format!("shell command `{first}` has effects a job cannot reproduce from Python"),
            "do it in Python (subprocess.run, shutil, pathlib) or before the job",
        ),
    }
}

fn line_magic(value: &str) -> Treatment {
    let (name, args) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
    let args = args.trim();
    match name {
        "pip" | "conda" | "mamba" => match args.split_whitespace().next() {
            Some("install") => install(value, name != "pip"),
            _ => drop("package manager query"),
        },
        "load_ext" if FOREIGN_EXTENSIONS.contains(&args) => refuse(
            "NB003",
            format!("`%load_ext {args}` runs cells in another language"),
            "convert that part to Python or run it as a separate step",
        ),
        "load_ext" if args != "autoreload" => refuse(
            "NB033",
            format!("IPython extension `{args}` cannot be loaded by a plain Python script"),
            "remove the extension and use its Python API directly",
        ),
        "time" | "timeit" | "prun" if !args.is_empty() => Treatment::Replace {
            python: args.to_string(),
        },
        "env" => env(args),
        "cd" => refuse(
            "NB030",
            "`%cd` changes the working directory for every later relative path".to_string(),
            "use paths relative to the notebook's folder instead of changing directory",
        ),
        "run" => refuse(
            "NB031",
            format!("`%run {args}` runs another file in this notebook's namespace"),
            "import the functions you need from a module instead",
        ),
        "pylab" => refuse(
            "NB035",
            "`%pylab` star-imports numpy and matplotlib".to_string(),
            "import numpy and matplotlib.pyplot explicitly",
        ),
        "autocall" => refuse(
            "NB033",
            "IPython autocall syntax (`/f x`, `,f x`, `;f x`) has no Python equivalent here"
                .to_string(),
            "write the call with parentheses",
        ),
        "sx" | "system" | "store" | "bookmark" | "capture" => refuse(
            "NB033",
            format!("`%{name}` needs IPython"),
            "use subprocess or plain Python instead",
        ),
        name if DISPLAY_MAGICS.contains(&name) => drop("notebook display setting"),
        name => refuse(
            "NB033",
            format!("unknown magic `%{name}`"),
            "replace it with plain Python or remove it",
        ),
    }
}

fn install(command: &str, conda: bool) -> Treatment {
    let args = command.split_once("install").map_or("", |(_, rest)| rest);
    Treatment::Install {
        line: parse_install_args(args),
        conda,
    }
}

fn env(args: &str) -> Treatment {
    let pair = args
        .split_once('=')
        .or_else(|| args.split_once(char::is_whitespace));
    match pair {
        Some((key, value)) if !key.trim().is_empty() => Treatment::Replace {
            python: format!(
                "__import__(\"os\").environ[{}] = {}",
                python_string(key.trim()),
                python_string(value.trim())
            ),
        },
        _ => drop("shows environment variables"),
    }
}

/// A double-quoted Python string literal.
pub fn python_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Cell magics whose body is Python and whose header only measures or hides output.
pub fn cell_magic(name: &str, args: &str) -> Treatment {
    match name {
        "time" | "timeit" | "prun" => drop("timing header; the body is kept"),
        "capture" if args.split_whitespace().all(|word| word.starts_with('-')) => {
            drop("output capture header; the body is kept")
        }
        "capture" => refuse(
            "NB033",
            format!("`%%capture {args}` stores the cell's output in a variable"),
            "remove the variable or capture output with contextlib.redirect_stdout",
        ),
        "writefile" | "file" => refuse(
            "NB032",
            format!("`%%{name} {args}` writes the cell body to a file instead of running it"),
            "put that file in the repository next to the notebook and delete the cell",
        ),
        "html" | "markdown" | "latex" | "svg" | "javascript" | "js" => {
            drop("displays content in the notebook")
        }
        "bash" | "sh" | "script" | "R" | "sql" | "perl" | "ruby" | "python2" | "pypy" | "spark"
        | "sparksql" | "cmd" | "powershell" => refuse(
            "NB003",
            format!("cell runs another language (`%%{name}`)"),
            "convert the cell to Python or run it as a separate job step",
        ),
        _ => refuse(
            "NB033",
            format!("unknown cell magic `%%{name}`"),
            "replace it with plain Python or remove it",
        ),
    }
}

/// Whether a cell magic keeps its body as Python.
pub fn cell_magic_keeps_body(name: &str) -> bool {
    matches!(name, "time" | "timeit" | "prun" | "capture")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        use IpyEscapeKind::*;
        assert!(matches!(
            line_escape(Magic, "matplotlib inline"),
            Treatment::Drop { .. }
        ));
        assert!(matches!(
            line_escape(Magic, "pip install -r x.txt"),
            Treatment::Install { .. }
        ));
        assert!(matches!(
            line_escape(Shell, "pip install -q pandas"),
            Treatment::Install { .. }
        ));
        assert!(matches!(
            line_escape(Magic, "cd .."),
            Treatment::Refuse { code: "NB030", .. }
        ));
        assert!(matches!(
            line_escape(Magic, "run x.py"),
            Treatment::Refuse { code: "NB031", .. }
        ));
        assert!(matches!(
            line_escape(Magic, "load_ext rpy2.ipython"),
            Treatment::Refuse { code: "NB003", .. }
        ));
        assert!(matches!(
            line_escape(Magic, "ls \"/tmp/train\""),
            Treatment::Drop { .. }
        ));
        assert!(matches!(
            line_escape(Shell, "wget x"),
            Treatment::Refuse { .. }
        ));
        assert!(matches!(
            line_escape(Help, "df.describe"),
            Treatment::Drop { .. }
        ));
        assert_eq!(
            line_escape(Magic, "time x = f()"),
            Treatment::Replace {
                python: "x = f()".into()
            }
        );
        assert_eq!(
            line_escape(Magic, "env A=1"),
            Treatment::Replace {
                python: "__import__(\"os\").environ[\"A\"] = \"1\"".into()
            }
        );
        assert!(matches!(
            cell_magic("R", "-i df"),
            Treatment::Refuse { code: "NB003", .. }
        ));
        assert!(matches!(
            cell_magic("writefile", "x"),
            Treatment::Refuse { code: "NB032", .. }
        ));
        assert!(matches!(cell_magic("time", ""), Treatment::Drop { .. }));
    }
}
