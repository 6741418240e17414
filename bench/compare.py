"""What Kartoteka's protection costs, against a bare Flask-AppBuilder app on the same data.

    python bench/compare.py [--clients 100000] [--small 10000] [--repeat 30]
                            [--databases sqlite postgresql] [--postgres URL]

For each database: builds the dataset (bench/dataset.py) for Kartoteka and for
the baseline (bench/baseline), then times each operation through the real app
and its test client, signed in through the real login form, and prints one
table: median and p95 server time, Kartoteka and baseline, and their ratio.
Erasure is timed again on a base of ``--small`` clients, for the 100k/10k ratio.
Each app runs in a process of its own (both declare a ``client`` table).
PostgreSQL databases are created fresh and dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ADMIN_PASSWORD = "Pomiarowy-Tramwaj-Jedzie-Przez-Most-2026"
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
#: (key, label, unit, target) in the order of the table; every p95 within 2x its median
OPERATIONS = [
    ("list", "list page (25 rows)", "ms", "<= 1.1x"),
    ("search_email", "search by email", "ms", "<= 1.1x"),
    ("search_word", "search by a word of the name", "ms", "<= 1.2x"),
    ("box_word", "search box: a whole word", "ms", "<= 1.3x word search"),
    ("box_start", "search box: a word's first 3 letters", "ms", "<= 1.3x word search"),
    ("show", "show card", "ms", "<= 1.15x"),
    ("save", "save card (edit form POST)", "ms", "<= 1.5x"),
    ("history", "history page", "ms", ""),
    ("diff", "diff of two versions", "ms", ""),
    ("export", "GDPR export (ZIP)", "ms", "< 200 ms"),
    ("erase", "erasure", "ms", "< 200 ms"),
    ("erase_small", "erasure at the small base", "ms", "100k <= 1.2x"),
    ("import", "import throughput", "rows/s", ">= 2000/s SQLite, 3000/s PostgreSQL"),
    ("login", "login (form POST)", "ms", ""),
]


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def timed(call) -> tuple[float, object]:
    began = time.perf_counter()
    result = call()
    return (time.perf_counter() - began) * 1000, result


def https_client(app):
    client = app.test_client()
    client.environ_base.update({"wsgi.url_scheme": "https", "HTTP_REFERER": "https://localhost/"})
    return client


def sign_in(app, username="admin", password=ADMIN_PASSWORD):
    """A client signed in through the login form; returns (client, milliseconds of the POST)."""
    client = https_client(app)
    token = CSRF.search(client.get("/login/").text).group(1)
    elapsed, response = timed(lambda: client.post(
        "/login/", data={"username": username, "password": password, "csrf_token": token}))
    assert response.status_code == 302, ("login", response.status_code)
    return client, elapsed


def form_fields(html: str) -> dict:
    """The values an edit form would post back as shown."""
    fields = dict(re.findall(r'<input[^>]*name="([a-z_]+)"[^>]*value="([^"]*)"', html))
    fields.update(re.findall(r'<select[^>]*name="([a-z_]+)"[^>]*>.*?<option selected value="([^"]*)"', html, re.S))
    fields.update(re.findall(r'<textarea[^>]*name="([a-z_]+)"[^>]*>([^<]*)</textarea>', html))
    return fields


def sample_ops(client, repeat: int, cards: list[int], *, search) -> dict[str, list[float]]:
    """The operations both apps have: list, searches, show, save, login."""
    results: dict[str, list[float]] = {key: [] for key in ("list", "search_email", "search_word", "show", "save")}

    def get(url):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return response

    for _warm in range(2):
        get("/clientmodelview/list/")
        get(f"/clientmodelview/show/{cards[0]}")
    for number in range(repeat):
        card = cards[number % len(cards)]
        results["list"].append(timed(lambda: get("/clientmodelview/list/"))[0])
        results["show"].append(timed(lambda: get(f"/clientmodelview/show/{card}"))[0])
        results["search_email"].append(search("email", card))
        results["search_word"].append(search("word", card))
        fields = form_fields(get(f"/clientmodelview/edit/{card}").text)
        fields["remarks"] = f"Zmiana pomiarowa {number}"
        elapsed, response = timed(lambda: client.post(f"/clientmodelview/edit/{card}", data=fields))
        assert response.status_code == 302, ("save", response.status_code, response.text[:2000])
        results["save"].append(elapsed)
    return results


# ---------------------------------------------------------------- Kartoteka


def kartoteka_app(database: str, instance: str):
    from config import TEST_ENCRYPTION_KEYS
    from crm import create_app

    app = create_app({
        "SQLALCHEMY_DATABASE_URI": database,
        "INSTANCE_PATH": instance,
        "CRM_ENCRYPTION_KEYS": TEST_ENCRYPTION_KEYS,
        "TESTING": False,
        "AUTH_RATE_LIMIT": "100000 per minute",
        "RATELIMIT_STORAGE_URI": "memory://",
    })
    result = app.test_cli_runner().invoke(args=["crm", "init"], env={"CRM_ADMIN_PASSWORD": ADMIN_PASSWORD})
    assert result.exit_code == 0, result.output
    return app


def kartoteka_side(database: str, clients: int, repeat: int, erase_only: bool) -> dict:
    from bench.dataset import generate

    with tempfile.TemporaryDirectory() as instance:
        app = kartoteka_app(database, instance)
        began = time.perf_counter()
        generate(app, clients, progress=lambda line: print(line, file=sys.stderr))
        built = time.perf_counter() - began
        client, _ = sign_in(app)
        rng = random.Random(7)
        cards = rng.sample(range(1, clients + 1), repeat * 2)
        results: dict[str, list[float]] = {"build_s": [built]}
        if not erase_only:
            results.update(kartoteka_reads(app, client, repeat, cards[:repeat]))
            results["import"] = [import_rate(app)]
        results["erase_small" if erase_only else "erase"] = erasures(client, cards[repeat:])
        return results


def kartoteka_reads(app, client, repeat: int, cards: list[int]) -> dict[str, list[float]]:
    from crm.extensions import db
    from crm.clients.models import Client

    with app.app_context():
        emails = {card: db.session.get(Client, card).email for card in cards}
        db.session.remove()
    words = {card: "Tęcza" for card in cards}

    def search(kind, card):
        if kind == "email":
            return posted_search({"_flt_0_email": emails[card]})
        return posted_search({"_flt_0_company_name": words[card]})

    def posted_search(form):
        listing = client.get("/clientmodelview/list/")
        form["csrf_token"] = CSRF.search(listing.text).group(1)

        def post_and_follow():
            redirect = client.post("/clientmodelview/search", data=form)
            assert redirect.status_code == 302, ("search", redirect.status_code)
            response = client.get(redirect.headers["Location"])
            assert response.status_code == 200 and "/clientmodelview/show/" in response.text
            return response

        return timed(post_and_follow)[0]

    results = sample_ops(client, repeat, cards, search=search)
    results["box_word"] = [posted_search({"_flt_0_word_index": "Tęcza"}) for _ in cards]
    results["box_start"] = [posted_search({"_flt_0_word_index": "Tęc"}) for _ in cards]
    results.update({"history": [], "diff": [], "export": [], "login": []})
    for card in cards:
        elapsed, page = timed(lambda: client.get(f"/history/client/{card}/"))
        assert page.status_code == 200
        results["history"].append(elapsed)
        versions = sorted(int(v) for v in re.findall(r'name="older" value="(\d+)"', page.text))
        url = f"/history/client/{card}/compare?older={versions[0]}&newer={versions[-1]}"
        elapsed, response = timed(lambda: client.get(url))
        assert response.status_code == 200, (url, response.status_code)
        results["diff"].append(elapsed)
        token = CSRF.search(client.get(f"/gdpr/client/{card}/export").text).group(1)
        elapsed, response = timed(lambda: client.post(
            f"/gdpr/client/{card}/export", data={"csrf_token": token, "reason": BENCH_REASON}))
        assert response.status_code == 200 and response.data[:2] == b"PK"
        results["export"].append(elapsed)
        results["login"].append(sign_in(app)[1])
    return results


#: exports and erasures name a request or a reason
BENCH_REASON = "Pomiar wydajności (benchmark)"


def erasures(client, cards: list[int]) -> list[float]:
    samples = []
    for card in cards:
        preview = client.get(f"/gdpr/client/{card}/erase")
        token = CSRF.search(preview.text).group(1)
        elapsed, response = timed(lambda: client.post(
            f"/gdpr/client/{card}/erase", data={"csrf_token": token, "confirm": str(card), "reason": BENCH_REASON}))
        assert response.status_code == 302, ("erase", response.status_code)
        samples.append(elapsed)
    return samples


def import_rate(app, rows: int = 5000) -> float:
    """Rows per second through the import service (read, check, write), into the full base.

    Generated rows may repeat a NIP or email of the base: those are marked as duplicates and
    skipped, as an import does unless confirmed; every row is read and checked, so all count.
    """
    from bench.imports import make_csv
    from crm.extensions import db
    from crm.imports import service
    from crm.imports.reader import read_table

    data = make_csv(rows, seed=99)
    with app.app_context():
        began = time.perf_counter()
        table = read_table("bench.csv", data, 100 * 1024 * 1024)
        checks = service.check_rows(db.session, table.rows, service.guess_mapping(table.headers, db.session),
                                    confirmed_new_basis=False, confirmed_duplicates=False)
        written, skipped = service.write(db.session, checks, skip_bad=True)
        db.session.commit()
        elapsed = time.perf_counter() - began
        db.session.remove()
    assert written + skipped == rows and written > rows // 2, (written, skipped)
    print(f"import: {written} rows written, {skipped} marked (duplicates of the base)", file=sys.stderr)
    return rows / elapsed


# ----------------------------------------------------------------- baseline


def baseline_side(database: str, clients: int, repeat: int) -> dict:
    from bench.baseline.app import Client, appbuilder, create_app, db
    from bench.dataset import generate_plain

    app = create_app(database)
    with app.app_context():
        appbuilder.sm.add_user("admin", "Admin", "Bench", "admin@baseline.invalid",
                               appbuilder.sm.find_role("Admin"), password=ADMIN_PASSWORD)
        began = time.perf_counter()
        generate_plain(db.engine, clients, progress=lambda line: print(line, file=sys.stderr))
        built = time.perf_counter() - began
        cards = random.Random(7).sample(range(1, clients + 1), repeat * 2)[:repeat]
        emails = {card: db.session.get(Client, card).email for card in cards}
        db.session.remove()
    client, _ = sign_in(app)

    def search(kind, card):
        # FAB's filters in the address: "equal to" is filter 3, "contains" is 2
        url = f"/clientmodelview/list/?_flt_3_email={emails[card]}" if kind == "email" \
            else "/clientmodelview/list/?_flt_2_company_name=Tęcza"
        elapsed, response = timed(lambda: client.get(url))
        assert response.status_code == 200 and "/clientmodelview/show/" in response.text
        return elapsed

    results = sample_ops(client, repeat, cards, search=search)
    results["login"] = [sign_in(app)[1] for _ in range(repeat)]
    results["build_s"] = [built]
    return results


# ------------------------------------------------------------------ the run


def fresh_postgres(server: str, name: str) -> str:
    import sqlalchemy as sa

    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server.rsplit("/", 1)[0] + "/" + name


def drop_postgres(server: str, name: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def run_side(side: str, database: str, clients: int, repeat: int) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--side", side, "--database", database,
         "--clients", str(clients), "--repeat", str(repeat)],
        check=True, stdout=subprocess.PIPE, text=True,
    ).stdout
    return json.loads(output)


def measure_database(kind: str, options) -> dict[str, dict]:
    with tempfile.TemporaryDirectory() as folder:
        def database(name):
            if kind == "sqlite":
                return f"sqlite:///{folder}/{name}.db"
            return fresh_postgres(options.postgres, f"kartoteka_bench_{name}")

        names = ["kartoteka", "small", "baseline"]
        try:
            print(f"{kind}: building {options.clients} clients for Kartoteka...", file=sys.stderr)
            kartoteka = run_side("kartoteka", database("kartoteka"), options.clients, options.repeat)
            print(f"{kind}: {options.small} clients for the erasure ratio...", file=sys.stderr)
            small = run_side("small", database("small"), options.small, options.repeat)
            print(f"{kind}: {options.clients} clients for the baseline...", file=sys.stderr)
            baseline = run_side("baseline", database("baseline"), options.clients, options.repeat)
        finally:
            if kind == "postgresql":
                for name in names:
                    drop_postgres(options.postgres, f"kartoteka_bench_{name}")
    kartoteka["erase_small"] = small["erase_small"]
    return {"kartoteka": kartoteka, "baseline": baseline}


def print_table(kind: str, clients: int, small: int, results: dict[str, dict]) -> None:
    ours, theirs = results["kartoteka"], results["baseline"]
    print(f"\n{kind}: {clients} clients (erasure also at {small}); dataset built in "
          f"{ours['build_s'][0]:.0f} s (Kartoteka), {theirs['build_s'][0]:.0f} s (baseline)")
    print(f"{'operation':32} {'Kartoteka':>9} {'p95':>8} {'baseline':>9} {'p95':>8} {'ratio':>6}  target")
    for key, label, unit, target in OPERATIONS:
        samples = ours.get(key)
        if not samples:
            continue
        if unit == "rows/s":
            print(f"{label:32} {samples[0]:7.0f}/s {'':8} {'—':>9} {'':8} {'':6}  {target}")
            continue
        line = f"{label:32} {statistics.median(samples):6.1f} ms {percentile(samples, 0.95):5.1f} ms"
        if key in theirs:
            base = theirs[key]
            ratio = statistics.median(samples) / statistics.median(base)
            line += f" {statistics.median(base):6.1f} ms {percentile(base, 0.95):5.1f} ms {ratio:5.2f}x"
        elif key.startswith("box_"):
            line += f" {'':9} {'':8} {statistics.median(samples) / statistics.median(ours['search_word']):5.2f}x"
        elif key == "erase_small":
            line += f" {'':9} {'':8} {statistics.median(ours['erase']) / statistics.median(samples):5.2f}x"
        else:
            line += f" {'—':>9} {'':8} {'':6}"
        print(f"{line}  {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--databases", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"])
    parser.add_argument("--postgres", default=POSTGRES, help="a PostgreSQL server's maintenance database URL")
    parser.add_argument("--side", choices=["kartoteka", "small", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.side:
        if options.side == "baseline":
            results = baseline_side(options.database, options.clients, options.repeat)
        else:
            results = kartoteka_side(options.database, options.clients, options.repeat, options.side == "small")
        print(json.dumps(results))
        return
    print(f"Kartoteka against bare Flask-AppBuilder; server time through the test client, "
          f"{options.repeat} requests per operation")
    for kind in options.databases:
        if kind == "postgresql" and not postgres_reachable(options.postgres):
            print(f"\npostgresql: no server answers at {options.postgres}; give --postgres URL, "
                  "or --databases sqlite to measure the embedded default only")
            continue
        print_table(kind, options.clients, options.small, measure_database(kind, options))


def postgres_reachable(server: str) -> bool:
    import sqlalchemy as sa

    engine = sa.create_engine(server)
    try:
        with engine.connect():
            return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
