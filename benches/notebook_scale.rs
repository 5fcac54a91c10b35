//! How `amlops notebook` scales with the size of a notebook: wall time and peak memory of
//! `notebook inspect` and `notebook convert` (the real binary, one process per run) on generated
//! notebooks, by number of cells, of lines in one cell and of statements on one line.
//!
//! `cargo bench --bench notebook_scale` prints one row per notebook with the time per 1,000
//! cells or lines, which stays flat when the analysis is linear (it grew 8-fold per doubling
//! when the analysis was cubic). `AMLOPS_BENCH_QUICK=1` runs the smaller sizes only.

#[path = "common/child.rs"]
mod child;

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A family of generated notebooks: `write(n, notebook)` writes the code cells for size `n`.
struct Family {
    name: &'static str,
    unit: &'static str,
    sizes: &'static [usize],
    quick_sizes: &'static [usize],
    write: fn(usize, &mut NotebookWriter),
    /// Also time `convert` (off where it would write one data asset file per unit).
    convert: bool,
}

const FAMILIES: &[Family] = &[
    Family {
        name: "one-line cells `x<i> = <i>`",
        unit: "cells",
        sizes: &[1_000, 2_000, 4_000, 20_000, 100_000],
        quick_sizes: &[1_000, 2_000, 4_000],
        write: |n, notebook| (0..n).for_each(|i| notebook.cell([format!("x{i} = {i}\n")])),
        convert: true,
    },
    Family {
        name: "one cell of lines `x<i> = <i>`",
        unit: "lines",
        sizes: &[100_000, 1_000_000, 2_000_000],
        quick_sizes: &[100_000],
        write: |n, notebook| notebook.cell((0..n).map(|i| format!("x{i} = {i}\n"))),
        convert: true,
    },
    Family {
        name: "one cell of lines `x = 1`",
        unit: "lines",
        sizes: &[100_000, 1_000_000, 2_000_000],
        quick_sizes: &[100_000],
        write: |n, notebook| notebook.cell((0..n).map(|_| "x = 1\n".to_string())),
        convert: true,
    },
    Family {
        name: "one line of statements `x<i>=1;`",
        unit: "statements",
        sizes: &[100_000, 1_000_000],
        quick_sizes: &[100_000],
        write: |n, notebook| {
            let statements = (0..n).map(|i| format!("x{i}=1;"));
            notebook.cell(statements.chain(["\n".to_string()]));
        },
        convert: true,
    },
    Family {
        name: "one cell of automagic lines `ls data<i>`",
        unit: "lines",
        sizes: &[10_000, 100_000],
        quick_sizes: &[10_000],
        write: |n, notebook| notebook.cell((0..n).map(|i| format!("ls data{i}\n"))),
        convert: false,
    },
    Family {
        name: "cells reading data `df = pd.read_csv(\"data/f<i>.csv\")`",
        unit: "cells",
        sizes: &[2_000, 20_000],
        quick_sizes: &[2_000],
        write: |n, notebook| {
            notebook.cell(["import pandas as pd\n".to_string()]);
            (0..n).for_each(|i| notebook.cell([format!("df = pd.read_csv(\"data/f{i}.csv\")\n")]));
        },
        convert: false,
    },
    Family {
        name: "cells defining decorated functions",
        unit: "cells",
        sizes: &[2_000, 20_000],
        quick_sizes: &[2_000],
        write: |n, notebook| {
            notebook.cell(["import functools\nLIMIT = 3\n".to_string()]);
            (0..n).for_each(|i| {
                notebook.cell([format!(
                    "@functools.cache\ndef f{i}(a=LIMIT):\n    return a + g\n"
                )])
            });
            notebook.cell(["g = 1\n".to_string()]);
        },
        convert: true,
    },
];

fn main() {
    let quick = std::env::var("AMLOPS_BENCH_QUICK").is_ok();
    let dir = tempfile::tempdir().expect("temporary directory");
    println!("# amlops notebook: time and peak memory by notebook size\n");
    println!(
        "| notebook | size | file | inspect | convert | per 1,000 | peak memory |\n|---|---|---|---|---|---|---|"
    );
    for family in FAMILIES {
        let sizes = if quick {
            family.quick_sizes
        } else {
            family.sizes
        };
        for &size in sizes {
            let path = dir.path().join(format!("n{size}.ipynb"));
            let mut notebook = NotebookWriter::create(&path);
            (family.write)(size, &mut notebook);
            let bytes = notebook.finish();
            let (inspect, inspect_memory) = run(&["inspect".as_ref(), path.as_os_str()]);
            let out = dir.path().join("out");
            let (convert, convert_memory) = if family.convert {
                let (time, memory) = run(&[
                    "convert".as_ref(),
                    path.as_os_str(),
                    "--out".as_ref(),
                    out.as_os_str(),
                ]);
                (Some(time), memory)
            } else {
                (None, 0)
            };
            let _ = std::fs::remove_dir_all(&out);
            let slowest = convert.unwrap_or(inspect).max(inspect);
            println!(
                "| {} | {size} {} | {:.1} MB | {:.2} s | {} | {:.1} ms | {:.0} MiB |",
                family.name,
                family.unit,
                bytes as f64 / 1e6,
                inspect.as_secs_f64(),
                convert.map_or("-".to_string(), |time| format!(
                    "{:.2} s",
                    time.as_secs_f64()
                )),
                slowest.as_secs_f64() * 1e6 / size as f64,
                inspect_memory.max(convert_memory) as f64 / 1024.0,
            );
        }
    }
}

/// Writes an nbformat 4.5 notebook of code cells as Python's `json.dump` does, a piece at a
/// time: this process stays small, since a child's peak memory as the kernel reports it starts
/// from its parent's.
struct NotebookWriter {
    out: BufWriter<File>,
    cells: usize,
}

impl NotebookWriter {
    fn create(path: &Path) -> Self {
        let mut out = BufWriter::new(File::create(path).expect("create the notebook"));
        out.write_all(br#"{"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "python3", "language": "python"}}, "cells": ["#)
            .expect("write the notebook");
        NotebookWriter { out, cells: 0 }
    }

    /// A code cell whose source is `pieces` joined.
    fn cell(&mut self, pieces: impl IntoIterator<Item = String>) {
        let separator: &[u8] = if self.cells == 0 { b"" } else { b", " };
        self.cells += 1;
        self.out.write_all(separator).expect("write the notebook");
        self.out
            .write_all(br#"{"cell_type": "code", "metadata": {"tags": []}, "source": ""#)
            .expect("write the notebook");
        for piece in pieces {
            // JSON escapes character by character: the pieces' escapes join into the whole's.
            let quoted = serde_json::to_string(&piece).expect("a string serialises");
            self.out
                .write_all(&quoted.as_bytes()[1..quoted.len() - 1])
                .expect("write the notebook");
        }
        self.out
            .write_all(br#"", "outputs": [], "execution_count": null}"#)
            .expect("write the notebook");
    }

    /// Closes the notebook; returns its size in bytes.
    fn finish(mut self) -> u64 {
        self.out.write_all(b"]}").expect("write the notebook");
        let file = self.out.into_inner().expect("flush the notebook");
        file.metadata().expect("the notebook's size").len()
    }
}

/// Runs `amlops notebook ARGS`; returns the wall time and the peak resident memory (KiB).
fn run(args: &[&std::ffi::OsStr]) -> (Duration, i64) {
    let run = child::measure(
        Command::new(env!("CARGO_BIN_EXE_amlops"))
            .arg("notebook")
            .args(args)
            .env("NO_COLOR", "1"),
    );
    assert!(run.code >= 0, "amlops notebook {args:?} did not exit");
    (run.elapsed, run.peak_kib)
}
