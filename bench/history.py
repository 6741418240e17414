"""History of a card with many versions: timeline page and a diff of two far-apart versions.

    python bench/history.py [--versions 5000] [--clients 1000] [--repeat 20]

Embedded default (SQLite file, encryption on). One card gets N versions (its
client row, a contact person and a note changed in turn, one transaction each),
among other demo clients; the timeline's first and last pages and a comparison
of the first and last versions are timed through the real app (median, p95).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.encryption import build, signed_in  # noqa: E402


def make_versions(app, count: int) -> int:
    """A new card changed ``count - 1`` times; returns its id."""
    from crm.clients.models import Client, ContactPerson, Note
    from crm.extensions import db

    with app.app_context():
        client = Client(kind="company", company_name="Hurtownia Wersji", city="Łódź", email="wersje@hurtownia.pl")
        client.contacts.append(ContactPerson(first_name="Wera", last_name="Wersja"))
        client.notes.append(Note(kind="note", occurred_on=date(2026, 1, 1), text="Pierwsza wersja notatki"))
        db.session.add(client)
        db.session.commit()
        for number in range(1, count):
            if number % 3 == 0:
                client.contacts[0].position = f"Stanowisko {number}"
            elif number % 3 == 1:
                client.remarks = f"Uwagi w wersji {number}: klient prosi o kontakt po południu"
            else:
                client.notes[0].text = f"Notatka w wersji {number}"
            db.session.commit()
        card = client.id
        db.session.remove()
    return card


def percentile(samples, share):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=20)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as instance:
        app = build(instance, options.clients)
        started = time.perf_counter()
        card = make_versions(app, options.versions)
        print(f"{options.versions} versions written in {time.perf_counter() - started:.1f} s")
        client = signed_in(app)
        first_page = client.get(f"/history/client/{card}/").text
        newest = max(int(v) for v in re.findall(r'name="older" value="(\d+)"', first_page))
        pages = int(re.search(r"Strona 1 z (\d+)", first_page).group(1))
        oldest = min(int(v) for v in re.findall(r'name="older" value="(\d+)"', client.get(f"/history/client/{card}/?page={pages - 1}").text))
        urls = {
            "timeline, newest page": f"/history/client/{card}/",
            "timeline, oldest page": f"/history/client/{card}/?page={pages - 1}",
            "diff first vs last version": f"/history/client/{card}/compare?older={oldest}&newer={newest}",
            "card (show)": f"/clientmodelview/show/{card}",
        }
        print(f"SQLite, {options.clients} other clients, card with {options.versions} versions, {options.repeat} requests")
        for label, url in urls.items():
            samples = []
            for _ in range(options.repeat):
                began = time.perf_counter()
                response = client.get(url)
                samples.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200, (url, response.status_code)
            print(f"{label:30} median {statistics.median(samples):7.1f} ms   p95 {percentile(samples, 0.95):7.1f} ms")


if __name__ == "__main__":
    main()
