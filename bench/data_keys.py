"""What a data key per client costs, and how long the key work takes.

    python bench/data_keys.py [--clients 100000] [--repeat 30] [--databases sqlite postgresql]

For each database (the key store beside it: a SQLite file, or a PostgreSQL
database of its own) it builds the dataset (bench/dataset.py, every client
under its own key), then:

1. turns every client's values back into what a database from before
   per-client keys held (one master key) and times the list page and the show
   page: today's single key;
2. runs the migration (``rotate``: every value under its client's key) and
   reports its rows a second;
3. times the same pages again: per-client keys (the ratio is the cost), with
   the process's key cache as it is, and emptied before every request (each
   page unwraps every key it needs);
4. adds a master key and re-wraps every data key (master-key rotation);
5. times erasures through the form.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.compare import (  # noqa: E402
    ADMIN_PASSWORD, POSTGRES, drop_postgres, erasures, fresh_postgres, percentile, sign_in, timed,
)


def pages(client, cards: list[int], repeat: int, cold: bool = False) -> dict[str, list[float]]:
    """List and show pages, warmed up first; ``cold`` empties the process's key cache before each request."""
    from crm.privacy.keystore import forget_unwrapped_keys

    def get(url):
        if cold:
            forget_unwrapped_keys()
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)

    for _warm in range(3):
        get("/clientmodelview/list/")
        get(f"/clientmodelview/show/{cards[0]}")
    found = {"list": [], "show": []}
    for number in range(repeat):
        found["list"].append(timed(lambda: get("/clientmodelview/list/"))[0])
        found["show"].append(timed(lambda: get(f"/clientmodelview/show/{cards[number % len(cards)]}"))[0])
    return found


def to_single_key(app, batch: int = 2000) -> int:
    """Re-encrypt every client value under the master key, without data keys (as before them); returns values."""
    import sqlalchemy as sa
    from flask_appbuilder import Model

    from crm.extensions import db
    from crm.privacy import subjects
    from crm.privacy.crypto import decrypt, encrypt
    from crm.privacy.rotation import _batches, encrypted_tables

    rewritten = 0
    with app.app_context():
        engine = db.engine
        for spec in encrypted_tables(Model.metadata):
            if subjects.spec_of(spec.table.name) is None:
                continue
            keys = list(spec.table.primary_key.columns)
            for rows in _batches(engine, spec, batch):
                with engine.begin() as writer:
                    for row in rows:
                        values = {
                            spec.table.c[name]: sa.type_coerce(encrypt(decrypt(row._mapping[name], context), context), sa.Text())
                            for name, context in spec.columns.items() if row._mapping[name] is not None
                        }
                        if values:
                            writer.execute(sa.update(spec.table).where(*(k == row._mapping[k.name] for k in keys)).values(values))
                            rewritten += len(values)
        with engine.begin() as writer:
            for table in ("client", "client_version"):
                writer.execute(sa.text(f"UPDATE {table} SET data_key_id = NULL"))
        from crm.privacy.keystore import key_store

        with key_store().engine.begin() as store:
            store.execute(sa.text("DELETE FROM data_key"))
    return rewritten


def settle(app) -> None:
    """After rewriting every row: PostgreSQL's dead rows vacuumed and statistics fresh, as on a settled base."""
    from crm.extensions import db

    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql("VACUUM ANALYZE")


def measure(database: str, key_store: str, clients: int, repeat: int) -> dict[str, list[float]]:
    from bench.dataset import generate
    from config import TEST_ENCRYPTION_KEYS
    from crm import create_app
    from crm.extensions import db
    from crm.privacy.keys import new_key_line, parse_keys
    from crm.privacy.keystore import key_store as bound_store
    from crm.privacy.rotation import count_rows, encrypted_tables, rotate

    from flask_appbuilder import Model

    with tempfile.TemporaryDirectory() as instance:
        settings = {
            "SQLALCHEMY_DATABASE_URI": database, "INSTANCE_PATH": instance, "CRM_KEY_STORE_URL": key_store,
            "CRM_ENCRYPTION_KEYS": TEST_ENCRYPTION_KEYS, "TESTING": False, "AUTH_RATE_LIMIT": "100000 per minute",
            "RATELIMIT_STORAGE_URI": "memory://",
        }
        app = create_app(settings)
        result = app.test_cli_runner().invoke(args=["crm", "init"], env={"CRM_ADMIN_PASSWORD": ADMIN_PASSWORD})
        assert result.exit_code == 0, result.output
        generate(app, clients, progress=lambda line: print(line, file=sys.stderr))
        cards = list(range(1, clients + 1, max(1, clients // repeat)))[:repeat]
        results: dict[str, list[float]] = {}

        print("  back to one master key...", file=sys.stderr)
        to_single_key(app)
        settle(app)
        client, _ = sign_in(app)
        for name, samples in pages(client, cards, repeat).items():
            results[f"{name}_single_key"] = samples

        print("  migrating to per-client keys...", file=sys.stderr)
        with app.app_context():
            specs = encrypted_tables(Model.metadata)
            rows = count_rows(db.engine, specs)
            began = time.perf_counter()
            rotate(db.engine, specs, parse_keys(TEST_ENCRYPTION_KEYS), batch_size=1000)
            results["migration_rows_per_s"] = [rows / (time.perf_counter() - began)]
        settle(app)
        client, _ = sign_in(app)
        for name, samples in pages(client, cards, repeat).items():
            results[f"{name}_data_keys"] = samples
        for name, samples in pages(client, cards, repeat, cold=True).items():
            results[f"{name}_data_keys_cold"] = samples

        print("  re-wrapping every data key under a new master key...", file=sys.stderr)
        ring = parse_keys(TEST_ENCRYPTION_KEYS + ";" + new_key_line("k9"))
        with app.app_context():
            store = bound_store()
            keys = store.count()
            began = time.perf_counter()
            rewrapped = store.rewrap(ring)
            results["rewrap_s"] = [time.perf_counter() - began]
            results["rewrapped"] = [rewrapped]
            assert rewrapped == keys, (rewrapped, keys)
            store.ring = ring

        print("  erasures...", file=sys.stderr)
        results["erase"] = erasures(client, [card + 1 for card in cards[:repeat]])
        return results


def report(kind: str, clients: int, results: dict[str, list[float]]) -> None:
    def median(name):
        return statistics.median(results[name])

    print(f"\n{kind}, {clients} clients (median / p95)")
    for page in ("list", "show"):
        single, own = median(f"{page}_single_key"), median(f"{page}_data_keys")
        cold = median(f"{page}_data_keys_cold")
        print(f"  {page} page: one master key {single:.1f} / {percentile(results[f'{page}_single_key'], 0.95):.1f} ms; "
              f"a key per client {own:.1f} / {percentile(results[f'{page}_data_keys'], 0.95):.1f} ms, "
              f"ratio {own / single:.2f}x (target <= 1.1x); with no key cached {cold:.1f} ms, {cold / single:.2f}x")
    print(f"  migration to per-client keys: {results['migration_rows_per_s'][0]:.0f} rows/s")
    print(f"  master-key rotation: {int(results['rewrapped'][0])} data keys re-wrapped in {results['rewrap_s'][0]:.1f} s "
          "(target < 30 s)")
    print(f"  erasure: {median('erase'):.1f} / {percentile(results['erase'], 0.95):.1f} ms (target < 200 ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--databases", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"])
    parser.add_argument("--postgres", default=POSTGRES, help="a PostgreSQL server's maintenance database URL")
    options = parser.parse_args()
    if len(options.databases) > 1:
        # one process a database: an app binds its keys and key store for the process
        for kind in options.databases:
            subprocess.run([sys.executable, __file__, "--clients", str(options.clients), "--repeat", str(options.repeat),
                            "--postgres", options.postgres, "--databases", kind], check=True)
        return
    for kind in options.databases:
        print(f"{kind}: building {options.clients} clients...", file=sys.stderr)
        if kind == "sqlite":
            with tempfile.TemporaryDirectory() as folder:
                results = measure(f"sqlite:///{folder}/kartoteka.db", f"sqlite:///{folder}/keystore.db",
                                  options.clients, options.repeat)
        else:
            names = ("kartoteka_bench_keys_main", "kartoteka_bench_keys_store")
            try:
                results = measure(fresh_postgres(options.postgres, names[0]), fresh_postgres(options.postgres, names[1]),
                                  options.clients, options.repeat)
            finally:
                for name in names:
                    drop_postgres(options.postgres, name)
        report(kind, options.clients, results)


if __name__ == "__main__":
    main()
