"""Does the time of a refused login tell why it was refused?

    python bench/login_timing.py [--repeat 60]

Times the login form POST (server side, through the test client) for a wrong
password, an unknown user name, a locked account and a success; prints median
and p95. Lockout is raised to 10,000 attempts here so that the wrong-password
series does not lock its account half-way.
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

from bench.encryption import ADMIN_PASSWORD  # noqa: E402

PASSWORD = "Zielony-Kot-Pije-Mleko-2026"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=60)
    options = parser.parse_args()
    from config import TEST_ENCRYPTION_KEYS
    from crm import create_app

    with tempfile.TemporaryDirectory() as instance:
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance}/bench.db",
                "INSTANCE_PATH": instance,
                "CRM_ENCRYPTION_KEYS": TEST_ENCRYPTION_KEYS,
                "AUTH_RATE_LIMIT": "100000 per minute",
                "CRM_LOCKOUT_ATTEMPTS": 10_000,
            }
        )
        app.test_cli_runner().invoke(args=["crm", "init"], env={"CRM_ADMIN_PASSWORD": ADMIN_PASSWORD})
        from crm.extensions import appbuilder, db
        from crm.security import lockout

        with app.app_context():
            for name in ("bench_user", "locked_user"):
                appbuilder.sm.add_user(name, "Bench", "User", f"{name}@kartoteka.invalid", appbuilder.sm.find_role("Auditor"),
                                       password=PASSWORD, must_change_password=False)
            lockout.lock(db.session, appbuilder.sm.find_user(username="locked_user").id)
            db.session.remove()

        def attempt(username, password):
            client = app.test_client()
            client.environ_base.update({"wsgi.url_scheme": "https", "HTTP_REFERER": "https://localhost/"})
            token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get("/login/").text).group(1)
            started = time.perf_counter()
            client.post("/login/", data={"username": username, "password": password, "csrf_token": token})
            return (time.perf_counter() - started) * 1000

        cases = {
            "wrong password": ("bench_user", "wrong-password-123"),
            "unknown user": ("no_such_user", "wrong-password-123"),
            "locked account": ("locked_user", PASSWORD),
            "success": ("bench_user", PASSWORD),
        }
        print(f"login form POST, SQLite, {options.repeat} attempts each; milliseconds")
        print(f"{'case':16} {'median':>8} {'p95':>8}")
        samples = {name: [] for name in cases}
        for _ in range(options.repeat):  # interleaved, so drift hits every case alike
            for name, (username, password) in cases.items():
                samples[name].append(attempt(username, password))
        for name, values in samples.items():
            ordered = sorted(values)
            print(f"{name:16} {statistics.median(values):8.1f} {ordered[int(0.95 * (len(ordered) - 1))]:8.1f}")


if __name__ == "__main__":
    main()
