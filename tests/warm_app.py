"""The app of `make mutate`, built once in mutmut's fork server instead of once per mutant.

mutmut forks every mutant's pytest session from one server process that has
imported the tests. Each session still built its own app (0.9 s) before its
first test, often for a test run of a second. With the initialised database
kept (tests/init_template.py), the fork server builds the app once more, on
a folder reached as ``/proc/self/fd/N``: that path names whatever directory
the process holds open as descriptor N. A session forked from the server
copies the server's folder to a fresh one and puts that on descriptor N, so
the same app object reads and writes its own database, key store and uploads,
while two sessions running side by side never share a file.

Every session gets the warm app, a mutant in a function that building the app
or ``crm init`` ran too: a second app cannot be built in a process holding one
(FAB's security manager registers its views and limits once a process), and
such sessions, which tried, failed on it and counted their mutant as caught.
The app and the database were built without the slip; the slip is tried where
the tests call the function again, and where a test runs ``crm init`` or
another command in a process of its own (tests/subprocess_reach.py). A slip
whose only effect is on building the app or the first database is not seen,
which can only lower the score.

The server also serves the app a few requests (signing in, a few screens) on a
throwaway copy of its folder before any session is forked: the first request
of a process compiles templates, loads the catalogs and compiles SQL, about a
second each session paid. What those requests leave in the process that a
mutant could hide behind (the rate limiter's counts, unwrapped keys, a cached
answer of the mutated code) is cleared before the server forks.
"""

from __future__ import annotations

import gc
import importlib
import os
import pkgutil
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask

from tests.init_template import InitTemplate

class WarmApp:
    """An app whose files live under ``/proc/self/fd/<fd>``: a folder of each process's own."""

    def __init__(self, app: Flask, folder: Path, fd: int):
        self.app = app
        self.folder = folder
        self.fd = fd

    @classmethod
    def build(cls, template: InitTemplate, make_app: Callable[[str, str], Flask],
              serve: Callable[[Flask], None]) -> WarmApp:
        """Copy the template to a folder of the server's, build the app on it and let ``serve`` warm it."""
        # inside the template's folder, which the next `make mutate` deletes with it
        folder = Path(tempfile.mkdtemp(prefix="warm-", dir=template.folder))
        template.copy_into(folder)
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        root = _root(fd)
        app = make_app(f"sqlite:///{root}/{InitTemplate.DATABASE}", f"{root}/{InitTemplate.INSTANCE}")
        _close_connections(app)
        warm = cls(app, folder, fd)
        warm._warm_up(serve)
        return warm

    def _warm_up(self, serve: Callable[[Flask], None]) -> None:
        """Serve requests on a copy of the folder, then leave the process as if none had come."""
        scratch = self.take()
        try:
            serve(self.app)
        finally:
            _close_connections(self.app)
            _forget_what_requests_left(self.app)
            self._hold(self.folder)
            release(scratch)
        _import_the_rest_of_crm()
        _freeze_the_heap()

    def take(self) -> Path:
        """Give this process a copy of the server's folder as its own; returns the copy."""
        own = Path(tempfile.mkdtemp(prefix="mutant-", dir=self.folder.parent))
        InitTemplate(str(self.folder)).copy_into(own)
        self._hold(own)
        return own

    def _hold(self, folder: Path) -> None:
        """Make ``folder`` the one this process reaches as descriptor N."""
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        os.dup2(fd, self.fd)
        os.close(fd)


def _close_connections(app: Flask) -> None:
    """A forked process must open its own connections, to its own files."""
    from crm.extensions import db
    from crm.privacy.keystore import key_store

    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    key_store().engine.dispose()


def _forget_what_requests_left(app: Flask) -> None:
    from crm.extensions import appbuilder
    from crm.privacy.keystore import forget_unwrapped_keys
    from crm.privacy.masking import column_personal

    with app.app_context():
        appbuilder.sm.limiter.reset()
    forget_unwrapped_keys()
    column_personal.cache_clear()
    # each model's filters as worked out once (PrivacyFilterConverter.convert): a mutant of the
    # registry's tests that pick them would otherwise find them decided before it was switched on
    for view in appbuilder.baseviews:
        datamodel = getattr(view, "datamodel", None)
        if datamodel is not None:
            vars(datamodel).pop("_filter_classes", None)
    # the memory limiter's expiry timer (0.01 s) must be over before the server forks
    time.sleep(0.05)


def _import_the_rest_of_crm() -> None:
    """Import the modules of ours that code imports inside a function, once for every session.

    Without written bytecode (PYTHONDONTWRITEBYTECODE) each session compiled them again
    (50 ms for ``crm.security.service``).
    """
    import crm

    for module in pkgutil.walk_packages(crm.__path__, "crm."):
        if module.name not in sys.modules and module.name != "crm.gunicorn_config":
            importlib.import_module(module.name)


def _freeze_the_heap() -> None:
    """Leave what the server holds out of every session's garbage collections.

    mutmut freezes its own heap before starting the server, not what the server
    then imports and builds: each session's collections walked the whole app again,
    pytest's closing ones among them (0.4 s of a 0.65 s one-test session).
    """
    gc.collect()
    gc.freeze()


#: Built in the fork server (conftest's ``pytest_collection_finish``), inherited by each session.
warm: WarmApp | None = None


def release(own: Path) -> None:
    shutil.rmtree(own, ignore_errors=True)


def for_another_process(path: str) -> str:
    """``path`` (or URL) naming this process's folder by its real name, for a process started
    from a test: it holds no descriptor N."""
    if warm is None:
        return path
    root = _root(warm.fd)
    return path.replace(root, os.readlink(root))


def _root(fd: int) -> str:
    """The path of whatever folder the reading process holds open as ``fd``."""
    return f"/proc/self/fd/{fd}"
