//! The Markdown reports are made for pull-request comments: rendered to HTML by a Markdown
//! library, they must show a real table and collapsible sections.

mod support;

use support::Project;

fn html(markdown: &str) -> String {
    let mut options = pulldown_cmark::Options::empty();
    options.insert(pulldown_cmark::Options::ENABLE_TABLES);
    let parser = pulldown_cmark::Parser::new_ext(markdown, options);
    let mut out = String::new();
    pulldown_cmark::html::push_html(&mut out, parser);
    out
}

#[test]
fn the_plan_report_renders_a_table_with_one_row_per_change() {
    let project = Project::example("quickstart");
    let plan = project.run(&["plan", "--format", "markdown"]);
    assert_eq!(plan.code, 0, "{}", plan.both());
    let page = html(&plan.stdout);
    assert!(page.contains("<table>"), "{page}");
    assert!(page.contains("<th>Resource</th>"), "{page}");
    let rows = page.matches("<tr>").count();
    assert_eq!(rows, 1 + 5, "a header and five changes: {page}");
    assert!(
        page.contains("<td><code>compute.cpu-cluster</code></td>"),
        "{page}"
    );
    assert!(
        page.contains("<details><summary><code>job.train-job</code>"),
        "{page}"
    );
}

#[test]
fn the_drift_report_renders_a_table_and_hides_secrets() {
    let project = Project::empty();
    project.write(
        "compute.yml",
        "name: cpu\ntype: amlcompute\nssh_settings:\n  admin_username: azureuser\n  admin_password: Do-not-print-1\n",
    );
    let plan = project.run(&["plan", "--format", "markdown"]);
    assert!(!plan.stdout.contains("Do-not-print-1"), "{}", plan.stdout);
    assert_eq!(project.run(&["apply", "--auto-approve"]).code, 0);
    project.write("compute.yml", "name: cpu\ntype: amlcompute\nmax_instances: 2\nssh_settings:\n  admin_username: azureuser\n  admin_password: Do-not-print-1\n");
    let drift = project.run(&["drift", "--format", "markdown"]);
    assert_eq!(drift.code, 2, "{}", drift.both());
    assert!(!drift.stdout.contains("Do-not-print-1"));
    let page = html(&drift.stdout);
    assert!(page.contains("<table>"), "{page}");
    assert!(page.contains("<td><code>compute.cpu</code></td>"), "{page}");
    assert!(
        page.contains("<td>manifest changes to apply</td>"),
        "{page}"
    );
}
