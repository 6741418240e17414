"""Kartoteka: a GDPR-first CRM back office on Flask-AppBuilder."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from pathlib import Path
from typing import Any, Mapping

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import configure_mappers

import config as settings
from crm.i18n import date_picker_language, select_language, translate_marshmallow
from crm.privacy.crypto import bind_key_ring
from crm.longtext import shortened
from crm.timeutil import shown_time
from crm.privacy.keys import KeyRingError, load_key_ring, write_new_key_file

log = logging.getLogger(__name__)


class ConfigurationError(RuntimeError):
    """The app cannot start safely with these settings; the message says what to set."""


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Create the Kartoteka app: settings, extensions, views, CLI, in that order.

    Without ``test_config`` the app starts from ``config.Config``; with it (tests,
    benchmarks) from ``config.TestConfig``, and the mapping overrides settings
    after the environment has been applied.
    """
    app = Flask(
        __name__,
        instance_path=(test_config or {}).get("INSTANCE_PATH")
        or os.environ.get("INSTANCE_PATH", settings.Config.INSTANCE_PATH),
        template_folder=str(settings.PROJECT_ROOT / "templates"),
    )
    app.config.from_object(settings.TestConfig if test_config else settings.Config)
    settings.apply_environment(app.config)
    if test_config:
        app.config.update(test_config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    _load_secrets(app)
    _load_keys(app)
    if app.config["UPLOAD_FOLDER"] == settings.Config.UPLOAD_FOLDER:
        app.config["UPLOAD_FOLDER"] = os.path.join(app.instance_path, "uploads")
    Path(app.config["UPLOAD_FOLDER"]).mkdir(exist_ok=True)

    translate_marshmallow()
    _init_extensions(app)
    from crm.accountability.reads import init_read_log
    from crm.backup import init_restore_guard
    from crm.cli import crm_cli
    from crm.errors import register_error_handlers
    from crm.guards import init_guards
    from crm.jobs.queue import init_jobs
    from crm.log_privacy import init_log_privacy
    from crm.security.sessions import init_sessions
    from crm.web_security import init_web_security

    register_error_handlers(app)
    init_guards(app)
    init_restore_guard(app)
    init_jobs(app)
    init_log_privacy()
    init_read_log(app)
    app.add_template_filter(shown_time, "when")
    app.add_template_filter(shortened, "shortened")
    app.jinja_env.globals["date_picker_language"] = date_picker_language
    app.jinja_env.globals["select_language"] = select_language
    init_web_security(app)
    init_sessions(app)
    app.cli.add_command(crm_cli)
    return app


def _load_secrets(app: Flask) -> None:
    """Take the secret key from the environment or its file; refuse a weak one outside debug."""
    key_file = app.config.get("SECRET_KEY_FILE") or os.path.join(app.instance_path, "secret_key")
    if not app.config.get("SECRET_KEY") and key_file and os.path.exists(key_file):
        app.config["SECRET_KEY"] = Path(key_file).read_text(encoding="utf-8").strip()
    secret = app.config.get("SECRET_KEY")
    if not secret or secret == settings.DEVELOPMENT_SECRET_KEY:
        if not app.debug:
            raise ConfigurationError(
                "Kartoteka will not start without a secret key outside debug mode. "
                "Set SECRET_KEY to a random string of at least 32 characters "
                '(e.g. python -c "import secrets; print(secrets.token_hex(32))"), '
                "or write one to the file SECRET_KEY_FILE names "
                f"({key_file or 'not set'}), readable by the app's user only."
            )
        log.warning("Using the development secret key: debug mode only, never deploy this.")
        app.config["SECRET_KEY"] = settings.DEVELOPMENT_SECRET_KEY
    elif len(secret) < 32 and not app.debug:
        raise ConfigurationError("SECRET_KEY is shorter than 32 characters; set a longer random one.")
    if not app.config.get("JWT_SECRET_KEY"):
        # A key of its own, derived so that a JWT secret never equals the cookie secret.
        app.config["JWT_SECRET_KEY"] = hmac.new(
            app.config["SECRET_KEY"].encode(), b"kartoteka-jwt", hashlib.sha256
        ).hexdigest()


def _load_keys(app: Flask) -> None:
    """Bind the encryption key ring; generate a key file in debug, refuse to start without keys otherwise."""
    key_file = app.config.get("CRM_KEY_FILE") or os.path.join(app.instance_path, "encryption.keys")
    app.config["CRM_KEY_FILE"] = key_file
    try:
        ring = load_key_ring(app.config.get("CRM_ENCRYPTION_KEYS"), key_file)
        if ring is None and app.debug:
            write_new_key_file(key_file)
            log.warning("Generated encryption keys in %s (debug mode); back the file up.", key_file)
            ring = load_key_ring(None, key_file)
    except KeyRingError as error:
        raise ConfigurationError(f"Encryption keys: {error}") from None
    if ring is None:
        raise ConfigurationError(
            "Kartoteka will not start without encryption keys outside debug mode. Set "
            "CRM_ENCRYPTION_KEYS, or create the key file CRM_KEY_FILE names "
            f"({key_file}) with: python -m crm.privacy.keys new-file {key_file}"
        )
    bind_key_ring(ring)
    _open_key_store(app, ring)


def _open_key_store(app: Flask, ring) -> None:
    """Bind the key store (data keys, erasure ledger); it may not be the main database."""
    from sqlalchemy.engine import make_url

    from crm.privacy.keystore import KeyStore, bind_key_store

    url = app.config.get("CRM_KEY_STORE_URL") or f"sqlite:///{os.path.join(app.instance_path, 'keystore.db')}"
    app.config["CRM_KEY_STORE_URL"] = url
    main = app.config["SQLALCHEMY_DATABASE_URI"]
    if make_url(url).database == make_url(main).database and make_url(url).host == make_url(main).host:
        raise ConfigurationError("CRM_KEY_STORE_URL names the main database; the key store must be a database of its own.")
    try:
        bind_key_store(KeyStore(url, ring))
    except Exception as error:  # the store is required: no client data can be read or written without it
        raise ConfigurationError(
            f"The key store ({make_url(url).render_as_string(hide_password=True)}) cannot be opened: "
            f"{type(error).__name__}. Create that database, or set CRM_KEY_STORE_URL."
        ) from None


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """SQLite enforces foreign keys, and overwrites deleted content, only when asked, per connection.

    Secure delete zeroes the pages an erasure frees, so an erased person's
    (encrypted) values do not linger in the file.
    """
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()


def _init_extensions(app: Flask) -> None:
    from crm import models  # noqa: F401  (all mappers, before Continuum builds versions)
    from crm.privacy.framework_models import declare_framework_models
    from crm.extensions import appbuilder, csrf, db, migrate
    from crm.public.views import init_public_pages
    from crm.security.throttling import init_rate_limits
    from crm.views import register_views

    configure_mappers()
    declare_framework_models()
    db.init_app(app)
    migrate.init_app(app, db, directory=str(settings.PROJECT_ROOT / "migrations"))
    csrf.init_app(app)
    with app.app_context():
        appbuilder.init_app(app, db.session)
        register_views(appbuilder)
        init_rate_limits(app, appbuilder)
        init_public_pages(app, appbuilder)
