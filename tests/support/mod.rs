//! Helpers for tests that run the `amlops` binary on manifest folders of their own.

#![allow(
    dead_code,
    reason = "each test file uses a different subset of these helpers"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A temporary manifest folder with its own local workspace.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn empty() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    /// A copy of a folder of `examples/`.
    pub fn example(name: &str) -> Self {
        let project = Self::empty();
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("examples")
                .join(name),
            project.path(),
        );
        let _ = std::fs::remove_dir_all(project.path().join(".amlops"));
        project
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, relative: &str, text: &str) -> &Self {
        let path = self.path().join(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("create folder");
        std::fs::write(path, text).expect("write file");
        self
    }

    pub fn append(&self, relative: &str, text: &str) {
        let path = self.path().join(relative);
        let mut content = std::fs::read_to_string(&path).expect("read file");
        content.push_str(text);
        std::fs::write(path, content).expect("write file");
    }

    pub fn remove(&self, relative: &str) {
        std::fs::remove_file(self.path().join(relative)).expect("remove file");
    }

    /// Runs `amlops ARGS... <this folder>` with no colour and no terminal.
    pub fn run(&self, args: &[&str]) -> Run {
        let mut all: Vec<&str> = args.to_vec();
        let dir = self.path().to_str().expect("utf-8 path").to_owned();
        all.push(&dir);
        amlops(&all, self.path())
    }

    pub fn database(&self) -> PathBuf {
        self.path().join(".amlops/workspace.db")
    }

    pub fn database_bytes(&self) -> Vec<u8> {
        std::fs::read(self.database()).expect("workspace database")
    }

    /// `amlops show --json` of this project's workspace.
    pub fn show(&self) -> serde_json::Value {
        let run = self.run(&["show", "--json"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        serde_json::from_str(&run.stdout).expect("show prints JSON")
    }

    pub fn jobs(&self) -> Vec<serde_json::Value> {
        self.show()["jobs"].as_array().cloned().unwrap_or_default()
    }
}

/// The result of one run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn both(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

pub fn amlops(args: &[&str], cwd: &Path) -> Run {
    let output: Output = Command::new(env!("CARGO_BIN_EXE_amlops"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("AMLOPS_DATA_DIR")
        .env_remove("AMLOPS_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run amlops");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create folder");
    for entry in std::fs::read_dir(from).expect("read folder") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy file");
        }
    }
}

/// The folder of shared test material beside the checkout, when present.
pub fn shared() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    path.is_dir().then_some(path)
}
