"""Cost of encryption at rest: the client list page and a client save, on and off.

    python bench/encryption.py [--clients 10000] [--repeat 60]

Builds two SQLite databases of N demo clients each, one as Kartoteka stores them
(AES-GCM ciphertext, blind and word indexes) and one with encryption switched
off in this process only (values stored as written), then times, through the
real app and its test client (no network): the list page (25 rows, the
default), the list page of 100 rows, and an edit-form save. Prints the median
and p95 of each, and the ratio on/off.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ADMIN_PASSWORD = "Pomiarowy-Tramwaj-Jedzie-Przez-Most-2026"


def percentile(samples, share):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def switch_encryption_off():
    """Store values as written: the same code path minus AES-GCM (bench only)."""
    import crm.privacy.types as types

    types.encrypt = lambda plaintext, context: plaintext
    types.decrypt = lambda stored, context: stored


def build(instance: str, clients: int):
    from config import TEST_ENCRYPTION_KEYS
    from crm import create_app

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance}/bench.db",
            "INSTANCE_PATH": instance,
            "CRM_ENCRYPTION_KEYS": TEST_ENCRYPTION_KEYS,
            "TESTING": False,
        }
    )
    runner = app.test_cli_runner()
    assert runner.invoke(args=["crm", "init"], env={"CRM_ADMIN_PASSWORD": ADMIN_PASSWORD}).exit_code == 0
    result = runner.invoke(args=["crm", "demo", "--clients", str(clients)])
    assert result.exit_code == 0, result.output
    return app


CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def signed_in(app, username: str = "admin", password: str = ADMIN_PASSWORD):
    """A test client over HTTPS, signed in through the real login form."""
    client = app.test_client()
    client.environ_base.update({"wsgi.url_scheme": "https", "HTTP_REFERER": "https://localhost/"})
    token = CSRF_INPUT.search(client.get("/login/").text).group(1)
    client.post("/login/", data={"username": username, "password": password, "csrf_token": token})
    return client


def timed(function, repeat):
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def measure(app, repeat):
    client = signed_in(app)

    def list_page(size):
        response = client.get(f"/clientmodelview/list/?psize_ClientModelView={size}")
        assert response.status_code == 200

    edit_url = "/clientmodelview/edit/1"

    def save():
        form_page = client.get(edit_url).text
        fields = dict(re.findall(r'<input[^>]*name="([a-z_]+)"[^>]*value="([^"]*)"', form_page))
        selects = dict(re.findall(r'<select[^>]*name="([a-z_]+)"[^>]*>.*?<option selected value="([^"]*)"', form_page, re.S))
        fields.update(selects)
        fields["remarks"] = f"bench {time.perf_counter()}"
        started = time.perf_counter()
        response = client.post(edit_url, data=fields)
        assert response.status_code == 302, response.status_code
        return (time.perf_counter() - started) * 1000

    list_page(25)  # warm caches
    return {
        "list page, 25 rows": timed(lambda: list_page(25), repeat),
        "list page, 100 rows": timed(lambda: list_page(100), repeat),
        "save client (POST edit)": [save() for _ in range(repeat)],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=60)
    parser.add_argument("--encryption", choices=["on", "off"], help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.encryption:
        # one configuration per process: the app and its mappers are process-wide
        if options.encryption == "off":
            switch_encryption_off()
        with tempfile.TemporaryDirectory() as instance:
            app = build(instance, options.clients)
            for name, samples in measure(app, options.repeat).items():
                print(f"{name}\t{statistics.median(samples):.2f}\t{percentile(samples, 0.95):.2f}")
        return
    import subprocess

    results = {}
    for mode in ("on", "off"):
        output = subprocess.run(
            [sys.executable, __file__, "--clients", str(options.clients), "--repeat", str(options.repeat), "--encryption", mode],
            check=True, capture_output=True, text=True,
        ).stdout
        results[mode] = {line.split("\t")[0]: tuple(map(float, line.split("\t")[1:])) for line in output.strip().splitlines()}
    print(f"SQLite, {options.clients} clients, {options.repeat} runs each; milliseconds")
    print(f"{'operation':28} {'on median':>10} {'on p95':>8} {'off median':>11} {'off p95':>8} {'ratio':>6}")
    for name, (median_on, p95_on) in results["on"].items():
        median_off, p95_off = results["off"][name]
        print(f"{name:28} {median_on:10.2f} {p95_on:8.2f} {median_off:11.2f} {p95_off:8.2f} {median_on / median_off:6.2f}")


if __name__ == "__main__":
    main()
