"""Test fixtures: one app on a fresh database per run, real logins with CSRF tokens.

The database is SQLite in a temporary folder unless ``TEST_DATABASE_URL`` names a
PostgreSQL server, in which case a fresh database is created on it for this run
and dropped afterwards. ``TEST_RATELIMIT_STORAGE_URI`` selects the limiter store
(``redis://...`` in the scale-out run).
"""

from __future__ import annotations

import ctypes
import itertools
import os
import re
import resource
import secrets
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.engine import make_url

from crm import create_app

from tests import subprocess_reach, warm_app
from tests.init_template import MUTANT_MARK, InitTemplate
from tests.mutation_scope import (
    CLEAN_RUN, EQUIVALENT_EXIT, first_of_each_file, guarding_files, is_equivalent, notes, run_order, time_allowed,
)

ADMIN_PASSWORD = "Adm1n-Test-Passw0rd-Long"
STAFF_PASSWORD = "Zielony-Kot-Pije-Mleko-2026"
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent ends
#: CPU seconds a command a test starts may use under `make mutate` (the longest, `crm init`, takes 6)
MUTANT_COMMAND_CPU_SECONDS = 30
CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_unique = itertools.count(1)


@event.listens_for(Engine, "connect")
def _no_fsync_in_tests(dbapi_connection, _record):
    """A test database need not survive a power cut: SQLite's fsync was 1.2 ms of each 1.3 ms commit here."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        dbapi_connection.execute("PRAGMA synchronous=OFF")


def unique(prefix: str) -> str:
    """A value no other test uses; digits only after the prefix, so that no random run of letters
    ("be", "add") reads as an English word on a page the Polish-pages test checks."""
    return f"{prefix}{next(_unique)}{uuid.uuid4().int % 10**6:06d}"


def named_like(model, text: str):
    """A query of the records whose names hold every word of ``text`` (or a word starting so), by the
    search box's keyed word index: test helpers narrow to these before comparing decrypted values,
    instead of decrypting every record of a large test database."""
    import re

    from sqlalchemy import and_, select

    from crm.privacy.crypto import MIN_PREFIX, fold, start_token

    words = [word for word in re.findall(r"\w+", fold(text)) if len(word) >= MIN_PREFIX]
    table = model.__table__.name
    return select(model).where(and_(*(model.word_index.like(f"%{start_token(word, table)}%") for word in words)))


def unique_nip() -> str:
    """A valid NIP no other card of the test run has (a second card with it would be a duplicate)."""
    while True:
        digits = [int(d) for d in f"{secrets.randbelow(10**9):09d}"]
        check = sum(w * d for w, d in zip((6, 5, 7, 2, 3, 4, 5, 6, 7), digits)) % 11
        if check != 10 and digits[0] != 0:
            return "".join(map(str, digits)) + str(check)


def unique_pesel() -> str:
    """A valid PESEL (born 1950-1999) no other card of the test run has."""
    year, month, day = 50 + secrets.randbelow(50), 1 + secrets.randbelow(12), 1 + secrets.randbelow(28)
    digits = [int(d) for d in f"{year:02d}{month:02d}{day:02d}{secrets.randbelow(10**4):04d}"]
    check = (10 - sum(w * d for w, d in zip((1, 3, 7, 9, 1, 3, 7, 9, 1, 3), digits)) % 10) % 10
    return "".join(map(str, digits)) + str(check)


class FreshDatabase:
    """Creates empty databases for this run and drops them at the end."""

    def __init__(self, base_url: str | None, tmp_path_factory):
        self.base_url = base_url
        self.tmp_path_factory = tmp_path_factory
        self.created: list[str] = []

    def new(self, template: str | None = None) -> str:
        """An empty database, or on PostgreSQL a copy of the database ``template`` names."""
        if not self.base_url:
            folder = self.tmp_path_factory.mktemp("db")
            return f"sqlite:///{folder / 'kartoteka.db'}"
        url = make_url(self.base_url)
        name = f"kartoteka_test_{os.getpid()}_{secrets.token_hex(4)}"
        copy = f' TEMPLATE "{make_url(template).database}"' if template else ""
        with self._server().connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"{copy}'))
        self.created.append(name)
        return url.set(database=name).render_as_string(hide_password=False)

    def _server(self):
        url = make_url(self.base_url).set(database="postgres")
        return create_engine(url, isolation_level="AUTOCOMMIT")

    def drop_all(self):
        if not self.created:
            return
        engine = self._server()
        with engine.connect() as connection:
            for name in self.created:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture(scope="session")
def databases(tmp_path_factory):
    fresh = FreshDatabase(os.environ.get("TEST_DATABASE_URL"), tmp_path_factory)
    yield fresh
    fresh.drop_all()


class HttpsClient(FlaskClient):
    """A test client speaking HTTPS, as every deployment does (cookies are Secure).

    Like a browser on our pages it sends a same-origin Referer, which Flask-WTF
    requires of HTTPS form posts.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.environ_base["wsgi.url_scheme"] = "https"
        self.environ_base["HTTP_REFERER"] = "https://localhost/"


def _new_app(database_url: str, instance: str, key_store_url: str | None = None):
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "RATELIMIT_STORAGE_URI": os.environ.get("TEST_RATELIMIT_STORAGE_URI", "memory://"),
            # a shared Redis outlives a run: counts of an earlier run within the hour must not refuse this one
            "RATELIMIT_KEY_PREFIX": unique("kartoteka-test-"),
            "INSTANCE_PATH": instance,
            # scale-out keeps the key store in a PostgreSQL database of its own; else a file in the instance
            **({"CRM_KEY_STORE_URL": key_store_url} if key_store_url else {}),
        }
    )
    app.test_client_class = HttpsClient
    return app


@pytest.fixture(scope="session")
def app(databases, tmp_path_factory):
    warm = warm_app.warm
    if warm is not None:
        own = warm.take()
        yield warm.app
        _close(warm.app)
        warm_app.release(own)
        return
    database_url = databases.new()
    instance = tmp_path_factory.mktemp("instance")
    template = InitTemplate.configured(databases.base_url)
    initialised = template is not None and template.serves()
    if initialised:
        template.copy_to(Path(make_url(database_url).database), instance)
    app = _new_app(database_url, str(instance), databases.new() if databases.base_url else None)
    if not initialised:
        result = app.test_cli_runner().invoke(args=["crm", "init"], env={"CRM_ADMIN_PASSWORD": ADMIN_PASSWORD})
        assert result.exit_code == 0, result.output
        if template is not None and template.may_keep():
            template.keep(Path(make_url(database_url).database), instance)
    yield app
    _close(app)


def _close(app):
    from crm.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def pytest_collection_finish(session):
    """In mutmut's fork server (which only collects), build the app its sessions share (tests/warm_app.py)."""
    template = InitTemplate.configured(os.environ.get("TEST_DATABASE_URL"))
    if (
        session.config.option.collectonly
        and template is not None
        and template.serves()
        and os.environ.get("MUTANT_UNDER_TEST", "") == ""
        and warm_app.warm is None
    ):
        warm_app.warm = warm_app.WarmApp.build(template, _new_app, _serve_a_working_session)


def _serve_a_working_session(app) -> None:
    """Sign in and open the screens most tests open (tests/warm_app.py: warming the fork server)."""
    client = app.test_client()
    auth = Auth(client)
    assert auth.login().status_code == 200
    for page in ("/clientmodelview/list/", "/clientmodelview/add", "/contactpersonmodelview/list/",
                 "/users/list/", "/permissions/", "/my-logins/", "/gdpr/retention", "/no-such-page"):
        client.get(page)
    auth.logout()


def pytest_configure(config):
    """Under `make mutate`, what a test starts dies with the test's process, or after
    MUTANT_COMMAND_CPU_SECONDS of work: mutmut kills a session past its time limit, and a command a
    mutant sent into an endless loop ran on, on both cores.
    While mutmut records, what a test starts reports what it ran (tests/subprocess_reach.py)."""
    if subprocess_reach.recording():
        subprocess_reach.report_from_subprocesses()
    if MUTANT_MARK in os.environ.get("MUTANT_UNDER_TEST", "") and not getattr(subprocess.Popen, "dies_with_parent", False):
        libc = ctypes.CDLL(None, use_errno=True)
        start = subprocess.Popen.__init__

        def dying_with_parent(self, *args, preexec_fn=None, **kwargs):
            def before_exec():
                libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
                # a mutant that loops for ever in a command held a core until the test's timeout (300 s)
                resource.setrlimit(resource.RLIMIT_CPU, (MUTANT_COMMAND_CPU_SECONDS, MUTANT_COMMAND_CPU_SECONDS + 1))
                if preexec_fn is not None:
                    preexec_fn()

            start(self, *args, preexec_fn=before_exec, **kwargs)

        subprocess.Popen.__init__ = dying_with_parent
        subprocess.Popen.dies_with_parent = True


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item, nextitem):
    """Before mutmut reads what the test reached, add what the processes it started ran."""
    if subprocess_reach.recording():
        subprocess_reach.credit_what_subprocesses_ran()


def pytest_collection_modifyitems(config, items):
    """Under `make mutate`, a mutant runs only the tests that guard its module, quickest first, and
    mutmut's clean run the first test of each file (tests/mutation_scope.py)."""
    mutant = os.environ.get("MUTANT_UNDER_TEST")
    if mutant == CLEAN_RUN:
        kept = {item.nodeid: item for item in first_of_each_file(items)}
        config.hook.pytest_deselected(items=[item for item in items if item.nodeid not in kept])
        items[:] = list(kept.values())
        return
    if mutant is None or MUTANT_MARK not in mutant:
        return
    files = guarding_files(mutant)
    kept = {item.nodeid: item for item in items if files is None or item.nodeid.split("::")[0] in files}
    config.hook.pytest_deselected(items=[item for item in items if item.nodeid not in kept])
    items[:] = [kept[nodeid] for nodeid in run_order(mutant, list(kept))]


def _mutant_session() -> str | None:
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    return mutant if MUTANT_MARK in mutant else None


def pytest_sessionstart(session):
    """Under `make mutate`, a known equivalent mutant's session ends before collecting any test."""
    session.started = time.monotonic()  # a mutant's session's time, for MutationNotes
    mutant = _mutant_session()
    if mutant is not None and is_equivalent(mutant):
        pytest.exit(f"{mutant} is a known equivalent (tests/equivalent_mutants.toml)", returncode=EQUIVALENT_EXIT)


class MutantTookTooLong(Exception):
    """A test ran past tests.mutation_scope.time_allowed under a mutant."""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Under `make mutate`, a test that runs far past its usual time fails (the mutant is caught)."""
    if _mutant_session() is None:
        yield
        return
    allowed = time_allowed(item.nodeid)

    def too_long(_signal, _frame):
        raise MutantTookTooLong(f"{item.nodeid} ran past {allowed:.0f} s")

    previous = signal.signal(signal.SIGALRM, too_long)
    signal.setitimer(signal.ITIMER_REAL, allowed)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def pytest_runtest_logreport(report):
    """Under `make mutate`, the test that caught a mutant goes first for the next of its function."""
    mutant = _mutant_session()
    if mutant is not None and report.failed and report.when in ("setup", "call"):
        notes().caught(mutant, report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    """Under `make mutate`, each mutant's time, outcome and tests selected (tests/mutation_scope.py)."""
    mutant = _mutant_session()
    if mutant is not None:
        notes().session(mutant, time.monotonic() - session.started, int(exitstatus), session.testscollected)


def run_command(app, args, input_text=None):
    """A ``flask`` command run in the test app's process, as Click parses it (``result.exit_code``,
    ``.stdout``, ``.stderr``). tests/test_cli.py runs the real ``flask`` executable; the other tests run
    a command here, where a mutant under test is the one the command runs (``make mutate``)."""
    return app.test_cli_runner().invoke(args=args, input=input_text)


def same_database_env(app, **overrides) -> dict:
    """Environment for a second app process on the test run's database (as another worker)."""
    from config import TEST_ENCRYPTION_KEYS

    return {
        **os.environ,
        "DATABASE_URL": warm_app.for_another_process(app.config["SQLALCHEMY_DATABASE_URI"]),
        "SECRET_KEY": app.config["SECRET_KEY"],
        "CRM_ENCRYPTION_KEYS": TEST_ENCRYPTION_KEYS,
        "INSTANCE_PATH": warm_app.for_another_process(app.instance_path),
        "CRM_KEY_STORE_URL": warm_app.for_another_process(app.config["CRM_KEY_STORE_URL"]),
        "RATELIMIT_STORAGE_URI": app.config["RATELIMIT_STORAGE_URI"],
        "RATELIMIT_KEY_PREFIX": app.config["RATELIMIT_KEY_PREFIX"],
        **overrides,
    }


@pytest.fixture()
def client(app):
    return app.test_client()


def csrf_token(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = CSRF_INPUT.search(html)
    assert match, "no csrf_token on the page"
    return match.group(1)


@dataclass
class Auth:
    """Logs a test client in and out through the real login form."""

    client: object
    #: The session's CSRF token, taken from the login form; valid for the session.
    csrf: str | None = None

    def login(self, username: str = "admin", password: str = ADMIN_PASSWORD, follow=True):
        page = self.client.get("/login/")
        self.csrf = csrf_token(page.text)
        return self.client.post(
            "/login/",
            data={"username": username, "password": password, "csrf_token": self.csrf},
            follow_redirects=follow,
        )

    def logout(self):
        """Sign out as the navigation bar does: a POST with the page's CSRF token."""
        token = csrf_token(self.client.get("/logout/").text)
        return self.client.post("/logout/", data={"csrf_token": token}, follow_redirects=True)


@pytest.fixture()
def auth(client):
    return Auth(client)


@pytest.fixture()
def make_user(app):
    """A callable creating a staff user with the given role (and user name, names); returns the username."""

    def _make(role: str, password: str = STAFF_PASSWORD, **names) -> str:
        from crm.extensions import appbuilder

        username = names.get("username") or unique(role.lower().replace(" ", "_") + "_")
        with app.app_context():
            sm = appbuilder.sm
            user = sm.add_user(
                username=username,
                first_name=names.get("first_name", "Teresa"),
                last_name=names.get("last_name", unique("Testowa")),
                email=f"{username}@kartoteka.invalid",
                role=sm.find_role(role),
                password=password,
                must_change_password=names.get("must_change_password", False),
            )
            assert user, f"could not create user with role {role}"
        return username

    return _make


@pytest.fixture()
def db_session(app):
    """Run assertions against the database in a short app context."""
    from crm.extensions import db

    def _query(fn):
        with app.app_context():
            try:
                return fn(db.session)
            finally:
                db.session.remove()

    return _query


def company_form(**overrides) -> dict:
    """Valid add-form data for a company client."""
    data = {
        "kind": "company",
        "company_name": unique("Przędzalnia Łódź "),
        "first_name": "",
        "last_name": "",
        "email": f"{unique('biuro')}@przedzalnia.pl",
        # unique too: an erasure puts the phone on the suppression list for every later test
        "phone": f"+48 6{secrets.randbelow(10**8):08d}",
        "street": "ul. Żelazna 12",
        "postal_code": "90-001",
        "city": "Łódź",
        "country": "PL",
        "nip": unique_nip(),
        "pesel": "",
        "status": "lead",
        "remarks": "",
    }
    data.update(overrides)
    return data


def person_form(**overrides) -> dict:
    """Valid add-form data for a person client."""
    data = company_form(
        kind="person",
        company_name="",
        first_name="Żaneta",
        last_name=unique("Wiśniewska"),
        nip="",
        pesel=unique_pesel(),
    )
    data.update(overrides)
    return data
