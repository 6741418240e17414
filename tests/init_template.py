"""The initialised database of `make mutate`, kept once instead of built per mutant.

mutmut runs the tests of each mutant in a new pytest session, so every mutant
would pay for `crm init` (migrations, FAB's permission sync, the built-in roles,
the first administrator): about three seconds of a run that often fails in the
next one. With ``CRM_TEST_INIT_TEMPLATE`` naming a folder (the Makefile's
mutate target does), the first session without a mutant keeps a copy of its
initialised SQLite database and instance folder there, together with the
functions of ours that `crm init` ran. A later session copies it instead of
initialising, unless its mutant is in one of those functions: a slip in the
built-in roles or the first administrator is still tried on a database that
the slip itself initialised.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import sys
from contextlib import contextmanager
from pathlib import Path

ORIGINAL_SUFFIX = "__mutmut_orig"  # mutmut's name for the untouched copy of a function
MUTANT_MARK = "__mutmut_"


def _mutant_under_test() -> str:
    """The mutant this session tries: empty outside mutmut, "stats" while it records."""
    return os.environ.get("MUTANT_UNDER_TEST", "")


class InitTemplate:
    """An initialised database and instance folder, and what initialising it ran."""

    def __init__(self, folder: str):
        self.folder = Path(folder)

    @classmethod
    def configured(cls, database_url: str | None) -> InitTemplate | None:
        """The template named by the environment, for SQLite runs only."""
        folder = os.environ.get("CRM_TEST_INIT_TEMPLATE")
        return cls(folder) if folder and not database_url else None

    @property
    def _reached_file(self) -> Path:
        return self.folder / "reached.json"

    def serves(self) -> bool:
        """True when this session may start from the copy instead of running init."""
        if not self._reached_file.exists():
            return False
        mutant = _mutant_under_test()
        return MUTANT_MARK not in mutant or mutant.rsplit(MUTANT_MARK, 1)[0] not in self.reached()

    def reached(self) -> set[str]:
        """The functions of ours that initialising the database ran."""
        return set(json.loads(self._reached_file.read_text()))

    def may_keep(self) -> bool:
        """Only a session without a mutant initialises the database the others start from."""
        return MUTANT_MARK not in _mutant_under_test() and not self._reached_file.exists()

    DATABASE, INSTANCE = "database.db", "instance"

    def copy_to(self, database: Path, instance: Path) -> None:
        _copy_folder(self.folder / self.INSTANCE, instance)
        _copy_sqlite(self.folder / self.DATABASE, database)

    def copy_into(self, folder: Path) -> None:
        """The database and instance folder into ``folder``, laid out as the template's own."""
        self.copy_to(folder / self.DATABASE, folder / self.INSTANCE)

    def keep(self, database: Path, instance: Path, reached: set[str]) -> None:
        """Keep the initialised files; written aside and renamed, as two sessions may race."""
        staging = self.folder.with_name(f"{self.folder.name}.{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        _copy_folder(instance, staging / self.INSTANCE)
        _copy_sqlite(database, staging / self.DATABASE)
        (staging / "reached.json").write_text(json.dumps(sorted(reached)))
        try:
            staging.rename(self.folder)
        except OSError:  # another session kept its copy first
            shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def functions_reached(package: str = "crm"):
    """Collect the mutated functions of ``package`` called inside the block."""
    reached: set[str] = set()
    previous = sys.getprofile()

    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_name.endswith(ORIGINAL_SUFFIX):
            module = frame.f_globals.get("__name__", "")
            if module.split(".")[0] == package:
                reached.add(f"{module}.{frame.f_code.co_name.removesuffix(ORIGINAL_SUFFIX)}")

    sys.setprofile(profile)
    try:
        yield reached
    finally:
        sys.setprofile(previous)


def _copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a database that may be open (SQLite's backup API)."""
    with sqlite3.connect(source) as original, sqlite3.connect(target) as copy:
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
