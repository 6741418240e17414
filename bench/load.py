"""Many staff at once: Kartoteka under gunicorn against the bare FAB baseline under the same load.

    python bench/load.py [--clients 20000] [--staff 50] [--seconds 120] [--think 5.0]
                         [--databases sqlite postgresql] [--postgres URL] [--redis URL]

For each database and each app: builds the dataset (bench/dataset.py), serves it
with gunicorn over TLS on loopback (crm/gunicorn_config.py for both apps: one
worker process with 8 threads on SQLite, the embedded default being one process;
two processes with 4 threads each on PostgreSQL, Kartoteka's rate limits in
Redis), signs ``--staff`` people in through the login form (one account: the
permission checks cost the same) and lets each work for ``--seconds``: list
(30%), search by email (10%) and by a word of the name (10%), show card (30%),
save card (10%: the edit form, then its POST), history (10%; the baseline has
none and shows a card instead), waiting 0.5 to 1.5 x ``--think`` seconds between
steps. Prints requests a second, median and p95 per operation and overall, as
the simulated people saw them (client side, TLS included), and errors: any
answer but the expected one, or none within 30 seconds.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import requests
import urllib3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.compare import ADMIN_PASSWORD, POSTGRES, drop_postgres, form_fields, fresh_postgres, percentile  # noqa: E402

PROJECT = Path(__file__).resolve().parent.parent
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
#: (operation, share of the steps)
MIX = [("list", 30), ("search_email", 10), ("search_word", 10), ("show", 30), ("save", 10), ("history", 10)]
WORD = "Tęcza"
TIMEOUT = 30
SECRET_KEY = "load-benchmark-only-0123456789-0123456789"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run(command: list[str], env: dict) -> None:
    result = subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")


# ------------------------------------------------------------------ building


def build_kartoteka(env: dict, clients: int) -> None:
    run([sys.executable, "-m", "flask", "--app", "app", "crm", "init"], {**env, "CRM_ADMIN_PASSWORD": ADMIN_PASSWORD})
    run([sys.executable, __file__, "--build", "kartoteka", "--clients", str(clients)], env)


def build_baseline(env: dict, database: str, clients: int) -> None:
    run([sys.executable, __file__, "--build", "baseline", "--database", database, "--clients", str(clients)], env)


def build_here(side: str, clients: int, database: str | None) -> None:
    """Run in a process of its own: both apps declare a ``client`` table."""
    from bench.dataset import generate, generate_plain

    quiet = lambda line: None  # noqa: E731
    if side == "kartoteka":
        from app import app

        generate(app, clients, progress=quiet)
        return
    from bench.baseline.app import appbuilder, create_app, db

    app = create_app(database)
    with app.app_context():
        appbuilder.sm.add_user("admin", "Admin", "Bench", "admin@baseline.invalid",
                               appbuilder.sm.find_role("Admin"), password=ADMIN_PASSWORD)
        generate_plain(db.engine, clients, progress=quiet)


# ------------------------------------------------------------------ serving


class Server:
    """gunicorn over TLS on a free loopback port; stopped with the ``with`` block."""

    def __init__(self, app_spec: str, env: dict, workers: int, threads: int, tls: Path, log: Path):
        self.base = f"https://127.0.0.1:{free_port()}"
        self.env = {**env, "KARTOTEKA_BIND": self.base.removeprefix("https://"), "WEB_CONCURRENCY": str(workers),
                    "KARTOTEKA_THREADS": str(threads), "KARTOTEKA_CERTFILE": str(tls / "cert.pem"),
                    "KARTOTEKA_KEYFILE": str(tls / "key.pem"), "KARTOTEKA_LOG_LEVEL": "warning"}
        self.app_spec, self.log = app_spec, log

    def __enter__(self) -> "Server":
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:crm.gunicorn_config", "--access-logfile", "/dev/null",
             self.app_spec], cwd=PROJECT, env=self.env, stdout=subprocess.DEVNULL, stderr=self.log.open("w"))
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{self.base}/login/", verify=False, timeout=5).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{self.app_spec} did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.5)

    def __exit__(self, *exc) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


# ------------------------------------------------------------------ the people


class Person(threading.Thread):
    """One member of staff: signs in, then works through the mix until the end."""

    def __init__(self, base: str, kind: str, cards: list[int], emails: dict[int, str], until: float, think: float,
                 seed: int, results: dict, errors: list, lock: threading.Lock):
        super().__init__(daemon=True)
        self.base, self.kind, self.cards, self.emails = base, kind, cards, emails
        self.until, self.think, self.rng = until, think, random.Random(seed)
        self.results, self.errors, self.lock = results, errors, lock
        self.browser = requests.Session()
        self.token = ""
        self.browser.headers["Referer"] = base + "/"  # as a browser sends it: CSRF on HTTPS checks it

    def request(self, method: str, path: str, expect, **options) -> requests.Response | None:
        try:
            # verify per request: a session's own setting gives way to REQUESTS_CA_BUNDLE
            response = self.browser.request(method, self.base + path, timeout=TIMEOUT, allow_redirects=False,
                                             verify=False, **options)
        except requests.RequestException as error:
            self.fail(f"{method} {path}: {type(error).__name__}")
            return None
        if response.status_code not in ((expect,) if isinstance(expect, int) else expect):
            self.fail(f"{method} {path}: {response.status_code}")
            return None
        token = CSRF.search(response.text)
        if token:
            # the last page's form token, as the search box on it would post (valid for the session)
            self.token = token.group(1)
        return response

    def fail(self, what: str) -> None:
        with self.lock:
            self.errors.append(what)

    def sign_in(self) -> bool:
        page = self.request("GET", "/login/", 200)
        if page is None:
            return False
        signed_in = self.request("POST", "/login/", 302, data={
            "username": "admin", "password": ADMIN_PASSWORD, "csrf_token": self.token}) is not None
        # the first page after signing in gives the session's form token
        return signed_in and self.request("GET", "/clientmodelview/list/", 200) is not None

    def step(self, operation: str) -> bool:
        card = self.rng.choice(self.cards)
        if operation == "list":
            return self.request("GET", "/clientmodelview/list/", 200) is not None
        if operation == "show" or (operation == "history" and self.kind == "baseline"):
            return self.request("GET", f"/clientmodelview/show/{card}", 200) is not None
        if operation == "history":
            return self.request("GET", f"/history/client/{card}/", 200) is not None
        if operation.startswith("search"):
            return self.search(operation, card)
        form = self.request("GET", f"/clientmodelview/edit/{card}", 200)
        if form is None:
            return False
        fields = form_fields(form.text)
        fields["remarks"] = f"Rozmowa {self.rng.randrange(10**6)}"
        # another person may have saved this card in between: the conflict is the right answer then
        return self.request("POST", f"/clientmodelview/edit/{card}", (302, 409), data=fields) is not None

    def search(self, operation: str, card: int) -> bool:
        if self.kind == "baseline":
            query = f"_flt_3_email={self.emails[card]}" if operation == "search_email" else f"_flt_2_company_name={WORD}"
            return self.request("GET", f"/clientmodelview/list/?{query}", 200) is not None
        form = {"csrf_token": self.token}
        if operation == "search_email":
            form["_flt_0_email"] = self.emails[card]
        else:
            form["_flt_0_company_name"] = WORD
        moved = self.request("POST", "/clientmodelview/search", 302, data=form)
        return moved is not None and self.request("GET", moved.headers["Location"].removeprefix(self.base), 200) \
            is not None

    def run(self) -> None:
        if not self.sign_in():
            return
        operations, weights = zip(*MIX)
        while time.monotonic() < self.until:
            time.sleep(self.rng.uniform(0.5, 1.5) * self.think)
            operation = self.rng.choices(operations, weights)[0]
            began = time.perf_counter()
            if self.step(operation):
                with self.lock:
                    self.results[operation].append((time.perf_counter() - began) * 1000)


def emails_of(kind: str, env: dict, database: str, cards: list[int]) -> dict[int, str]:
    """The email of each sampled card (Kartoteka's are sealed: read through the app)."""
    script = (
        "import json,sys\n"
        "ids=json.loads(sys.argv[1])\n"
        + ("from app import app\nfrom crm.extensions import db\nfrom crm.clients.models import Client\n"
           "with app.app_context(): print(json.dumps({i: db.session.get(Client, i).email for i in ids}))\n"
           if kind == "kartoteka" else
           "import sqlalchemy as sa\nengine=sa.create_engine(sys.argv[2])\n"
           "with engine.connect() as c: print(json.dumps({i: c.execute(sa.text('select email from client where id=:i'),"
           " {'i': i}).scalar() for i in ids}))\n")
    )
    import json

    output = subprocess.run([sys.executable, "-c", script, json.dumps(cards), database], cwd=PROJECT, env=env,
                            capture_output=True, text=True, check=True).stdout
    return {int(key): value for key, value in json.loads(output).items()}


def load(server: Server, kind: str, env: dict, database: str, options) -> dict:
    cards = random.Random(11).sample(range(1, options.clients + 1), 500)
    emails = emails_of(kind, env, database, cards)
    results: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    lock = threading.Lock()
    began = time.monotonic()
    until = began + options.seconds
    people = [Person(server.base, kind, cards, emails, until, options.think, seed, results, errors, lock)
              for seed in range(options.staff)]
    for person in people:
        person.start()
        time.sleep(options.think / options.staff)  # people arrive over one think time, not at one instant
    for person in people:
        person.join(timeout=options.seconds + 2 * TIMEOUT)
    elapsed = time.monotonic() - began
    return {"results": dict(results), "errors": errors, "seconds": elapsed}


# ------------------------------------------------------------------ the run


def measure(kind: str, options, folder: Path, tls: Path) -> dict[str, dict]:
    from config import TEST_ENCRYPTION_KEYS

    measured = {}
    for side in ("kartoteka", "baseline"):
        name = f"kartoteka_load_{side}"
        database = f"sqlite:///{folder}/{side}.db" if kind == "sqlite" else fresh_postgres(options.postgres, name)
        env = {name: value for name, value in os.environ.items() if not name.startswith(("TEST_", "FLASK_"))}
        env.update({"DATABASE_URL": database, "SECRET_KEY": SECRET_KEY,
                    "CRM_ENCRYPTION_KEYS": TEST_ENCRYPTION_KEYS, "INSTANCE_PATH": str(folder / f"instance-{side}"),
                    "AUTH_RATE_LIMIT": "100000 per minute", "CRM_QUEUE_URL": "immediate://",
                    "RATELIMIT_STORAGE_URI": options.redis if kind == "postgresql" else "memory://",
                    "RATELIMIT_KEY_PREFIX": f"load-{os.getpid()}-{time.time_ns()}"})
        try:
            print(f"{kind}: building {options.clients} clients for {side}...", file=sys.stderr)
            if side == "kartoteka":
                build_kartoteka(env, options.clients)
                spec = "app:app"
            else:
                build_baseline(env, database, options.clients)
                spec = f"bench.baseline.app:create_app({database!r})"
            workers, threads = (1, 8) if kind == "sqlite" else (2, 4)
            print(f"{kind}: {options.staff} people on {side} for {options.seconds} s...", file=sys.stderr)
            log = folder / f"{kind}-{side}-server.log"
            with Server(spec, env, workers, threads, tls, log) as server:
                measured[side] = load(server, side, env, database, options)
            if measured[side]["errors"]:
                # what the server said about them, for the reader of the table
                print(f"{kind}: {side}'s server log, last lines:\n{log.read_text()[-3000:]}", file=sys.stderr)
        finally:
            if kind == "postgresql":
                drop_postgres(options.postgres, name)
    return measured


def print_table(kind: str, options, measured: dict[str, dict]) -> None:
    ours, theirs = measured["kartoteka"], measured["baseline"]
    print(f"\n{kind}: {options.staff} people, {options.seconds} s, think time {options.think} s, "
          f"{options.clients} clients")
    print(f"{'':22} {'Kartoteka':>28}   {'baseline':>28}")
    print(f"{'operation':22} {'count':>7} {'median':>9} {'p95':>10}   {'count':>7} {'median':>9} {'p95':>10}")
    for operation, _share in [("all", 0), *MIX]:
        cells = []
        for side in (ours, theirs):
            samples = [value for values in side["results"].values() for value in values] if operation == "all" \
                else side["results"].get(operation, [])
            if samples:
                cells.append(f"{len(samples):7d} {statistics.median(samples):6.1f} ms {percentile(samples, 0.95):7.1f} ms")
            else:
                cells.append(f"{'—':>7} {'':9} {'':10}")
        print(f"{operation:22} {cells[0]}   {cells[1]}")
    for label, side in (("Kartoteka", ours), ("baseline", theirs)):
        total = sum(len(values) for values in side["results"].values())
        kinds = Counter(re.sub(r"\?\S*:", ":", re.sub(r"/\d+", "/N", error)) for error in side["errors"]).most_common(3)
        print(f"{label}: {total / side['seconds']:.1f} steps a second, errors: {len(side['errors'])}"
              + (" (" + "; ".join(f"{count} x {kind}" for kind, count in kinds) + ")" if kinds else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20_000)
    parser.add_argument("--staff", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--think", type=float, default=5.0, help="mean seconds a person reads a page before the next step")
    parser.add_argument("--databases", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"])
    parser.add_argument("--postgres", default=POSTGRES, help="a PostgreSQL server's maintenance database URL")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="Redis for the rate limits on PostgreSQL")
    parser.add_argument("--build", choices=["kartoteka", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.build:
        build_here(options.build, options.clients, options.database)
        return
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    with tempfile.TemporaryDirectory() as folder:
        tls = Path(folder) / "tls"
        from config import TEST_ENCRYPTION_KEYS

        run([sys.executable, "-m", "flask", "--app", "app", "crm", "tls-cert", "--out", str(tls)],
            {**os.environ, "INSTANCE_PATH": str(Path(folder) / "instance-tls"), "SECRET_KEY": SECRET_KEY,
             "CRM_ENCRYPTION_KEYS": TEST_ENCRYPTION_KEYS, "DATABASE_URL": f"sqlite:///{folder}/tls.db"})
        for kind in options.databases:
            print_table(kind, options, measure(kind, options, Path(folder), tls))


if __name__ == "__main__":
    main()
