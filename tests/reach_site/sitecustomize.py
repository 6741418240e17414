"""Loaded by every Python process a test starts while mutmut records (tests/subprocess_reach.py).

At exit the process writes the functions of ours it ran to a file of its own in
the folder the test run named; the test that started it is credited with them.
"""

import atexit
import os

_FOLDER = os.environ.get("CRM_SUBPROCESS_REACH")

if _FOLDER and os.environ.get("MUTANT_UNDER_TEST") == "stats":

    def _report() -> None:
        from mutmut.state import state

        if state()._stats:
            with open(os.path.join(_FOLDER, f"{os.getpid()}.reached"), "w", encoding="utf-8") as file:
                file.write("\n".join(sorted(state()._stats)))

    atexit.register(_report)
