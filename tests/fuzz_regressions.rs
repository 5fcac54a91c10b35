//! The manifest reader's fuzzing harness in the test suite: a deterministic randomized run of
//! the harness `cargo fuzz` runs (`fuzz/fuzz_targets/manifest_reader.rs`) over mutations of
//! real manifests, so that CI (which has no fuzzer) exercises it too, and the inputs that once
//! hung the reader. (`cargo fuzz` has found no crashing input; any it finds joins this file.)

#[path = "../fuzz/harness/manifest_reader.rs"]
mod harness;

/// Inputs naming files that never end (devices), which once made the reader wait forever:
/// each must be refused at once, naming the key.
const ENDLESS_FILES: &[(&str, &str)] = &[
    (
        "name: e\nimage: python:3.11\nconda_file: /dev/zero\n",
        "cannot read conda file `/dev/zero`: not a regular file",
    ),
    (
        "command: echo\nenvironment: file:/dev/zero\n",
        "cannot read environment file `/dev/zero`: not a regular file",
    ),
    (
        "type: pipeline\njobs:\n  a:\n    component: /dev/zero.yml\n  b:\n    component: file:/dev/zero\n",
        "cannot read component file `/dev/zero`: not a regular file",
    ),
];

#[test]
fn files_that_never_end_are_refused() {
    for (input, expected) in ENDLESS_FILES {
        harness::exercise(input.as_bytes());
        let manifest = amlops::manifest::read_text(std::path::Path::new(harness::FILE), input);
        assert!(
            manifest
                .diagnostics
                .errors()
                .any(|d| d.message == *expected),
            "{expected:?} not in {:#?}",
            manifest.diagnostics.items
        );
    }
}

/// Seeds: small manifests of every kind, bindings and optional fragments included.
const SEEDS: &[&str] = &[
    "command: echo ${{inputs.x}} $[[--y ${{inputs.y}}]]\nenvironment:\n  image: python:3.11\n  conda_file:\n    dependencies: [python=3.10, {pip: [numpy]}]\ninputs:\n  x: 1\n  y:\n    type: uri_file\n    path: https://example.com/y.csv\n    mode: download\noutputs:\n  o:\n    type: uri_folder\n    mode: upload\ncompute: azureml:cpu\nresources:\n  instance_count: 2\ndistribution:\n  type: pytorch\n  process_count_per_instance: 2\nlimits:\n  timeout: 90\n",
    "type: pipeline\nsettings:\n  default_compute: azureml:serverless\n  continue_on_step_failure: true\ninputs:\n  n: 3\n  data:\n    type: uri_folder\n    path: azureml://datastores/workspaceblobstore/paths/x/\noutputs:\n  out:\n    type: uri_folder\njobs:\n  a:\n    command: echo ${{inputs.n}} > ${{outputs.o}}/n\n    environment: azureml://registries/azureml/environments/sklearn-1.5/labels/latest\n    inputs:\n      n: ${{parent.inputs.n}}\n    outputs:\n      o: ${{parent.outputs.out}}\n  b:\n    type: command\n    component: azureml:train@latest\n    compute: ${{parent.inputs.n}}\n    inputs:\n      x: ${{parent.jobs.a.outputs.o}}\n  c:\n    type: parallel\n    input_data: ${{inputs.d}}\n    mini_batch_size: 10kb\n    partition_keys: [a, b]\n    inputs:\n      d:\n        type: mltable\n        path: ${{parent.inputs.data}}\n        mode: direct\n    task:\n      type: run_function\n      entry_script: s.py\n      environment:\n        image: python\n",
    "type: sweep\ntrial:\n  command: python t.py --a ${{search_space.a}} --b ${{inputs.b}}\n  environment: azureml:AzureML-sklearn-1.5@latest\ninputs:\n  b: 2e-5\nsearch_space:\n  a:\n    type: choice\n    values: [1, 2.5, x]\n  c:\n    type: qnormal\n    mu: 0\n    sigma: 1.5\n    q: 2\nsampling_algorithm:\n  type: random\n  seed: 7\n  rule: sobol\nobjective:\n  goal: maximize\n  primary_metric: acc\nlimits:\n  max_total_trials: 4\n  timeout: 3600\nearly_termination:\n  type: bandit\n  slack_factor: 0.1\n",
    "$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json\ntype: command\nname: train_it\nversion: 01\ninputs:\n  lr:\n    type: number\n    default: 1e-3\n    min: 0\n    max: 1\n  k:\n    type: string\n    enum: [a, b]\n    optional: true\noutputs:\n  model:\n    type: mlflow_model\ncommand: python t.py --lr ${{inputs.lr}} $[[--k ${{inputs.k}}]] --o ${{outputs.model}}\nenvironment:\n  image: python\n",
    "type: pipeline\nname: sub_pipe\nversion: 2\ninputs:\n  i:\n    type: uri_folder\noutputs:\n  o:\n    type: uri_folder\njobs:\n  s:\n    type: sweep\n    trial: azureml:t:1\n    objective: {goal: minimize, primary_metric: loss}\n    limits: {max_total_trials: 2}\n    search_space: {p: {type: randint, upper: 5}}\n    inputs: {i: '${{parent.inputs.i}}'}\n    outputs: {o: '${{parent.outputs.o}}'}\n",
    "type: computeinstance\nname: ci-a\nsize: STANDARD_DS3_v2\nschedules:\n  compute_start_stop:\n    - action: stop\n      trigger: {type: cron, expression: 0 18 * * *, start_time: \"2021-03-10T21:21:07\"}\n    - action: start\n      state: disabled\n      trigger: {type: recurrence, frequency: week, interval: 1, schedule: {hours: [8], minutes: [0], week_days: [monday]}}\n",
    "type: amlcompute\nname: cpu-cluster\nsize: Standard_DS3_v2\nmin_instances: 0\nmax_instances: 4\nidle_time_before_scale_down: 120\ntier: low_priority\nidentity:\n  type: user_assigned\n  user_assigned_identities:\n    - resource_id: /subscriptions/x/id\nssh_settings: {admin_username: u, admin_password: p}\n---\ntype: virtualmachine\nname: vm\nresource_id: /subscriptions/x/vm\nssh_settings: {admin_username: u, ssh_port: 22}\n",
    "name: iris\nversion: auto\ntype: mltable\npath: azureml://datastores/workspaceblobstore/paths/iris/\n---\nname: env\nversion: 1.10\nimage: python:3.11\ninference_config:\n  liveness_route: {port: 5001, path: /}\n  readiness_route: {port: 5001, path: /}\n  scoring_route: {port: 5001, path: /score}\n",
    "a: &x {b: [1, 2, {c: *x}]}\n<<: *x\n? [complex, key]\n: value\n\"é\": \"\\u00e9\\t\"\n",
];

/// Pieces the mutations insert: YAML structure, bindings, odd characters.
const TOKENS: &[&str] = &[
    "${{",
    "}}",
    "$[[",
    "]]",
    ": ",
    "- ",
    "\n",
    "\n  ",
    "{",
    "}",
    "[",
    "]",
    "'",
    "\"",
    "#",
    "&a ",
    "*a",
    "!!str ",
    "|\n  ",
    ">-\n  ",
    "é",
    "😀",
    "\t",
    "\r\n",
    "~",
    "null",
    "01",
    "1e-5",
    ".inf",
    "azureml:",
    "azureml://registries/r/components/c/labels/latest",
    "${{parent.jobs.a.outputs.o}}",
    "${{parent.inputs.n}}",
    "type: pipeline\n",
    "type: sweep\n",
    "component: ./c.yml\n",
    "file:",
    "../",
    "/",
    "\u{feff}",
    "\0",
];

/// A small deterministic generator (SplitMix64).
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(seed: &str, random: &mut Random) -> Vec<u8> {
    let mut bytes = seed.as_bytes().to_vec();
    for _ in 0..1 + random.below(4) {
        let at = random.below(bytes.len() + 1);
        match random.below(5) {
            0 => bytes
                .splice(at..at, TOKENS[random.below(TOKENS.len())].bytes())
                .for_each(drop),
            1 if !bytes.is_empty() => {
                let end = (at + random.below(16)).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            2 if at < bytes.len() => bytes[at] = (random.next() & 0x7f) as u8,
            3 => {
                let end = (at + random.below(40)).min(bytes.len());
                let copy = bytes[at.min(end)..end].to_vec();
                let to = random.below(bytes.len() + 1);
                bytes.splice(to..to, copy).for_each(drop);
            }
            _ => bytes.truncate(at),
        }
    }
    bytes
}

#[test]
fn mutated_manifests_never_crash() {
    let mut random = Random(0x0a31_0905);
    let mut seeds: Vec<String> = SEEDS.iter().map(|s| (*s).to_owned()).collect();
    let quickstart = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    for entry in std::fs::read_dir(quickstart).expect("quickstart").flatten() {
        if entry.path().extension().is_some_and(|e| e == "yml") {
            seeds.push(std::fs::read_to_string(entry.path()).expect("read"));
        }
    }
    for seed in &seeds {
        harness::exercise(seed.as_bytes());
    }
    for _ in 0..4000 {
        let seed = &seeds[random.below(seeds.len())];
        let input = mutate(seed, &mut random);
        let result = std::panic::catch_unwind(|| harness::exercise(&input));
        assert!(
            result.is_ok(),
            "the reader panicked on {:?}",
            String::from_utf8_lossy(&input)
        );
    }
}
