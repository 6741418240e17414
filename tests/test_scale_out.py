"""Scale-out: real gunicorn servers (two workers each) on one PostgreSQL database and one Redis.

Each test starts its own servers from ``crm/gunicorn_config.py`` over HTTPS, on
a fresh database initialised by ``flask crm init`` and ``flask crm demo``, and
talks to them as browsers do (cookies, CSRF tokens, no redirects followed
unless said). The fault tests put a TCP proxy between the server and
PostgreSQL that cuts every connection the moment a chosen statement passes
and refuses new ones until the database is "back".

These promises belong to the PostgreSQL-and-Redis deployment: the suite's
PostgreSQL run (``make test-postgres``, the second half of ``.ci/run``) runs
them; on the embedded default (SQLite, in-memory limiter: one process by
design) they are reported as skipped with that reason.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from flask_babel import force_locale
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from config import TEST_ENCRYPTION_KEYS
from crm.errors import UNAVAILABLE_MESSAGE
from crm.locking import CONFLICT_MESSAGE
from tests.conftest import ADMIN_PASSWORD, CSRF_INPUT, unique
from tests.test_clients_forms import edit_form_data

POSTGRES = os.environ.get("TEST_DATABASE_URL", "")
REDIS = os.environ.get("TEST_RATELIMIT_STORAGE_URI", "")
PROJECT = Path(__file__).resolve().parent.parent
pytestmark = [
    pytest.mark.skipif(
        not (POSTGRES.startswith("postgresql") and REDIS.startswith("redis")),
        reason="scale-out runs on PostgreSQL and Redis (make test-postgres sets TEST_DATABASE_URL and TEST_RATELIMIT_STORAGE_URI)",
    ),
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]
WRONG = "wrong-password-123"


def polish(message) -> str:
    from flask import current_app

    with current_app.test_request_context(), force_locale("pl"):
        return str(message)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    """Kartoteka servers on one fresh PostgreSQL database (a copy of ``template``) and one Redis."""

    def __init__(self, databases, template: "Template", folder: Path, **settings):
        self.database = databases.new(template=template.database)
        # a copy of the key store with the copy of the database: an erasure in one cluster destroys keys in its own
        key_store = databases.new(template=template.env["CRM_KEY_STORE_URL"])
        self.folder = folder
        folder.mkdir()
        self.env = {**template.env, "DATABASE_URL": self.database, "CRM_KEY_STORE_URL": key_store,
                    "RATELIMIT_KEY_PREFIX": unique("scale-out-"), "CRM_QUEUE_NAME": unique("scale-out-"), **settings}
        self.servers: list[tuple[subprocess.Popen, str]] = []
        self.workers: list[subprocess.Popen] = []
        self.engine = create_engine(self.database)

    def start(self, count: int = 2, database: str | None = None) -> list[str]:
        """Start ``count`` servers (optionally on another URL of the database); returns their addresses."""
        for _ in range(count):
            port = free_port()
            log = open(self.folder / f"server-{port}.log", "w")
            env = {**self.env, "KARTOTEKA_BIND": f"127.0.0.1:{port}", "DATABASE_URL": database or self.database}
            process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "python:crm.gunicorn_config", "app:app"],
                cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
            self.servers.append((process, f"https://127.0.0.1:{port}"))
        for process, base in self.servers[-count:]:
            self._wait_until_up(process, base)
        return [base for _, base in self.servers[-count:]]

    def start_workers(self, count: int = 2) -> None:
        """Start ``count`` job workers (``flask crm worker``) on the cluster's queue."""
        for number in range(count):
            log = open(self.folder / f"worker-{len(self.workers)}.log", "w")
            self.workers.append(subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "app", "crm", "worker", "--workers", "1"],
                cwd=PROJECT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            ))

    def _wait_until_up(self, process, base):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"server {base} exited: {self.logs()}")
            try:
                if requests.get(f"{base}/login/", verify=False, timeout=5).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        pytest.fail(f"server {base} did not answer in 60 s: {self.logs()}")

    def logs(self) -> str:
        return "\n".join(path.read_text()[-3000:] for path in self.folder.glob("server-*.log"))

    def browser(self, base: str) -> requests.Session:
        """A browser's session pointed at one server (same-origin Referer, as Flask-WTF wants over HTTPS)."""
        session = requests.Session()
        # TLS as deployed, with the self-signed certificate of `flask crm tls-cert`; the
        # server's identity is not what these tests are about.
        session.verify = False
        session.trust_env = False  # REQUESTS_CA_BUNDLE or a proxy setting of the machine would override the above
        session.headers["Referer"] = f"{base}/"
        session.base = base
        return session

    def query(self, sql: str, **params):
        with self.engine.connect() as connection:
            return connection.execute(text(sql), params).all()

    def stop(self):
        for process, _ in self.servers:
            process.send_signal(signal.SIGINT)  # gunicorn's quick shutdown
        for process in self.workers:
            process.terminate()
        for process in [*(process for process, _ in self.servers), *self.workers]:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        self.engine.dispose()


class Template:
    """A database initialised once (``flask crm init``, 30 demo clients) that every cluster copies."""

    def __init__(self, databases, folder: Path):
        self.database = databases.new()
        instance = folder / "instance"
        self.env = {
            **{name: value for name, value in os.environ.items() if not name.startswith(("TEST_", "FLASK_"))},
            "DATABASE_URL": self.database,
            "SECRET_KEY": "scale-out-secret-key-the-same-on-every-server-0123456789",
            "CRM_ENCRYPTION_KEYS": TEST_ENCRYPTION_KEYS,
            "INSTANCE_PATH": str(instance),
            # the key store in a PostgreSQL database of its own, as scale-out deploys it
            "CRM_KEY_STORE_URL": databases.new(),
            "RATELIMIT_STORAGE_URI": REDIS,
            "KARTOTEKA_CERTFILE": str(instance / "tls" / "cert.pem"),
            "KARTOTEKA_KEYFILE": str(instance / "tls" / "key.pem"),
            "WEB_CONCURRENCY": "2",
            "KARTOTEKA_THREADS": "2",
        }
        self.flask("crm", "init", env={"CRM_ADMIN_PASSWORD": ADMIN_PASSWORD})
        self.flask("crm", "demo", "--clients", "30")
        self.flask("crm", "tls-cert", "--out", str(instance / "tls"))

    def flask(self, *args, env=None):
        result = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "app", *args], cwd=PROJECT, env={**self.env, **(env or {})},
            capture_output=True, text=True, timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def template(databases, tmp_path_factory):
    return Template(databases, tmp_path_factory.mktemp("scale-out"))


@pytest.fixture()
def cluster(databases, template, tmp_path, app):
    started = []

    def make(**settings) -> Cluster:
        started.append(Cluster(databases, template, tmp_path / f"cluster{len(started)}", **settings))
        return started[-1]

    with app.app_context():
        yield make
    for each in started:
        each.stop()


def log_in(browser, username="admin", password=ADMIN_PASSWORD) -> requests.Response:
    page = browser.get(f"{browser.base}/login/")
    assert page.status_code == 200, page.status_code
    token = CSRF_INPUT.search(page.text).group(1)
    return browser.post(
        f"{browser.base}/login/", data={"username": username, "password": password, "csrf_token": token},
        allow_redirects=False,
    )


def edit_form(browser, card: int) -> dict:
    """The edit form's values as a browser would post them back unchanged."""
    page = browser.get(f"{browser.base}/clientmodelview/edit/{card}")
    assert page.status_code == 200, page.status_code
    return edit_form_data(page.text)


def save(browser, card: int, fields: dict, remarks: str) -> requests.Response:
    return browser.post(
        f"{browser.base}/clientmodelview/edit/{card}", data={**fields, "remarks": remarks}, allow_redirects=False
    )


def test_a_100000_row_import_through_the_web_under_gunicorn_completes_whole(cluster):
    """The upload answers at once; two workers on Redis, one of them doing the job; every row is there."""
    rows = 100_000
    kartoteka = cluster(CRM_QUEUE_URL=REDIS)
    [base] = kartoteka.start(count=1)
    kartoteka.start_workers(2)
    browser = kartoteka.browser(base)
    assert log_in(browser).status_code == 302
    before = kartoteka.query("SELECT count(*) FROM client")[0][0]
    prefix = unique("Sto tysięcy ")
    body = "Nazwa firmy;Miejscowość\n" + "".join(f"{prefix}{n:06d};Łódź\n" for n in range(rows))
    page = browser.get(f"{base}/import/")
    uploaded = browser.post(
        f"{base}/import/", data={"csrf_token": CSRF_INPUT.search(page.text).group(1)},
        files={"file": ("klienci.csv", body.encode(), "text/csv")}, allow_redirects=False,
    )
    assert uploaded.status_code == 302, uploaded.status_code
    mapping = browser.get(f"{base}{urlsplit(uploaded.headers['Location']).path}")
    form = {"csrf_token": CSRF_INPUT.search(mapping.text).group(1), "map-0": "company_name", "map-1": "city",
            "action": "import"}
    began = time.monotonic()
    started = browser.post(mapping.url, data=form, allow_redirects=False)
    assert started.status_code == 302 and time.monotonic() - began < 10, "the request returns at once"
    job = f"{base}{urlsplit(started.headers['Location']).path}"
    deadline = time.monotonic() + 900
    while not (progress := browser.get(f"{job}/progress").json())["finished"]:
        assert time.monotonic() < deadline, progress
        time.sleep(2)
    assert progress["status"] == "done", browser.get(job).text[-2000:]
    assert kartoteka.query("SELECT count(*) FROM client")[0][0] == before + rows
    assert kartoteka.query("SELECT count(DISTINCT transaction_id) FROM client_version WHERE id > :last",
                           last=kartoteka.query("SELECT max(id) FROM client")[0][0] - rows)[0][0] == 1


def test_bad_logins_over_two_servers_lock_after_the_same_five_attempts(cluster):
    servers = cluster(AUTH_RATE_LIMIT="100 per minute")
    bases = servers.start(2)
    for attempt in range(5):
        browser = servers.browser(bases[attempt % 2])
        assert urlsplit(log_in(browser, password=WRONG).headers["Location"]).path == "/login/"
    for base in bases:
        browser = servers.browser(base)
        refused = log_in(browser)
        assert refused.status_code == 302 and urlsplit(refused.headers["Location"]).path == "/login/"
    results = [row.result for row in servers.query("SELECT result FROM login_event ORDER BY id")]
    assert results == ["bad_password"] * 5 + ["locked", "locked"]


def test_login_rate_limit_is_one_count_over_both_servers(cluster):
    servers = cluster(AUTH_RATE_LIMIT="6 per minute")
    first, second = servers.start(2)
    statuses = []
    for attempt in range(6):
        browser = servers.browser((first, second)[attempt % 2])
        statuses.append(log_in(browser, username=unique("nobody"), password=WRONG).status_code)
    assert statuses == [302] * 6
    for base in (first, second):
        limited = log_in(servers.browser(base), username=unique("nobody"), password=WRONG)
        assert limited.status_code == 429
        assert "Zbyt wiele prób" in limited.text


def test_two_saves_of_one_card_from_two_servers_end_in_one_save_and_one_conflict(cluster):
    servers = cluster()
    first, second = servers.start(2)
    anna, piotr = servers.browser(first), servers.browser(second)
    for browser in (anna, piotr):
        assert log_in(browser).status_code == 302
    (before,), = servers.query("SELECT lock_version FROM client WHERE id = 7")
    anna_form, piotr_form = edit_form(anna, 7), edit_form(piotr, 7)
    assert save(anna, 7, anna_form, "Zapisane przez Annę").status_code == 302
    conflict = save(piotr, 7, piotr_form, "Zapisane przez Piotra")
    assert conflict.status_code == 409
    assert polish(CONFLICT_MESSAGE) in conflict.text
    assert "Zapisane przez Piotra" in conflict.text  # his input is kept on the form
    (after,), = servers.query("SELECT lock_version FROM client WHERE id = 7")
    assert after == before + 1
    shown = anna.get(f"{first}/clientmodelview/show/7").text
    assert "Zapisane przez Annę" in shown and "Zapisane przez Piotra" not in shown


def test_twenty_clients_editing_for_thirty_seconds_get_no_server_error_and_lose_no_save(cluster):
    servers = cluster(AUTH_RATE_LIMIT="100 per minute")
    bases = servers.start(2)
    cards = list(range(1, 9))
    initial = dict(servers.query("SELECT id, lock_version FROM client WHERE id <= 8"))
    conflict_text = polish(CONFLICT_MESSAGE)
    saved, statuses, problems = Counter(), Counter(), []
    lock = threading.Lock()
    deadline = time.monotonic() + 30

    def work(number: int):
        rng = random.Random(number)
        browser = servers.browser(bases[number % 2])
        try:
            assert log_in(browser).status_code == 302
            while time.monotonic() < deadline:
                card = rng.choice(cards)
                fields = edit_form(browser, card)
                answer = save(browser, card, fields, f"Klient {number}, zmiana {rng.random():.6f}")
                with lock:
                    statuses[answer.status_code] += 1
                    if answer.status_code == 302:
                        saved[card] += 1
                if answer.status_code == 409:
                    assert conflict_text in answer.text
                elif answer.status_code != 302:
                    raise AssertionError(f"save answered {answer.status_code}")
                if rng.random() < 0.2:
                    listing = browser.get(f"{browser.base}/clientmodelview/list/")
                    with lock:
                        statuses[listing.status_code] += 1
                    assert listing.status_code == 200
        except Exception as error:  # noqa: BLE001 - reported below with the servers' logs
            with lock:
                problems.append(f"client {number}: {error!r}")

    threads = [threading.Thread(target=work, args=(number,)) for number in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    print(f"\n20 clients for 30 s: answers {dict(statuses)}, saves per card {dict(sorted(saved.items()))}")
    assert not problems, (problems[:5], statuses, servers.logs()[-3000:])
    assert not [status for status in statuses if status >= 500]
    # enough traffic to mean something on a loaded 2-core machine (about 60 saves and 80 conflicts seen there)
    assert statuses[302] >= 20 and statuses[302] + statuses[409] >= 40, statuses
    # every save answered 302 is in the database and in the card's history; none overwritten silently
    final = dict(servers.query("SELECT id, lock_version FROM client WHERE id <= 8"))
    versions = dict(servers.query("SELECT id, count(*) FROM client_version WHERE id <= 8 GROUP BY id"))
    for card in cards:
        assert final[card] == initial[card] + saved[card], (card, statuses)
        assert versions[card] == final[card], card


class FlakyProxy:
    """A TCP proxy to PostgreSQL that cuts every connection when a statement holding ``cut_on`` passes.

    Until :meth:`restore` it then refuses new connections, as a database
    server that has gone away. Connections must not use TLS (the statement is read).
    """

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut_on: bytes | None = None
        self.down = threading.Event()
        self.cut = threading.Event()
        self.sockets: set[socket.socket] = set()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                incoming, _ = self.listener.accept()
            except OSError:
                return
            if self.down.is_set():
                incoming.close()
                continue
            outgoing = socket.create_connection(self.target)
            with self.lock:
                self.sockets.update((incoming, outgoing))
            threading.Thread(target=self._pipe, args=(incoming, outgoing, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(outgoing, incoming, False), daemon=True).start()

    def _pipe(self, source, target, from_app):
        try:
            while data := source.recv(65536):
                if from_app and self.cut_on and self.cut_on in data:
                    self.go_down()
                    return
                target.sendall(data)
        except OSError:
            pass
        finally:
            for each in (source, target):
                self._close(each)

    def _close(self, each):
        try:
            each.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        each.close()

    def go_down(self):
        self.down.set()
        self.cut.set()
        with self.lock:
            for each in list(self.sockets):
                self._close(each)
            self.sockets.clear()

    def restore(self):
        self.cut_on = None
        self.down.clear()

    def close(self):
        self.go_down()
        self.listener.close()


@pytest.fixture()
def proxied(cluster):
    """A server whose database connections pass through a FlakyProxy."""
    servers = cluster(AUTH_RATE_LIMIT="100 per minute")
    url = make_url(servers.database)
    proxy = FlakyProxy(url.host or "127.0.0.1", url.port or 5432)
    through = url.set(host="127.0.0.1", port=proxy.port, query={**url.query, "sslmode": "disable"})
    (base,) = servers.start(1, database=through.render_as_string(hide_password=False))
    browser = servers.browser(base)
    assert log_in(browser).status_code == 302
    yield servers, proxy, browser
    proxy.close()


def card_rows(servers, card: int) -> dict:
    counts = {}
    for table, column in (("client", "id"), ("contact_person", "client_id"), ("note", "client_id"),
                          ("subscription", "client_id"), ("consent", "client_id"),
                          ("client_version", "id"), ("note_version", "client_id")):
        (counts[table],), = servers.query(f"SELECT count(*) FROM {table} WHERE {column} = :card", card=card)
    (counts["remarks"], counts["lock_version"]), = servers.query(
        "SELECT remarks, lock_version FROM client WHERE id = :card", card=card)
    return counts


def test_database_going_away_during_a_save_gives_a_clear_page_and_writes_nothing(proxied):
    servers, proxy, browser = proxied
    before = card_rows(servers, 5)
    fields = edit_form(browser, 5)
    proxy.cut_on = b"UPDATE client SET"
    answer = save(browser, 5, fields, "Nie powinno się zapisać")
    assert proxy.cut.is_set(), "the save never reached the database"
    assert answer.status_code == 503
    assert polish(UNAVAILABLE_MESSAGE) in answer.text and "Traceback" not in answer.text
    assert browser.get(f"{browser.base}/clientmodelview/list/").status_code == 503, servers.logs()  # still away
    proxy.restore()
    assert card_rows(servers, 5) == before
    assert browser.get(f"{browser.base}/clientmodelview/show/5").status_code == 200
    assert save(browser, 5, edit_form(browser, 5), "Zapisane po powrocie bazy").status_code == 302
    assert card_rows(servers, 5)["lock_version"] == before["lock_version"] + 1


def test_database_going_away_during_an_erasure_leaves_every_place_intact(proxied):
    servers, proxy, browser = proxied
    before = card_rows(servers, 6)
    assert before["note"] and before["client_version"]
    preview = browser.get(f"{browser.base}/gdpr/client/6/erase")
    token = CSRF_INPUT.search(preview.text).group(1)
    # the record of the erasure is written after every place was emptied in the transaction
    proxy.cut_on = b"INSERT INTO gdpr_event"
    answer = browser.post(f"{browser.base}/gdpr/client/6/erase", data={"csrf_token": token, "confirm": "6", "reason": "Karta testowa do usunięcia"},
                          allow_redirects=False)
    assert proxy.cut.is_set(), "the erasure never reached its record"
    assert answer.status_code == 503 and polish(UNAVAILABLE_MESSAGE) in answer.text
    proxy.restore()
    assert card_rows(servers, 6) == before
    assert servers.query("SELECT count(*) FROM gdpr_event")[0][0] == 0
    preview = browser.get(f"{browser.base}/gdpr/client/6/erase")
    token = CSRF_INPUT.search(preview.text).group(1)
    done = browser.post(f"{browser.base}/gdpr/client/6/erase", data={"csrf_token": token, "confirm": "6", "reason": "Karta testowa do usunięcia"},
                        allow_redirects=False)
    assert done.status_code == 302
    assert servers.query("SELECT count(*) FROM client WHERE id = 6")[0][0] == 0
    key_store = create_engine(servers.env["CRM_KEY_STORE_URL"])
    with key_store.connect() as connection:
        ledger = connection.execute(text("SELECT count(*) FROM erasure_ledger WHERE client_number = 6")).scalar()
    key_store.dispose()
    assert ledger == 1, "the erasure cut short wrote nothing to the ledger; the one that went through did"
