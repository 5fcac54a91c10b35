//! The terminal: data to stdout, everything else to stderr, colour only where wanted.

use std::io::{IsTerminal, Write};

use amlops::diag::Diagnostic;
use anstyle::{AnsiColor, Style};

/// Writes what the user asked for to stdout. A closed pipe ends the program quietly.
pub fn out(text: &str) {
    let mut stdout = anstream::stdout();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

/// Writes status, progress and warnings to stderr.
pub fn status(text: &str) {
    let mut stderr = anstream::stderr();
    let _ = writeln!(stderr, "{text}");
}

pub fn paint(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

pub const ERROR: Style = AnsiColor::Red.on_default().bold();
pub const WARNING: Style = AnsiColor::Yellow.on_default().bold();
pub const GOOD: Style = AnsiColor::Green.on_default();
pub const MUTED: Style = Style::new().dimmed();
pub const STRONG: Style = Style::new().bold();

/// Prints diagnostics to stderr, labels coloured.
pub fn diagnostics<'a>(items: impl IntoIterator<Item = &'a Diagnostic>) {
    for diagnostic in items {
        let text = diagnostic.render();
        let text = if let Some(rest) = text.strip_prefix("error:") {
            format!("{}{rest}", paint(ERROR, "error:"))
        } else if let Some(rest) = text.strip_prefix("warning:") {
            format!("{}{rest}", paint(WARNING, "warning:"))
        } else {
            text
        };
        let mut stderr = anstream::stderr();
        let _ = write!(stderr, "{text}");
        let _ = writeln!(stderr);
    }
}

pub fn error(message: &str) {
    status(&format!("{} {message}", paint(ERROR, "error:")));
}

pub fn warning(message: &str) {
    status(&format!("{} {message}", paint(WARNING, "warning:")));
}

pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

/// Asks a yes/no question on the terminal; only `yes` accepts.
pub fn confirm(question: &str) -> bool {
    let mut stderr = anstream::stderr();
    let _ = write!(
        stderr,
        "{}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ",
        paint(STRONG, question)
    );
    let _ = stderr.flush();
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err() {
        return false;
    }
    answer.trim() == "yes"
}
