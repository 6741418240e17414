"""The REST API answers as its OpenAPI document says: schemathesis, every check, against a live server.

A server (gunicorn, as the README deploys it) on a fresh database with demo
clients; schemathesis reads ``/api/v1/_openapi`` with a token and runs all its
checks (server errors, status codes, content types, response schemas, schema-
valid requests accepted and schema-violating ones refused, undeclared methods,
missing or invalid authentication...) as an administrator, as an auditor (who
sees personal data masked and may change nothing), and on the sign-in endpoints
with an account of its own (its wrong passwords lock only that account).
The number of failures must be 0. The custom formats ``nip`` and ``pesel``
get their generators from ``tests/openapi_formats.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from config import TEST_ENCRYPTION_KEYS
from tests.conftest import ADMIN_PASSWORD, STAFF_PASSWORD
from tests.test_scale_out import free_port

PROJECT = Path(__file__).resolve().parent.parent
#: enough examples per operation to reach every branch of the bodies, within about a minute a run
MAX_EXAMPLES = "60"
#: a fixed seed: the same cases on every run of one commit, so that a failure reproduces
SEED = "20261202"
ACCOUNTS = {"audytor_api": "Auditor", "logowanie_api": "Back office"}
CONFIG = Path(__file__).resolve().parent / "schemathesis.toml"


class Server:
    """Kartoteka under gunicorn on a fresh database of the run's kind."""

    def __init__(self, databases, folder: Path):
        self.folder = folder
        self.env = {
            **{name: value for name, value in os.environ.items() if not name.startswith(("TEST_", "FLASK_"))},
            "DATABASE_URL": databases.new(),
            "SECRET_KEY": "openapi-conformance-secret-key-0123456789abcdef",
            "CRM_ENCRYPTION_KEYS": TEST_ENCRYPTION_KEYS,
            "INSTANCE_PATH": str(folder / "instance"),
            "RATELIMIT_STORAGE_URI": os.environ.get("TEST_RATELIMIT_STORAGE_URI", "memory://"),
            "RATELIMIT_KEY_PREFIX": f"openapi-{os.getpid()}",
            # schemathesis sends thousands of requests: the limits would answer 429 (documented) instead of testing
            "CRM_API_READ_RATE_LIMIT": "100000 per minute",
            "AUTH_RATE_LIMIT": "100000 per minute",
            "WEB_CONCURRENCY": "1",
            "PYTHONPATH": str(PROJECT),
        }
        self.flask("crm", "init", env={"CRM_ADMIN_PASSWORD": ADMIN_PASSWORD})
        self.flask("crm", "demo", "--clients", "30")
        script = (
            "from crm import create_app\n"
            "app = create_app()\n"
            "with app.app_context():\n"
            "    sm = app.appbuilder.sm\n"
            f"    for name, role in {ACCOUNTS!r}.items():\n"
            "        sm.add_user(name, 'Test', 'API', name + '@kartoteka.invalid', sm.find_role(role),\n"
            f"                    password={STAFF_PASSWORD!r}, must_change_password=False)\n"
        )
        subprocess.run([sys.executable, "-c", script], cwd=PROJECT, env=self.env, check=True, timeout=120)
        self.port = free_port()
        self.log = open(folder / "server.log", "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:crm.gunicorn_config", "app:app"],
            cwd=PROJECT, env={**self.env, "KARTOTEKA_BIND": f"127.0.0.1:{self.port}"},
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (folder / "server.log").read_text()[-3000:]
            try:
                if requests.get(f"{self.base}/login/", timeout=5).status_code == 200:
                    return
            except requests.ConnectionError:
                time.sleep(0.3)
        pytest.fail("the server did not answer in 60 s")

    def flask(self, *args, env=None):
        result = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "app", *args], cwd=PROJECT, env={**self.env, **(env or {})},
            capture_output=True, text=True, timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr

    def token(self, username: str, password: str) -> str:
        response = requests.post(f"{self.base}/api/v1/security/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def schemathesis(self, token: str, *selection: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run", f"{self.base}/api/v1/_openapi",
             "--header", f"Authorization: Bearer {token}", "--checks", "all", "--max-examples", MAX_EXAMPLES,
             "--seed", SEED, "--workers", "1", "--no-color", *selection],
            cwd=PROJECT, env={**self.env, "SCHEMATHESIS_HOOKS": "tests.openapi_formats"},
            capture_output=True, text=True, timeout=900,
        )

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@pytest.fixture(scope="module")
def server(databases, tmp_path_factory):
    running = Server(databases, tmp_path_factory.mktemp("openapi"))
    yield running
    running.stop()


def _verdict(result: subprocess.CompletedProcess) -> str:
    """schemathesis's report from its first failure on (with how to reproduce each)."""
    report = result.stdout
    start = report.find("= FAILURES =")
    return (report[start:] if start >= 0 else report)[:12000] + result.stderr[-2000:]


@pytest.mark.parametrize(("username", "password"), [("admin", ADMIN_PASSWORD), ("audytor_api", STAFF_PASSWORD)],
                         ids=["administrator", "auditor"])
def test_every_operation_answers_as_documented(server, username, password):
    result = server.schemathesis(server.token(username, password), "--exclude-path-regex", "/security/")
    assert result.returncode == 0, _verdict(result)
    assert " passed" in result.stdout and "failures" not in result.stdout.split("Test cases:")[-1], _verdict(result)


def test_the_sign_in_answers_as_documented(server):
    result = server.schemathesis(server.token("logowanie_api", STAFF_PASSWORD), "--include-path-regex", "/security/")
    assert result.returncode == 0, _verdict(result)
