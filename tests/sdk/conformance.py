"""Conformance of the emulator with Microsoft's own SDK, azure-ai-ml 1.35.2, unmodified.

Run by tests/emulator_blobs.rs (and by .ci/run through it) with:
  AMLOPS_EMULATOR_URL  the emulator's https URL
  REQUESTS_CA_BUNDLE   the emulator's certificate
  AMLOPS_WORKDIR       a scratch folder for the job's code
Every step reads back what it wrote. Prints one JSON object per step, then a summary line
{"summary": {...}}; exits 1 if any step failed.

Nothing leaves the machine: sockets may connect only to loopback and host names other than
loopback ones are never resolved, so a default that pointed at Azure would fail loudly.
"""

import base64
import json
import os
import socket
import sys
import time
import traceback

LOOPBACK = ("127.0.0.1", "::1", "localhost")

for key in list(os.environ):
    if key.startswith(("AZURE_", "AZUREML_", "ARM_", "MSI_", "IDENTITY_")) or key.lower().endswith("_proxy"):
        del os.environ[key]

_connect = socket.socket.connect


def loopback_only(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if host not in LOOPBACK:
        raise ConnectionRefusedError(f"conformance guard: no connection to {address!r}")
    return _connect(self, address)


socket.socket.connect = loopback_only
_getaddrinfo = socket.getaddrinfo


def loopback_names_only(host, *args, **kwargs):
    if host not in LOOPBACK:
        raise socket.gaierror(f"conformance guard: {host} is not resolved")
    return _getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = loopback_names_only

URL = os.environ["AMLOPS_EMULATOR_URL"]
WORKDIR = os.environ["AMLOPS_WORKDIR"]
os.environ["AZUREML_DEV_URL_MFE"] = URL
os.environ["AZURE_ML_DISABLE_ON_DISK_CACHE"] = "true"

from azure.ai.ml import Input, MLClient, command  # noqa: E402
from azure.ai.ml.entities import AmlCompute, Data, Environment  # noqa: E402
from azure.core.credentials import AccessToken, AccessTokenInfo  # noqa: E402
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError  # noqa: E402

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
DATASTORE = "azureml://datastores/workspaceblobstore/paths"
TERMINAL = ("Completed", "Failed", "Canceled")


def unsigned_jwt(scopes):
    audience = scopes[0][: -len("/.default")] if scopes and scopes[0].endswith("/.default") else ""
    part = lambda o: base64.urlsafe_b64encode(json.dumps(o).encode()).rstrip(b"=").decode()
    claims = {"aud": audience, "oid": "conformance", "tid": "conformance", "exp": 4102444800}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.unsigned"


class FakeCredential:
    """Hands out unsigned tokens: the emulator accepts any bearer token."""

    def get_token(self, *scopes, **kwargs):
        return AccessToken(unsigned_jwt(scopes), 4102444800)

    def get_token_info(self, *scopes, options=None):
        return AccessTokenInfo(unsigned_jwt(scopes), 4102444800)


ml = MLClient(FakeCredential(), SUBSCRIPTION, "amlops-local", "local", enable_telemetry=False, show_progress=False)
results = []
facts = {}


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def step(name):
    def run(function):
        started = time.time()
        try:
            detail = function()
            results.append({"step": name, "ok": True, "detail": detail})
        except Exception as error:  # every failure is reported, then the next step runs
            results.append(
                {
                    "step": name,
                    "ok": False,
                    "error": f"{type(error).__name__}: {error}"[:1500],
                    "trace": traceback.format_exc(limit=-3)[-1500:],
                }
            )
        results[-1]["seconds"] = round(time.time() - started, 2)
        print(json.dumps(results[-1]), flush=True)
        return function

    return run


def text(value):
    """The value of an enum member (the SDK's statuses are str enums), or the value itself."""
    return getattr(value, "value", value)


def wait_for(job_name, statuses, seconds=120):
    deadline = time.time() + seconds
    seen = []
    while time.time() < deadline:
        status = text(ml.jobs.get(job_name).status)
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in statuses:
            return seen
        time.sleep(0.5)
    raise AssertionError(f"job {job_name} never reached {statuses}: {seen}")


@step("workspace get")
def _():
    workspace = ml.workspaces.get("local")
    check(workspace.name == "local", workspace.name)
    return workspace.id


@step("data create, get and list on datastore paths")
def _():
    created = [
        ml.data.create_or_update(Data(name="iris", version="1", type="uri_file", path=f"{DATASTORE}/iris/iris.csv")),
        ml.data.create_or_update(Data(name="iris", version="2", type="uri_file", path=f"{DATASTORE}/iris/iris-v2.csv")),
        ml.data.create_or_update(Data(name="images", version="1", type="uri_folder", path=f"{DATASTORE}/images/")),
        ml.data.create_or_update(Data(name="labels", version="1", type="uri_file", path=f"{DATASTORE}/labels.csv", tags={"team": "vision"})),
    ]
    check(all(d.id.endswith(f"/data/{d.name}/versions/{d.version}") for d in created), [d.id for d in created])
    iris = ml.data.get("iris", version="1")
    check(iris.path == f"{DATASTORE}/iris/iris.csv", iris.path)
    check(ml.data.get("images", version="1").type == "uri_folder", "type")
    check(ml.data.get("labels", version="1").tags == {"team": "vision"}, "tags")
    names = sorted(d.name for d in ml.data.list())
    check(names == ["images", "iris", "labels"], names)
    versions = sorted(d.version for d in ml.data.list(name="iris"))
    check(versions == ["1", "2"], versions)
    latest = ml.data.get("iris", label="latest")
    check(latest.version == "2", latest.version)
    return {"names": names, "iris versions": versions}


@step("environment create and get")
def _():
    conda = {"name": "job", "channels": ["conda-forge"], "dependencies": ["python=3.11", {"pip": ["pandas"]}]}
    created = ml.environments.create_or_update(
        Environment(name="pandas-env", version="1", image="mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04", conda_file=conda, description="conformance")
    )
    check(created.version == "1", created.version)
    read = ml.environments.get("pandas-env", version="1")
    check(read.image == "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04", read.image)
    check(read.conda_file == conda, read.conda_file)
    check(read.description == "conformance", read.description)
    return read.id


@step("command job with local code runs to a terminal state")
def _():
    code = os.path.join(WORKDIR, "src")
    os.makedirs(code, exist_ok=True)
    with open(os.path.join(code, "count.py"), "w") as script:
        script.write(
            "import sys\n"
            "rows = open(sys.argv[1]).read().splitlines()\n"
            "print(f'{sys.argv[2]} counted {len(rows)} rows')\n"
        )
    job = command(
        code=code,
        command="python count.py ${{inputs.table}} ${{inputs.greeting}}",
        inputs={"table": Input(type="uri_file", path="azureml:iris:1"), "greeting": "conformance"},
        environment="azureml:pandas-env:1",
        compute="cpu-cluster",
        display_name="conformance count",
        experiment_name="conformance",
    )
    submitted = ml.jobs.create_or_update(job)
    facts["job"] = submitted.name
    check(submitted.code is not None and "/codes/" in str(submitted.code), submitted.code)
    seen = wait_for(submitted.name, TERMINAL)
    check(seen[-1] == "Completed", seen)
    read = ml.jobs.get(submitted.name)
    check(read.display_name == "conformance count", read.display_name)
    check(read.experiment_name == "conformance", read.experiment_name)
    listed = [j.name for j in ml.jobs.list()]
    check(submitted.name in listed, listed)
    # The same code again is found by its hash: no second upload.
    again = ml.jobs.create_or_update(command(code=code, command="python count.py x y", environment="azureml:pandas-env:1", compute="cpu-cluster"))
    check(str(again.code) == str(read.code), (again.code, read.code))
    facts["second job"] = again.name
    return {"job": submitted.name, "statuses": seen}


@step("local data uploads through the storage proxy")
def _():
    # The SDK uploads local data to https://<account>.blob.<cloud storage suffix>. The
    # emulator's cloud metadata names a suffix that never resolves, and the emulator is the
    # HTTPS proxy that carries that one host to Azurite; everything else stays direct.
    saved = dict(os.environ)
    os.environ["ARM_CLOUD_METADATA_URL"] = f"{URL}/metadata/endpoints?api-version=2019-05-01"
    os.environ["AZUREML_CURRENT_CLOUD"] = "AmlopsEmulator"
    os.environ["HTTPS_PROXY"] = URL.replace("https://", "http://")
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    try:
        table = os.path.join(WORKDIR, "local-table.csv")
        with open(table, "w") as rows:
            rows.write("x\n1\n2\n3\n4\n5\n")
        created = ml.data.create_or_update(Data(name="local-table", version="1", type="uri_file", path=table))
        check(created.path.startswith(f"{DATASTORE}/LocalUpload/"), created.path)
        check(created.path.endswith("/local-table.csv"), created.path)
        read = ml.data.get("local-table", version="1")
        check(read.path == created.path, read.path)
        job = ml.jobs.create_or_update(
            command(
                command="python -c \"import sys; print('local counted', len(open(sys.argv[1]).read().splitlines()), 'rows')\" ${{inputs.table}}",
                inputs={"table": Input(type="uri_file", path="azureml:local-table:1")},
                environment="azureml:pandas-env:1",
                compute="cpu-cluster",
            )
        )
        facts["local data job"] = job.name
        seen = wait_for(job.name, TERMINAL)
        check(seen[-1] == "Completed", seen)
        return {"path": created.path, "job": job.name}
    finally:
        os.environ.clear()
        os.environ.update(saved)


@step("job cancel")
def _():
    job = ml.jobs.create_or_update(command(command="sleep 60", environment="azureml:pandas-env:1", compute="cpu-cluster"))
    wait_for(job.name, ("Running",) + TERMINAL)
    ml.jobs.begin_cancel(job.name).result()
    status = text(ml.jobs.get(job.name).status)
    check(status == "Canceled", status)
    return {"job": job.name, "status": status}


@step("compute create, get, update scale and delete")
def _():
    cluster = ml.compute.begin_create_or_update(
        AmlCompute(name="cpu-cluster", size="STANDARD_DS3_V2", min_instances=0, max_instances=2, idle_time_before_scale_down=120)
    ).result()
    check(text(cluster.provisioning_state) == "Succeeded", cluster.provisioning_state)
    read = ml.compute.get("cpu-cluster")
    check((read.size, read.min_instances, read.max_instances) == ("STANDARD_DS3_V2", 0, 2), (read.size, read.min_instances, read.max_instances))
    read.max_instances = 4
    updated = ml.compute.begin_update(read).result()
    check(updated.max_instances == 4, updated.max_instances)
    check(ml.compute.get("cpu-cluster").max_instances == 4, "scale read back")
    check("cpu-cluster" in [c.name for c in ml.compute.list()], "listed")
    ml.compute.begin_delete("cpu-cluster").result()
    try:
        ml.compute.get("cpu-cluster")
        raise AssertionError("the compute is still there")
    except ResourceNotFoundError:
        pass
    return {"max_instances": updated.max_instances}


@step("archive and restore")
def _():
    ml.data.archive("iris", version="2")
    check([d.version for d in ml.data.list(name="iris")] == ["1"], "iris 2 still listed")
    check(ml.data.get("iris", version="2").version == "2", "an archived version stays readable")
    ml.data.restore("iris", version="2")
    check(sorted(d.version for d in ml.data.list(name="iris")) == ["1", "2"], "iris 2 not restored")
    ml.environments.archive("pandas-env")
    check("pandas-env" not in [e.name for e in ml.environments.list()], "environment still listed")
    ml.environments.restore("pandas-env")
    check("pandas-env" in [e.name for e in ml.environments.list()], "environment not restored")
    return "ok"


@step("changing an existing version is refused")
def _():
    refused = []
    try:
        ml.data.create_or_update(Data(name="iris", version="1", type="uri_file", path=f"{DATASTORE}/elsewhere.csv"))
    except (ResourceExistsError, HttpResponseError) as error:
        refused.append(("data", getattr(error, "status_code", None)))
    try:
        ml.environments.create_or_update(Environment(name="pandas-env", version="1", image="python:3.12-slim"))
    except (ResourceExistsError, HttpResponseError) as error:
        refused.append(("environment", getattr(error, "status_code", None)))
    check(refused == [("data", 409), ("environment", 409)], refused)
    check(ml.data.get("iris", version="1").path == f"{DATASTORE}/iris/iris.csv", "data changed")
    check(ml.environments.get("pandas-env", version="1").image.startswith("mcr."), "environment changed")
    return refused


failed = [r["step"] for r in results if not r["ok"]]
print(json.dumps({"summary": {"steps": len(results), "failed": failed, "facts": facts}}), flush=True)
sys.exit(1 if failed else 0)
