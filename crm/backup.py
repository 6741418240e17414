"""Backups of the database and of the key store, and putting a database backup back.

The database backup is consistent (SQLite's online backup, ``pg_dump`` on
PostgreSQL); the key store is backed up separately, to be kept elsewhere and
no longer than the erasure deadline. Restoring a database backup re-applies
every erasure the key store's ledger knows of, so a person erased after the
backup was taken does not come back (:func:`crm.gdpr.erasure.reapply_ledger`).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
from pathlib import Path

from flask import current_app, jsonify, request
from flask_babel import get_locale, gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy.engine import URL, make_url

from crm.timeutil import utcnow

log = logging.getLogger(__name__)


class BackupError(RuntimeError):
    """A backup or restore could not be made; the message says why."""


def _sqlite_path(url: URL, instance_path: str) -> str:
    path = url.database or ""
    return path if os.path.isabs(path) else os.path.join(instance_path, path)


def _pg_arguments(url: URL) -> tuple[list[str], dict]:
    arguments = ["--host", url.host or "127.0.0.1", "--port", str(url.port or 5432), "--username", url.username or "postgres"]
    return arguments, {**os.environ, "PGPASSWORD": url.password or ""}


def _run(command: list[str], env: dict) -> None:
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise BackupError(gettext("%(program)s failed: %(error)s", program=command[0], error=result.stderr.strip()[:500]))


def copy_database(url_text: str, target: Path, instance_path: str) -> Path:
    """A consistent copy of one database in ``target`` (a folder); returns the file written."""
    url = make_url(url_text)
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    name = Path(url.database or "database").stem
    target.mkdir(parents=True, exist_ok=True)
    if url.get_backend_name() == "sqlite":
        destination = target / f"{name}-{stamp}.sqlite"
        with sqlite3.connect(_sqlite_path(url, instance_path)) as source, sqlite3.connect(destination) as copy:
            source.backup(copy)
        copy.close()
        source.close()
    else:
        destination = target / f"{name}-{stamp}.dump"
        arguments, env = _pg_arguments(url)
        _run(["pg_dump", "--format=custom", "--no-owner", *arguments, "--file", str(destination), url.database], env)
    os.chmod(destination, 0o600)
    return destination


def put_back(url_text: str, backup: Path, instance_path: str) -> None:
    """Replace a database's content with a backup made by :func:`copy_database` (the app must be stopped)."""
    url = make_url(url_text)
    if not backup.is_file():
        raise BackupError(gettext("There is no file %(file)s.", file=backup))
    if url.get_backend_name() == "sqlite":
        with sqlite3.connect(backup) as source, sqlite3.connect(_sqlite_path(url, instance_path)) as database:
            source.backup(database)
        database.close()
        source.close()
        return
    arguments, env = _pg_arguments(url)
    _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction", *arguments,
          "--dbname", url.database, str(backup)], env)


ERASED_HELD_MESSAGE = _l(
    "This database holds %(count)d clients who were erased after its backup was taken. Kartoteka will not "
    "serve it until they are erased again: run flask crm reapply-erasures."
)


def init_restore_guard(app) -> None:
    """Refuse to serve a database that holds people the erasure ledger says are erased (a restored backup).

    Checked once a process, at its first request, until the check passes.
    """
    passed = []

    @app.before_request
    def refuse_a_database_holding_erased_people():
        if passed or (request.endpoint or "").endswith("static"):
            return None
        from crm.extensions import db
        from crm.gdpr.erasure import erased_but_held

        held = erased_but_held(db.session)
        db.session.remove()
        if not held:
            passed.append(True)
            return None
        log.error("refusing to serve: the database holds %d erased clients; run flask crm reapply-erasures", len(held))
        message = gettext(ERASED_HELD_MESSAGE, count=len(held))
        if request.path.startswith("/api/"):
            return jsonify(message=message), 503
        page = current_app.jinja_env.get_template("unavailable.html").render(message=message, lang=str(get_locale() or "pl"))
        return page, 503
