//! A libFuzzer-free run of the notebook reader harness (`fuzz/fuzz_targets/notebook_reader.rs`):
//! structured notebooks built from IPython and Python fragments, and byte-level mutations of
//! them and of the corpus. Runs for `AMLOPS_FUZZ_SECS` seconds (default 10); a panic prints the
//! input's seed and saves it under `target/notebook-fuzz-crash.ipynb`.

use std::time::{Duration, Instant};

use amlops::notebook::fuzzing::exercise;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const FRAGMENTS: &[&str] = &[
    "import os\n",
    "import pandas as pd\n",
    "from sklearn.svm import SVC\n",
    "x = 1\n",
    "x\n",
    "df = pd.read_csv('data/a.csv')\n",
    "df.to_parquet(out)\n",
    "%pip install -q pandas==2\n",
    "!pip install $pkg\n",
    "%%time\n",
    "%%writefile a.py\n",
    "%%R -i df\n",
    "%cd ..\n",
    "%matplotlib inline\n",
    "ls \"/tmp\" \n",
    "display(df.head())\n",
    "await f()\n",
    "def f(a=b):\n    return a + c\n",
    "class args:\n    C = 0.8\n    p = \"x.csv\"\n",
    "args = MyArgs(a=1, b='/tmp/x')\n",
    "class MyArgs:\n    def __init__(self, **kw):\n        pass\n",
    "if x:\n    %time y = 2\n",
    "files = !ls\n",
    "df.describe?\n",
    "s = \"\"\"\n%magic\n\"\"\"\n",
    "mlflow.set_experiment('e')\n",
    "open('/abs/p', 'w')\n",
    "os.chdir('x')\n",
    "global g\n",
    "return 1\n",
    "def broken(:\n",
    "(\n",
    "\t \n",
    "\r\n",
    "é = 1\n",
    "x = [i for i in y]\n",
    "lambda: z\n",
    "f\"{a!r:>{w}}\"\n",
    "type X = int\n",
    "match x:\n    case [a, *b]:\n        pass\n",
    "with open(p) as f:\n    pass\n",
    "from x import *\n",
    "from . import y\n",
    "%%capture out\n",
    "%env A=1\n",
    "%load_ext rpy2.ipython\n",
    "get_ipython()\n",
    "input()\n",
    "\\\n",
    "#| amlops: skip\n",
    "import azureml.core\n",
    "del x\n",
    "x: float = 2\n",
    "y = -3\n",
    "z = {'a': [1, 2]}\n",
    "?pd\n",
    ";f a\n",
    ",f a b\n",
    "/f x\n",
    "def?(,\n",
    "x = f(a\n, b)\n",
    "df.describe?\n",
];

const TAGS: &[&str] = &[
    "parameters",
    "skip",
    "injected-parameters",
    "remove-cell",
    "raises-exception",
    "x",
];

fn structured(rng: &mut Rng) -> Vec<u8> {
    let cells: Vec<String> = (0..rng.below(8))
        .map(|_| {
            let kind = rng.pick(&["code", "code", "code", "markdown", "raw"]);
            let text: String = (0..rng.below(5)).map(|_| rng.pick(FRAGMENTS)).collect();
            let source = if rng.below(2) == 0 {
                serde_json::to_string(&text).unwrap()
            } else {
                serde_json::to_string(&text.split_inclusive('\n').collect::<Vec<_>>()).unwrap()
            };
            let tags = serde_json::to_string(&(0..rng.below(3)).map(|_| rng.pick(TAGS)).collect::<Vec<_>>()).unwrap();
            format!(r#"{{"cell_type": "{kind}", "metadata": {{"tags": {tags}}}, "source": {source}, "outputs": [], "execution_count": {}}}"#, rng.below(9))
        })
        .collect();
    let language = rng.pick(&["python", "R", "plaintext", ""]);
    format!(
        r#"{{"nbformat": 4, "nbformat_minor": {}, "metadata": {{"kernelspec": {{"name": "python3", "language": "{language}"}}, "language_info": {{"name": "python", "version": "3.{}.1"}}}}, "cells": [{}]}}"#,
        rng.below(7),
        rng.below(14),
        cells.join(",")
    )
    .into_bytes()
}

fn mutate(rng: &mut Rng, mut bytes: Vec<u8>) -> Vec<u8> {
    for _ in 0..1 + rng.below(8) {
        if bytes.is_empty() {
            break;
        }
        let at = rng.below(bytes.len());
        match rng.below(4) {
            0 => bytes[at] = rng.next() as u8,
            1 => {
                bytes.remove(at);
            }
            2 => bytes.insert(
                at,
                *b"\"\\{}[]%!\n\r:,0 ".get(rng.below(15)).unwrap_or(&b'x'),
            ),
            _ => bytes.truncate(at),
        }
    }
    bytes
}

fn corpus() -> Vec<Vec<u8>> {
    let folder =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/notebooks");
    let Ok(owners) = std::fs::read_dir(&folder) else {
        eprintln!(
            "corpus folder {} is absent: structured inputs only",
            folder.display()
        );
        return Vec::new();
    };
    let mut notebooks = Vec::new();
    for owner in owners.flatten() {
        for file in std::fs::read_dir(owner.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if file.path().extension().is_some_and(|ext| ext == "ipynb") {
                notebooks.push(std::fs::read(file.path()).unwrap());
            }
        }
    }
    notebooks.sort();
    notebooks
}

#[test]
fn notebook_reader_survives_random_input() {
    let seconds = std::env::var("AMLOPS_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let corpus = corpus();
    let mut runs = 0u64;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    while Instant::now() < deadline {
        seed = seed.wrapping_add(1);
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let input = match rng.below(3) {
            0 => structured(&mut rng),
            1 => {
                let base = structured(&mut rng);
                mutate(&mut rng, base)
            }
            _ if !corpus.is_empty() => {
                let base = corpus[rng.below(corpus.len())].clone();
                mutate(&mut rng, base)
            }
            _ => structured(&mut rng),
        };
        let outcome = std::panic::catch_unwind(|| exercise(&input));
        if outcome.is_err() {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("target/notebook-fuzz-crash.ipynb");
            std::fs::write(&path, &input).unwrap();
            panic!("panic on seed {seed}; input saved to {}", path.display());
        }
        runs += 1;
    }
    eprintln!("notebook fuzz: {runs} inputs in {seconds} s, no panic");
}

/// Inputs that once panicked, kept as regressions.
#[test]
fn fuzz_regressions() {
    // cargo fuzz: ruff_python_parser 0.0.10 panics when error recovery meets a `;` escape where
    // it expects an expression (minimised: `def?(,\n;`).
    exercise(include_bytes!(
        "data/notebook-fuzz/ruff-escape-in-expression.ipynb"
    ));
    exercise(
        br#"{"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": [
        {"cell_type": "code", "metadata": {}, "source": "def?(,\n;", "outputs": []}]}"#,
    );
}
