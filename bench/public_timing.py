"""Does the time of the public request form tell whether an email address is held?

    python bench/public_timing.py [--repeat 60] [--clients 2000]

Times the form's POST (server side, through the test client) for an address
held on a card and one held nowhere, interleaved; prints median and p95. No
SMTP server is configured, so the message is not sent in either case (sending
is the same work for both: the form never looks at the client base).
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=60)
    parser.add_argument("--clients", type=int, default=2000)
    options = parser.parse_args()
    from bench.dataset import generate
    from config import TEST_ENCRYPTION_KEYS
    from crm import create_app

    with tempfile.TemporaryDirectory() as instance:
        app = create_app({
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance}/bench.db", "INSTANCE_PATH": instance,
            "CRM_ENCRYPTION_KEYS": TEST_ENCRYPTION_KEYS, "CRM_PUBLIC_RATE_LIMIT": "100000 per minute",
            "CRM_PUBLIC_MESSAGES_PER_ADDRESS": "100000 per minute",
        })
        app.test_cli_runner().invoke(args=["crm", "init"], env={"CRM_ADMIN_PASSWORD": ADMIN_PASSWORD})
        generate(app, options.clients, progress=lambda line: None)
        from crm.clients.models import Client
        from crm.extensions import db

        with app.app_context():
            held = db.session.scalars(db.select(Client).where(Client.email_bidx.is_not(None)).limit(1)).one().email
            db.session.remove()

        def attempt(email):
            client = app.test_client()
            client.environ_base.update({"wsgi.url_scheme": "https", "HTTP_REFERER": "https://localhost/"})
            token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get("/privacy/request").text).group(1)
            started = time.perf_counter()
            response = client.post("/privacy/request", data={"kind": "access", "email": email, "csrf_token": token})
            assert response.status_code == 200, response.status_code
            return (time.perf_counter() - started) * 1000

        cases = {"held address": held, "address held nowhere": "nikt.taki@nieznana-firma.pl"}
        print(f"public request form POST, SQLite, {options.clients} clients, {options.repeat} posts each; milliseconds")
        print(f"{'case':22} {'median':>8} {'p95':>8}")
        samples = {name: [] for name in cases}
        for number in range(options.repeat):
            # interleaved, the first place alternating: drift and the first post's warm-up hit both alike
            for name, email in (list(cases.items()) if number % 2 == 0 else list(cases.items())[::-1]):
                samples[name].append(attempt(email))
        for name, values in samples.items():
            ordered = sorted(values)
            print(f"{name:22} {statistics.median(values):8.1f} {ordered[int(0.95 * (len(ordered) - 1))]:8.1f}")


if __name__ == "__main__":
    main()
