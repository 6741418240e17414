"""What the processes a test starts ran, credited to the test in mutmut's recording run.

mutmut records which functions each test reaches by the calls it sees in its own
process. A test that runs ``flask crm init`` or an export as a user does, in a
process of its own, reached nothing as far as mutmut knew: a mutant of the first
administrator's creation had no test, though the command's tests fail on it.
While mutmut records, every Python process a test starts loads
``tests/reach_site/sitecustomize.py`` and reports its functions at exit; they are
added to the test's own before mutmut reads them. Under a mutant the process runs
the mutant too: it inherits ``MUTANT_UNDER_TEST`` and imports the mutated code.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

RECORDING = "stats"  # mutmut's MUTANT_UNDER_TEST while it records
SITE = Path(__file__).resolve().parent / "reach_site"


def recording() -> bool:
    return os.environ.get("MUTANT_UNDER_TEST") == RECORDING


def report_from_subprocesses() -> None:
    """Make every process started from now on report what it ran (see the module's docstring)."""
    os.environ["CRM_SUBPROCESS_REACH"] = tempfile.mkdtemp(prefix="crm-reach-")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, (str(SITE), os.environ.get("PYTHONPATH"))))


def credit_what_subprocesses_ran() -> None:
    """Add what the processes started since the last call ran to the current test's reach."""
    from mutmut.state import state

    for report in Path(os.environ["CRM_SUBPROCESS_REACH"]).glob("*.reached"):
        state()._stats.update(report.read_text(encoding="utf-8").split())
        report.unlink()
