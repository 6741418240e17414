"""Cost of masking: the client list and a card for a role that sees personal data masked, and one that does not.

    python bench/masking.py [--clients 10000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.encryption import build, signed_in  # noqa: E402
from bench.history import percentile  # noqa: E402

STAFF_PASSWORD = "Zielony-Kot-Pije-Mleko-2026"


def staff_client(app, role: str):
    """A signed-in client of a new account with this role."""
    from crm.extensions import appbuilder, db

    username = role.lower().replace(" ", "_")
    with app.app_context():
        appbuilder.sm.add_user(username, "Pomiar", role, f"{username}@bench.invalid", appbuilder.sm.find_role(role),
                               password=STAFF_PASSWORD, must_change_password=False)
        db.session.remove()
    return signed_in(app, username, STAFF_PASSWORD)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as instance:
        app = build(instance, options.clients)
        print(f"SQLite, {options.clients} clients, {options.repeat} requests each")
        for role in ("Manager", "Auditor"):
            client = staff_client(app, role)
            for url in ("/clientmodelview/list/", "/clientmodelview/show/5"):
                samples = []
                for _ in range(options.repeat):
                    began = time.perf_counter()
                    response = client.get(url)
                    samples.append((time.perf_counter() - began) * 1000)
                assert response.status_code == 200, (role, url, response.status_code)
                shown = "masked" if "***" in response.text else "clear"
                print(f"{role:8} {shown:6} {url:26} median {statistics.median(samples):6.1f} ms"
                      f"   p95 {percentile(samples, 0.95):6.1f} ms")


if __name__ == "__main__":
    main()
