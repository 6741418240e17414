"""Kartoteka settings.

Two shapes of deployment share these classes:

* the embedded default: a SQLite file in the instance folder and an in-memory
  rate-limit store, one process (``make run``);
* scale-out: ``DATABASE_URL=postgresql+psycopg://...`` and
  ``RATELIMIT_STORAGE_URI=redis://...`` with several gunicorn workers.

Every upper-case setting below can be overridden by an environment variable of
the same name (see :func:`apply_environment`); ``DATABASE_URL`` is the usual
alias of ``SQLALCHEMY_DATABASE_URI``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, MutableMapping

from flask_appbuilder.security.manager import AUTH_DB

PROJECT_ROOT = Path(__file__).resolve().parent

#: The secret a developer machine may run with in debug mode only. The app
#: refuses to start with it (or with none) outside debug.
DEVELOPMENT_SECRET_KEY = "kartoteka-development-only-secret-do-not-deploy"


class Config:
    """The embedded default."""

    APP_NAME = "Kartoteka"
    APP_THEME = ""
    INSTANCE_PATH = str(PROJECT_ROOT / "instance")

    SECRET_KEY: str | None = None
    #: A file holding the secret key; ``make run`` writes one with mode 0600.
    #: Default: ``secret_key`` in the instance folder.
    SECRET_KEY_FILE: str | None = None
    JWT_SECRET_KEY: str | None = None

    #: Encryption keys as key-file lines separated by ";" (see crm/privacy/keys.py).
    CRM_ENCRYPTION_KEYS: str | None = None
    #: The key file used when CRM_ENCRYPTION_KEYS is not set; mode 0600, kept
    #: outside the database. Default: ``encryption.keys`` in the instance folder.
    CRM_KEY_FILE: str | None = None
    #: The key store (each client's data key, the erasure ledger): a database of its own, never
    #: the main one. Default: ``keystore.db`` (SQLite) in the instance folder; in scale-out a
    #: separate PostgreSQL database, e.g. postgresql+psycopg://db/kartoteka_keys.
    CRM_KEY_STORE_URL: str | None = None

    #: Relative SQLite paths are resolved in the instance folder by Flask-SQLAlchemy.
    SQLALCHEMY_DATABASE_URI = "sqlite:///kartoteka.db"
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    #: Database errors (which FAB logs) must not quote the row's values.
    SQLALCHEMY_ENGINE_OPTIONS = {"hide_parameters": True, "pool_pre_ping": True}
    #: Largest request body; a form field alone may not exceed MAX_FORM_MEMORY_SIZE.
    #: The largest file an import accepts (CSV or XLSX), in bytes.
    CRM_IMPORT_MAX_BYTES = 10 * 1024 * 1024
    # Background jobs (crm/jobs): the queue, by default a SQLite file in the instance folder run by
    # 'flask crm worker' (make run starts one); redis://... in scale-out; immediate:// runs each job
    # inside the request that starts it.
    CRM_QUEUE_URL: str | None = None
    #: Names this deployment's queue in a Redis shared with other applications.
    CRM_QUEUE_NAME = "kartoteka"
    #: A running job with no heartbeat for this long is marked failed (its worker was stopped).
    CRM_JOB_STALE_SECONDS = 60
    #: Days a finished job (its counts, the rows to correct) is kept for its starter.
    CRM_JOB_KEEP_DAYS = 30

    #: Retention (Art. 5(1)(e)): clients with no change for this many years are due for erasure
    #: (`flask crm retention`); six covers the five years after the tax year that Polish law asks for.
    CRM_RETENTION_INACTIVE_YEARS = 6
    #: Days the read-access log is kept (`flask crm purge-reads`, daily): long enough to answer a
    #: person's question about the last year, short enough not to keep a profile of everyone's work.
    CRM_READ_LOG_DAYS = 365
    #: A list page counts its matches up to this many and its pages end there: counting all of them
    #: reads every row, on each page, and grows with the base (narrow the search to go further).
    CRM_LIST_COUNT_LIMIT = 10_000
    #: Days within which an erasure must reach every copy: the key store's backups (which still
    #: hold the data keys of people erased since) are kept no longer than this.
    CRM_ERASURE_DEADLINE_DAYS = 30

    #: The controller as the record of processing (Art. 30(1)(a)) and the person's export name it:
    #: the company's name, its address and contact, and how to reach its data protection officer.
    CRM_CONTROLLER_NAME: str | None = None
    CRM_CONTROLLER_CONTACT: str | None = None
    CRM_DPO_CONTACT: str | None = None

    MAX_CONTENT_LENGTH = 16 * 1024 * 1024
    MAX_FORM_MEMORY_SIZE = 1024 * 1024

    # Flask-AppBuilder: the schema is Alembic's, permissions are synchronised by
    # `flask crm init`, never implicitly at start-up.
    FAB_CREATE_DB = False
    FAB_UPDATE_PERMS = False
    FAB_API_SWAGGER_UI = True
    # FAB's document and Swagger page accept the session cookie; crm.apidocs registers token-only ones.
    FAB_ADD_OPENAPI_VIEWS = False
    # FAB's menu API: the menu is rendered on the server, and its answers break its own document.
    FAB_ADD_MENU_API = False
    FAB_ADD_SECURITY_VIEWS = True
    # FAB's raw permission tables: the role x permission matrix replaces them.
    FAB_ADD_SECURITY_PERMISSION_VIEW = False
    FAB_ADD_SECURITY_VIEW_MENU_VIEW = False
    FAB_ADD_SECURITY_PERMISSION_VIEWS_VIEW = False
    FAB_INDEX_VIEW = "crm.views.HomeView"
    FAB_SECURITY_MANAGER_CLASS = "crm.security.manager.KartotekaSecurityManager"
    AUTH_TYPE = AUTH_DB
    AUTH_ROLE_ADMIN = "Administrator"
    AUTH_ROLE_PUBLIC = "Public"
    AUTH_USER_REGISTRATION = False

    # FAB limits only the form-login POST; the limiter's storage must be shared
    # (redis://) when several workers serve the app.
    RATELIMIT_ENABLED = True
    RATELIMIT_STORAGE_URI = "memory://"
    #: Names this deployment's counters in a Redis shared with other applications.
    RATELIMIT_KEY_PREFIX = "kartoteka"
    AUTH_RATE_LIMITED = True
    AUTH_RATE_LIMIT = "20 per minute"
    #: REST API reads (lists, records, searches) per account: each filtered list is a question about the data
    CRM_API_READ_RATE_LIMIT = "120 per minute;3000 per hour"

    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = 3600 * 8

    #: Outside debug: Secure cookies and HSTS (see crm/web_security.py).
    CRM_REQUIRE_HTTPS = True
    #: Proxies in front of the app that set X-Forwarded-*; 0 trusts none.
    CRM_PROXY_FIX_HOPS = 0

    BABEL_DEFAULT_LOCALE = "pl"
    #: the office's time zone: screens and the exports people read show times in it (the database keeps UTC)
    CRM_TIME_ZONE = "Europe/Warsaw"
    BABEL_TRANSLATION_DIRECTORIES = str(PROJECT_ROOT / "translations")
    LANGUAGES = {
        "pl": {"flag": "pl", "name": "Polski"},
        "en": {"flag": "gb", "name": "English"},
    }

    # Passwords (crm/security/passwords.py): one policy for forms, API and CLI.
    CRM_PASSWORD_MIN_LENGTH = 12
    #: zxcvbn score a password must reach (0-4)
    CRM_PASSWORD_MIN_SCORE = 3
    #: how many earlier passwords may not be reused
    CRM_PASSWORD_HISTORY = 5
    # Lockout (crm/security/lockout.py): counters live in the database.
    CRM_LOCKOUT_ATTEMPTS = 5
    CRM_LOCKOUT_WINDOW_MINUTES = 15
    #: 0 locks until an administrator unlocks the account
    CRM_LOCKOUT_MINUTES = 15
    #: whom a locked-out user should ask, named in the login refusal ("" says "your administrator")
    CRM_ACCOUNT_CONTACT = ""
    #: `flask crm purge-logins` deletes older login history
    CRM_LOGIN_HISTORY_DAYS = 365
    #: a password older than this must be changed at login (0: never expires)
    CRM_PASSWORD_MAX_AGE_DAYS = 90
    #: warn this many days before a password expires
    CRM_PASSWORD_WARN_DAYS = 14
    # Sessions (crm/security/sessions.py)
    CRM_SESSION_IDLE_MINUTES = 30
    CRM_SESSION_MAX_HOURS = 12
    # Email to staff (password change requests); no host: no email is sent.
    #: The public pages (request form, status, unsubscribe): the address their links in emails start
    #: with (e.g. https://crm.example.pl); by default the address the request came to.
    CRM_PUBLIC_URL: str | None = None
    #: Hours a request's email link stays valid.
    CRM_PUBLIC_LINK_HOURS = 24
    #: Forms sent from one network address, and messages sent to one email address.
    CRM_PUBLIC_RATE_LIMIT = "10 per hour"
    #: Public pages opened from one network address (status, links from emails).
    CRM_PUBLIC_PAGE_RATE_LIMIT = "60 per minute"
    CRM_PUBLIC_MESSAGES_PER_ADDRESS = "3 per day"
    #: Days an export sent to the person can be downloaded, and wrong codes before its link is locked.
    CRM_HANDOVER_DAYS = 7
    CRM_HANDOVER_ATTEMPTS = 5
    CRM_SMTP_HOST: str | None = None
    CRM_SMTP_PORT = 25
    CRM_MAIL_FROM = "kartoteka@localhost"
    #: The email of the administrator `crm init` creates (password change requests go there).
    CRM_ADMIN_EMAIL = "admin@kartoteka.invalid"

    FAB_API_MAX_PAGE_SIZE = 100
    #: FAB's security screens mount a file "download" route reading this folder;
    #: Kartoteka stores no files there, so it stays an empty folder.
    UPLOAD_FOLDER = str(PROJECT_ROOT / "instance" / "uploads")
    #: Rows the demo loader writes per transaction.
    CRM_DEMO_BATCH_SIZE = 500


#: Fixed keys of the test-suite (never used outside tests).
TEST_ENCRYPTION_KEYS = (
    "index MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=;"
    "k1 dGVzdC1rZXktb25lLXRlc3Qta2V5LW9uZS10ZXN0LWs="
)


class TestConfig(Config):
    """Settings the test-suite starts from; tests pass the database URL."""

    TESTING = True
    SECRET_KEY = "test-secret-key-with-enough-entropy-0123456789abcdef"
    JWT_SECRET_KEY = "test-jwt-secret-key-with-enough-entropy-0123456789"
    CRM_ENCRYPTION_KEYS = TEST_ENCRYPTION_KEYS
    AUTH_RATE_LIMIT = "1000 per minute"
    CRM_API_READ_RATE_LIMIT = "100000 per minute"
    CRM_QUEUE_URL = "immediate://"
    #: The same algorithm as a deployment's (FAB's scrypt) at 1/32 of its work factor: a hash
    #: took 72 ms, a third of the time of the security tests and of every mutant's run.
    FAB_PASSWORD_HASH_METHOD = "scrypt:1024:8:1"
    #: What an unknown name's password is checked against, so that its refusal takes as long as
    #: a known one's: the hash of a random string at the same work factor.
    AUTH_DB_FAKE_PASSWORD_HASH_CHECK = (
        "scrypt:1024:8:1$KUcjkyaVudjfo4bl$d2f4c741a81abdbe114a0f9f48b9fc1f1d4ff326aa9758c95c45eae06ed3742"
        "11cc009ce1a9f36558fd45edc5d1a55685c1cdcfb9568696c34c3a6eb15a4f1a8"
    )


def _coerce(raw: str, default: Any) -> Any:
    """Turn an environment string into the type of the setting's default."""
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, (dict, list)):
        return json.loads(raw)
    return raw


def apply_environment(settings: MutableMapping[str, Any], environ=os.environ) -> None:
    """Override every upper-case setting by the environment variable of its name."""
    if environ.get("DATABASE_URL"):
        settings["SQLALCHEMY_DATABASE_URI"] = environ["DATABASE_URL"]
    for key in list(settings):
        if key.isupper() and key in environ:
            settings[key] = _coerce(environ[key], settings[key])
    for key in ("SECRET_KEY", "JWT_SECRET_KEY"):
        if environ.get(key):
            settings[key] = environ[key]
