"""Export and erasure of a client with 100 versions, in a base of N clients (embedded default).

    python bench/gdpr.py [--clients 10000] [--versions 100] [--repeat 10]

Builds N demo clients (encrypted, versioned), then ``repeat`` clients each
changed until it has ``versions`` versions (client row, contact, note in turn).
Times, through the real screens, the export download of each and then its
erasure (preview page and the confirmed POST), and prints median and p95.
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

from bench.encryption import build, signed_in  # noqa: E402
from bench.history import make_versions, percentile  # noqa: E402


def timed(samples, call):
    began = time.perf_counter()
    response = call()
    samples.append((time.perf_counter() - began) * 1000)
    return response


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--versions", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=10)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as instance:
        started = time.perf_counter()
        app = build(instance, options.clients)
        cards = [make_versions(app, options.versions) for _ in range(options.repeat)]
        print(f"built {options.clients} clients and {options.repeat} cards of {options.versions} versions "
              f"in {time.perf_counter() - started:.0f} s")
        client = signed_in(app)
        exports, previews, erasures = [], [], []
        for card in cards:
            form_token = re.search(r'name="csrf_token" value="([^"]+)"', client.get(f"/gdpr/client/{card}/export").text).group(1)
            response = timed(exports, lambda: client.post(
                f"/gdpr/client/{card}/export", data={"csrf_token": form_token, "reason": REASON}))
            assert response.status_code == 200 and len(response.data) > 1000
        for card in cards:
            page = timed(previews, lambda: client.get(f"/gdpr/client/{card}/erase"))
            form_token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
            response = timed(erasures, lambda: client.post(
                f"/gdpr/client/{card}/erase", data={"csrf_token": form_token, "confirm": str(card), "reason": REASON}
            ))
            assert response.status_code == 302, response.status_code
        print(f"SQLite, {options.clients} clients, cards of {options.versions} versions, {options.repeat} each")
        for label, samples in (("export (ZIP download)", exports), ("erasure preview", previews), ("erasure", erasures)):
            print(f"{label:24} median {statistics.median(samples):7.1f} ms   p95 {percentile(samples, 0.95):7.1f} ms")


#: exports and erasures name a request or a reason
REASON = "Pomiar wydajności (benchmark)"


if __name__ == "__main__":
    main()
