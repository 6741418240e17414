"""Server time of the screens a person opens, on N demo clients (SQLite, encryption on).

    python bench/pages.py [--clients 10000] [--repeat 10]

Through the real app and its test client; prints the median time and the size
of each page.
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

PAGES = [
    "/clientmodelview/list/",
    "/clientmodelview/show/5",
    "/clientmodelview/edit/5",
    "/clientmodelview/add",
    "/contactpersonmodelview/list/",
    "/contactpersonmodelview/add?_flt_0_client=5",
    "/notemodelview/list/",
    "/subscriptionmodelview/list/",
    "/mailinglistmodelview/show/1",
    "/personal-data/",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=10)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as instance:
        app = build(instance, options.clients)
        client = signed_in(app)
        print(f"SQLite, {options.clients} clients, median of {options.repeat} requests")
        for url in PAGES:
            samples = []
            for _ in range(options.repeat):
                started = time.perf_counter()
                response = client.get(url)
                samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
            print(f"{url:46} {statistics.median(samples):7.1f} ms {len(response.data) // 1024:5d} KiB")


if __name__ == "__main__":
    main()
