//! Two applies on one workspace: one holds the lock, the other waits or fails with the
//! holder's details; nothing is duplicated; `force-unlock` releases a dead holder's lock.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::Project;

const ENV: &str = "name: env\nversion: 1\nimage: python:3.11\n";

fn slow_job(seconds: u32) -> String {
    format!("command: sleep {seconds} && echo done\nenvironment: azureml:env:1\n")
}

fn wait_for_lock(project: &Project) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if project.database().exists() {
            let show = project.show();
            if !show["lock"].is_null() {
                return show["lock"].clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "the first apply never took the lock"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_second_apply_fails_with_the_holder_or_waits_for_it() {
    let project = Project::empty();
    project
        .write("env.yml", ENV)
        .write("slow.yml", &slow_job(3));
    let first = Command::new(env!("CARGO_BIN_EXE_amlops"))
        .args(["apply", "--auto-approve", project.path().to_str().unwrap()])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lock = wait_for_lock(&project);

    project.write("other.yml", "name: other\nversion: 1\nimage: python:3.12\n");
    let refused = project.run(&["apply", "--auto-approve"]);
    assert_eq!(refused.code, 1, "{}", refused.both());
    let id = lock["id"].as_str().unwrap();
    assert!(
        refused.stderr.contains(&format!("lock id {id}")),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains(&format!("(pid {}", first.id())),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("force-unlock"),
        "{}",
        refused.stderr
    );

    let waited = project.run(&["apply", "--auto-approve", "--lock-timeout", "60"]);
    assert_eq!(waited.code, 0, "{}", waited.both());
    let output = first.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let show = project.show();
    assert!(show["lock"].is_null(), "the lock is released");
    assert_eq!(
        show["jobs"].as_array().unwrap().len(),
        1,
        "the job ran once"
    );
    let environments = show["assets"]["environment"].as_array().unwrap();
    assert_eq!(environments.len(), 2);
    assert!(
        environments
            .iter()
            .all(|e| e["versions"].as_array().unwrap().len() == 1)
    );
}

#[test]
fn a_dead_holder_keeps_the_lock_until_force_unlock() {
    let project = Project::empty();
    project.write("env.yml", ENV);
    assert_eq!(project.run(&["apply", "--auto-approve"]).code, 0);
    // A holder that died: its lock is left behind.
    let workspace = amlops::backend::local::LocalWorkspace::open(
        &project.path().join(".amlops"),
        amlops::scope::Scope::local(),
    )
    .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut info = amlops::lock::LockInfo::for_this_process("apply");
    info.pid = 999_999;
    let info = runtime
        .block_on(amlops::lock::acquire(
            &workspace,
            info,
            Duration::ZERO,
            Duration::from_millis(10),
        ))
        .unwrap();
    drop(workspace);

    project.write("env.yml", &ENV.replace("version: 1", "version: 2"));
    let refused = project.run(&["apply", "--auto-approve"]);
    assert_eq!(refused.code, 1, "{}", refused.both());
    assert!(refused.stderr.contains("pid 999999"), "{}", refused.stderr);

    let wrong = project.run(&["force-unlock", "not-the-id"]);
    assert_eq!(wrong.code, 1);
    assert!(wrong.stderr.contains("does not match"), "{}", wrong.stderr);
    let unlock = project.run(&["force-unlock", &info.id]);
    assert_eq!(unlock.code, 0, "{}", unlock.both());
    assert_eq!(project.run(&["apply", "--auto-approve"]).code, 0);
}

#[test]
fn applies_without_changes_take_no_lock_and_write_nothing() {
    let project = Project::empty();
    project.write("env.yml", ENV);
    assert_eq!(project.run(&["apply", "--auto-approve"]).code, 0);
    let before = project.database_bytes();
    assert_eq!(project.run(&["apply", "--auto-approve"]).code, 0);
    assert!(
        project.database_bytes() == before,
        "the workspace database changed"
    );
}
