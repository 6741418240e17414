"""The initialised database of `make mutate`, kept once instead of built per mutant.

mutmut runs the tests of each mutant in a new pytest session, so every mutant
would pay for `crm init` (migrations, FAB's permission sync, the built-in roles,
the first administrator): about three seconds of a run that often fails in the
next one. With ``CRM_TEST_INIT_TEMPLATE`` naming a folder (the Makefile's
mutate target does), the first session without a mutant keeps a copy of its
initialised SQLite database and instance folder there; mutmut's fork server
builds its warm app on a copy (tests/warm_app.py), and a session without one
starts from a copy instead of initialising. A slip in the built-in roles or the
first administrator is tried by the tests that run `crm init` themselves: on the
shared app (test_staff_management) or in a process of their own
(test_cli, tests/subprocess_reach.py).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

MUTANT_MARK = "__mutmut_"


def _mutant_under_test() -> str:
    """The mutant this session tries: empty outside mutmut, "stats" while it records."""
    return os.environ.get("MUTANT_UNDER_TEST", "")


class InitTemplate:
    """An initialised database and instance folder."""

    def __init__(self, folder: str):
        self.folder = Path(folder)

    @classmethod
    def configured(cls, database_url: str | None) -> InitTemplate | None:
        """The template named by the environment, for SQLite runs only."""
        folder = os.environ.get("CRM_TEST_INIT_TEMPLATE")
        return cls(folder) if folder and not database_url else None

    def serves(self) -> bool:
        """True when this session may start from the copy instead of running init."""
        return self.folder.exists()

    def may_keep(self) -> bool:
        """Only a session without a mutant initialises the database the others start from."""
        return MUTANT_MARK not in _mutant_under_test() and not self.folder.exists()

    DATABASE, INSTANCE = "database.db", "instance"

    def copy_to(self, database: Path, instance: Path) -> None:
        _copy_folder(self.folder / self.INSTANCE, instance)
        _copy_sqlite(self.folder / self.DATABASE, database)

    def copy_into(self, folder: Path) -> None:
        """The database and instance folder into ``folder``, laid out as the template's own."""
        self.copy_to(folder / self.DATABASE, folder / self.INSTANCE)

    def keep(self, database: Path, instance: Path) -> None:
        """Keep the initialised files; written aside and renamed, as two sessions may race."""
        staging = self.folder.with_name(f"{self.folder.name}.{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        _copy_folder(instance, staging / self.INSTANCE)
        _copy_sqlite(database, staging / self.DATABASE)
        try:
            staging.rename(self.folder)
        except OSError:  # another session kept its copy first
            shutil.rmtree(staging, ignore_errors=True)


def _copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a database that may be open (SQLite's backup API)."""
    with sqlite3.connect(source) as original, sqlite3.connect(target) as copy:
        copy.execute("PRAGMA synchronous=OFF")  # a copy for one test session (tests/conftest.py)
        original.backup(copy)
    original.close()
    copy.close()


def _copy_folder(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for path in source.rglob("*"):
        destination = target / path.relative_to(source)
        if path.is_dir():
            destination.mkdir(exist_ok=True)
        elif path.suffix == ".db":
            _copy_sqlite(path, destination)
        elif path.suffix not in (".db-wal", ".db-shm", ".db-journal"):
            shutil.copy2(path, destination)
