"""Time ``flask crm demo --clients N`` on a fresh database.

    python bench/demo_load.py --clients 10000 [--database-url postgresql+psycopg://...]

Runs the real command in a subprocess (migrations and roles first, untimed) and
prints the wall-clock time of the load and clients per second.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.encryption import ADMIN_PASSWORD  # noqa: E402
from crm.privacy.keys import write_new_key_file  # noqa: E402


def flask(args, env):
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--database-url", help="an empty database; default: a new SQLite file")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as instance:
        write_new_key_file(Path(instance) / "encryption.keys")
        env = {
            **os.environ,
            "INSTANCE_PATH": instance,
            "SECRET_KEY": "bench-secret-key-0123456789abcdef0123456789",
            "CRM_ADMIN_PASSWORD": ADMIN_PASSWORD,
        }
        if options.database_url:
            env["DATABASE_URL"] = options.database_url
        flask(["crm", "init"], env)
        started = time.perf_counter()
        flask(["crm", "demo", "--clients", str(options.clients)], env)
        elapsed = time.perf_counter() - started
    database = "PostgreSQL" if options.database_url else "SQLite"
    print(f"demo load, {database}: {options.clients} clients in {elapsed:.1f} s ({options.clients / elapsed:.0f} clients/s)")


if __name__ == "__main__":
    main()
