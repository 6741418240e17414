"""What recording every opening of a person's data costs, and how fast the officer's questions are answered.

    python bench/read_log.py [--clients 20000] [--log 500000] [--repeat 40] [--databases sqlite postgresql]

For each database it builds the dataset (bench/dataset.py), then times the
list page and the show page with the read-access log off (the recording
calls made no-ops, as before the log existed) and on, in alternating rounds so
that both sides see the same machine. It then fills the log with ``--log``
records (each naming one to 25 cards, as show and list pages do) and times
the officer's screen: who opened one card, and what one account opened.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.compare import ADMIN_PASSWORD, POSTGRES, drop_postgres, fresh_postgres, percentile, sign_in, timed  # noqa: E402


@contextmanager
def log_off():
    """The recording calls as no-ops: pages do what they did before the log existed."""
    from crm.accountability import reads

    saved = reads.note, reads.note_rows, reads.note_item
    reads.note = reads.note_rows = reads.note_item = lambda *args, **kwargs: None
    try:
        yield
    finally:
        reads.note, reads.note_rows, reads.note_item = saved


def pages(client, cards: list[int], repeat: int) -> dict[str, list[float]]:
    """List and show pages, off and on in alternating rounds (after a warm-up of each)."""

    def get(url):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)

    for _warm in range(3):
        for off in (True, False):
            with log_off() if off else _nothing():
                get("/clientmodelview/list/")
                get(f"/clientmodelview/show/{cards[0]}")
    found = {"list_off": [], "list_on": [], "show_off": [], "show_on": []}
    for number in range(repeat):
        card = cards[number % len(cards)]
        for off in ((True, False) if number % 2 == 0 else (False, True)):
            side = "off" if off else "on"
            with log_off() if off else _nothing():
                found[f"list_{side}"].append(timed(lambda: get("/clientmodelview/list/"))[0])
                found[f"show_{side}"].append(timed(lambda: get(f"/clientmodelview/show/{card}"))[0])
    return found


@contextmanager
def _nothing():
    yield


def fill_log(app, clients: int, records: int, seed: int = 2018, batch: int = 5000) -> int:
    """Write ``records`` read records over the last year, by the admin, naming 1 (a card) to 25 (a list) cards."""
    from sqlalchemy import insert

    from crm.accountability.models import ReadAccess, ReadAccessCard
    from crm.extensions import db

    rng = random.Random(seed)
    now = datetime(2026, 12, 1)
    with app.app_context():
        links = 0
        for start in range(0, records, batch):
            rows, shown_per_row = [], []
            for _number in range(start, min(records, start + batch)):
                listed = rng.random() < 0.4
                shown = rng.sample(range(1, clients + 1), 25) if listed else [rng.randint(1, clients)]
                rows.append({"occurred_at": now - timedelta(seconds=rng.randint(0, 365 * 86400)),
                             "user_id": 1, "roles": '["Administrator"]', "kind": "list" if listed else "card",
                             "place": "ClientModelView.list" if listed else "ClientModelView.show",
                             "masked": False, "card_count": len(shown), "ip_address": "127.0.0.1"})
                shown_per_row.append(shown)
            ids = db.session.scalars(insert(ReadAccess).returning(ReadAccess.id, sort_by_parameter_order=True), rows).all()
            cards = [{"read_id": read_id, "client_id": card} for read_id, shown in zip(ids, shown_per_row) for card in shown]
            db.session.execute(insert(ReadAccessCard.__table__), cards)
            db.session.commit()
            links += len(cards)
        if db.engine.dialect.name == "postgresql":
            # statistics as autovacuum would have them on a log that grew over a year
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql("ANALYZE read_access, read_access_card")
    return links


def measure(database: str, key_store: str, clients: int, log: int, repeat: int) -> dict[str, list[float]]:
    from bench.dataset import generate
    from config import TEST_ENCRYPTION_KEYS
    from crm import create_app

    with tempfile.TemporaryDirectory() as instance:
        app = create_app({
            "SQLALCHEMY_DATABASE_URI": database, "INSTANCE_PATH": instance, "CRM_KEY_STORE_URL": key_store,
            "CRM_ENCRYPTION_KEYS": TEST_ENCRYPTION_KEYS, "TESTING": False, "AUTH_RATE_LIMIT": "100000 per minute",
            "RATELIMIT_STORAGE_URI": "memory://",
        })
        result = app.test_cli_runner().invoke(args=["crm", "init"], env={"CRM_ADMIN_PASSWORD": ADMIN_PASSWORD})
        assert result.exit_code == 0, result.output
        generate(app, clients, progress=lambda line: print(line, file=sys.stderr))
        cards = list(range(1, clients + 1, max(1, clients // repeat)))[:repeat]
        client, _ = sign_in(app)
        results = pages(client, cards, repeat)
        report_pages(database.split(":", 1)[0].split("+")[0], clients, results)
        print(f"  filling the log with {log} records...", file=sys.stderr)
        results["links"] = [fill_log(app, clients, log)]
        for name, url in (("by_card", "/reads/?card={card}"), ("by_account_day", "/reads/?user=1&since=2026-06-01&until=2026-06-01"),
                          ("by_account_all", "/reads/?user=1")):
            results[name] = [timed(lambda: client.get(url.format(card=card)))[0] for card in cards]
        return results


def report_pages(kind: str, clients: int, results: dict[str, list[float]]) -> None:
    """The pages' figures, printed as soon as they are measured (filling a large log takes a while)."""
    def median(name):
        return statistics.median(results[name])

    print(f"\n{kind}, {clients} clients (median / p95)", flush=True)
    for page in ("list", "show"):
        off, on = median(f"{page}_off"), median(f"{page}_on")
        print(f"  {page} page: log off {off:.1f} / {percentile(results[f'{page}_off'], 0.95):.1f} ms; "
              f"log on {on:.1f} / {percentile(results[f'{page}_on'], 0.95):.1f} ms; ratio {on / off:.2f}x (target <= 1.1x)",
              flush=True)


def report(log: int, results: dict[str, list[float]]) -> None:
    def median(name):
        return statistics.median(results[name])

    print(f"  the officer's screen over {log} records ({int(results['links'][0])} card links):")
    for name, label in (("by_card", "who opened a card"), ("by_account_day", "what an account opened on one day"),
                        ("by_account_all", "what an account opened, newest page of all")):
        print(f"    {label}: {median(name):.1f} / {percentile(results[name], 0.95):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20_000)
    parser.add_argument("--log", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--databases", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"])
    parser.add_argument("--postgres", default=POSTGRES, help="a PostgreSQL server's maintenance database URL")
    options = parser.parse_args()
    if len(options.databases) > 1:
        # one process a database: an app binds its keys and key store for the process
        for kind in options.databases:
            subprocess.run([sys.executable, __file__, "--clients", str(options.clients), "--log", str(options.log),
                            "--repeat", str(options.repeat), "--postgres", options.postgres, "--databases", kind], check=True)
        return
    kind = options.databases[0]
    print(f"{kind}: building {options.clients} clients...", file=sys.stderr)
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            results = measure(f"sqlite:///{folder}/kartoteka.db", f"sqlite:///{folder}/keystore.db",
                              options.clients, options.log, options.repeat)
    else:
        names = ("kartoteka_bench_reads_main", "kartoteka_bench_reads_store")
        try:
            results = measure(fresh_postgres(options.postgres, names[0]), fresh_postgres(options.postgres, names[1]),
                              options.clients, options.log, options.repeat)
        finally:
            for name in names:
                drop_postgres(options.postgres, name)
    report(options.log, results)


if __name__ == "__main__":
    main()
