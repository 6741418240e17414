"""Import throughput: rows per second from CSV, checked and written with encryption and versioning.

    python bench/imports.py [--rows 10000]

Embedded default (SQLite file). A CSV of realistic Polish clients (valid NIP
and PESEL, two attributes, one of them personal) goes through the same path as
the import screen and `flask crm import`: read, check every row, write.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.encryption import build  # noqa: E402


def make_csv(rows: int, seed: int = 2018) -> bytes:
    from crm.demo import client_values

    rng = random.Random(seed)
    fields = ["kind", "company_name", "first_name", "last_name", "email", "phone", "street", "postal_code", "city", "nip", "pesel"]
    lines = [";".join(fields + ["Branża", "Prywatny telefon"])]
    for _ in range(rows):
        values = client_values(rng)
        lines.append(";".join([str(values.get(name) or "") for name in fields]
                              + [rng.choice(["IT", "Handel", "Produkcja"]), f"+48 5{rng.randint(0, 10**8 - 1):08d}"]))
    return "\n".join(lines).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as instance:
        app = build(instance, 10)
        from crm.attributes.models import AttributeDefinition
        from crm.extensions import db
        from crm.imports import service
        from crm.imports.reader import read_table

        with app.app_context():
            db.session.add_all([
                AttributeDefinition(key="branza", label_pl="Branża", label_en="Sector", kind="choice",
                                    choices="IT\nHandel\nProdukcja"),
                AttributeDefinition(key="prywatny_telefon", label_pl="Prywatny telefon", label_en="Private phone",
                                    kind="phone", personal=True),
            ])
            db.session.commit()
            data = make_csv(options.rows)
            started = time.perf_counter()
            table = read_table("bench.csv", data, 100 * 1024 * 1024)
            mapping = service.guess_mapping(table.headers, db.session)
            checks = service.check_rows(db.session, table.rows, mapping, confirmed_new_basis=False, confirmed_duplicates=False)
            checked = time.perf_counter()
            bad = sum(1 for check in checks if check.errors)
            written, _skipped = service.write(db.session, checks, skip_bad=True)
            db.session.commit()
            done = time.perf_counter()
        print(f"SQLite, {options.rows} rows ({len(data) // 1024} KiB), {bad} refused by the rules")
        print(f"read and check   {checked - started:6.2f} s  {options.rows / (checked - started):8.0f} rows/s")
        print(f"write            {done - checked:6.2f} s  {written / (done - checked):8.0f} rows/s")
        print(f"whole import     {done - started:6.2f} s  {written / (done - started):8.0f} rows/s")


if __name__ == "__main__":
    main()
