//! `amlops emulator` as scripts use it: the two stdout lines, HTTPS with the printed
//! certificate, the request log file, fault flags, and a clean stop on SIGTERM.

mod emulator_support;

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use emulator_support::Client;
use serde_json::Value;

struct Emulator {
    child: Child,
    lines: Vec<String>,
}

impl Emulator {
    /// Starts the binary and reads stdout until it has printed `lines` lines.
    fn start(args: &[&str], lines: usize) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_amlops"))
            .arg("emulator")
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("AMLOPS_DATA_DIR")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut read = Vec::new();
        for _ in 0..lines {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            read.push(line.trim_end().to_owned());
        }
        Emulator { child, lines: read }
    }

    fn value(&self, prefix: &str) -> &str {
        self.lines
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line in {:?}", self.lines))
    }

    /// Sends SIGTERM and returns the exit status and stderr.
    fn stop(self) -> (Option<i32>, String) {
        // SAFETY: kill(2) on our own child's pid reads no memory.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let output = self.child.wait_with_output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_prints_its_url_and_certificate_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("state");
    let log = dir.path().join("requests.jsonl");
    let emulator = Emulator::start(
        &[
            "--port",
            "0",
            "--tls",
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--workspace",
            "11111111-2222-3333-4444-555555555555/rg/team",
            "--registry",
            "shared",
            "--request-log",
            log.to_str().unwrap(),
            "--fault",
            "throttle:path=/environments$,times=1,retry-after=2",
        ],
        2,
    );
    let url = emulator.value("listening on ").to_owned();
    let certificate = emulator.value("certificate ").to_owned();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    assert!(
        certificate.starts_with(data_dir.to_str().unwrap()),
        "{certificate}"
    );

    let client = Client::new(&url, Some(std::path::Path::new(&certificate)));
    let workspace = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/team";
    assert_eq!(client.get(workspace).await.body["name"], "team");
    assert_eq!(
        client.get(emulator_support::WORKSPACE).await.status,
        404,
        "only the named workspace is served"
    );
    let environments = format!("{workspace}/environments");
    let throttled = client.get(&environments).await;
    assert_eq!(
        (throttled.status, throttled.header("retry-after")),
        (429, Some("2"))
    );
    assert_eq!(client.get(&environments).await.status, 200);
    let registry = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/amlops-local/providers/Microsoft.MachineLearningServices/registries/shared";
    assert_eq!(client.get(registry).await.status, 200);

    let (code, stderr) = emulator.stop();
    assert_eq!(code, Some(0), "{stderr}");
    let logged: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let statuses: Vec<u64> = logged
        .iter()
        .map(|l| l["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, vec![200, 404, 429, 200, 200]);
    assert!(data_dir.join("workspace.db").exists());
}

#[test]
fn bad_arguments_are_reported() {
    let output = Command::new(env!("CARGO_BIN_EXE_amlops"))
        .args(["emulator", "--workspace", "only/two", "--data-dir"])
        .arg(tempfile::tempdir().unwrap().path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("SUBSCRIPTION/RESOURCE_GROUP/NAME"),
        "{stderr}"
    );

    let output = Command::new(env!("CARGO_BIN_EXE_amlops"))
        .args(["emulator", "--fault", "sneeze", "--data-dir"])
        .arg(tempfile::tempdir().unwrap().path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("sneeze"));
}
