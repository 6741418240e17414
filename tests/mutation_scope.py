"""Which test files guard each protective module, for `make mutate` (README, "Mutation testing").

mutmut runs, for a mutant, every test that reached the mutated function. For a
function every request passes through (the session rules, the trail, the
encryption) that is most of the suite, minutes for each mutant that survives.
A mutant here runs only those of them in the test files that state the module's
rules: a rule is guarded when its own tests fail on the slip, not when a scanner
of another feature trips over it by chance. The longest name that is a prefix of
the mutant's module decides; a module of no entry keeps mutmut's choice.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import os
import re
import tomllib
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tests.init_template import MUTANT_MARK

SECURITY = ("login_security", "sessions_and_forced_change", "password_policy", "two_factor",
            "permission_matrix", "staff_management", "route_access", "web_security", "working_day")
#: the matrix, the grant rules and the roles' names
ROLES = ("permission_matrix", "staff_management", "route_access", "working_day")
#: signing in and out, passwords, sessions: everything of SECURITY but the role x route walk
ACCOUNTS = tuple(name for name in SECURITY if name != "route_access")
ENCRYPTION = ("encryption_at_rest", "data_keys", "key_rotation", "key_file", "privacy_registry", "card_search",
              "properties")

GUARDED_BY: dict[str, tuple[str, ...]] = {
    "crm.gdpr": ("gdpr", "export_document", "public_pages", "data_keys", "properties"),
    "crm.gdpr.erasure": ("gdpr", "data_keys", "public_pages", "database_faults", "breaches", "imports"),
    "crm.gdpr.reminders": ("jobs",),
    "crm.gdpr.suppression": ("gdpr", "imports", "public_pages"),
    "crm.gdpr.views": ("gdpr", "export_document", "public_pages", "route_access", "bad_input"),
    "crm.history.diff": ("history", "properties"),
    # not the job tests: they state the queue's rules (crm.jobs, not mutated) and caught none of 300
    # import mutants on 2026-12-07, while they were 18 of a surviving import mutant's 27 seconds
    "crm.imports": ("imports",),
    "crm.locking": ("history", "clients_forms", "clients_api", "attributes", "related_records"),
    "crm.privacy": ENCRYPTION,
    "crm.privacy.keystore": (*ENCRYPTION, "gdpr", "imports"),
    "crm.privacy.masking": ("masking", "history", "card_search", "gdpr", "export_document", "read_access",
                            "attributes"),
    "crm.privacy.filters": ("card_search", "masking", "web_security", "encryption_at_rest"),
    "crm.privacy.views": ("privacy_registry", "route_access", "attributes"),
    "crm.security": SECURITY,
    "crm.security.api": ("login_security", "sessions_and_forced_change", "two_factor", "web_security"),
    "crm.security.capabilities": ROLES,
    "crm.security.grants": ROLES,
    "crm.security.lockout": ("login_security", "sessions_and_forced_change", "staff_management"),
    "crm.security.matrix": ROLES,
    "crm.security.matrix_views": ROLES,
    "crm.security.passwords": ("password_policy", "sessions_and_forced_change", "properties"),
    "crm.security.roles": ROLES,
    # `crm init` makes the first administrator and the built-in roles: test_staff_management runs it in
    # the app's process (2 s a mutant), test_cli as a user does (14 s: a process of its own from scratch)
    "crm.security.service": ("password_policy", "staff_management", "sessions_and_forced_change", "login_security",
                             "cli"),
    # a session waiting for its second factor is the sessions' rule, stated in the two-factor tests
    "crm.security.sessions": ("sessions_and_forced_change", "login_security", "web_security", "staff_management",
                              "two_factor"),
    "crm.security.two_factor": ("two_factor", "login_security"),
    "crm.security.views": ACCOUNTS,
    "crm.security.mail": ("public_pages", "jobs", "sessions_and_forced_change"),
    "crm.security.throttling": ("web_security", "login_security", "public_pages", "clients_api"),
}


def guarding_files(mutant: str) -> tuple[str, ...] | None:
    """Test files (``tests/test_<name>.py``) that guard the module of ``mutant``; None: all."""
    if MUTANT_MARK not in mutant:
        return None
    module = mutant.rsplit(".", 1)[0]
    owners = [name for name in GUARDED_BY if module == name or module.startswith(name + ".")]
    if not owners:
        return None
    return tuple(f"tests/test_{name}.py" for name in GUARDED_BY[max(owners, key=len)])


def _durations() -> dict[str, float]:
    try:
        from mutmut.state import state
    except ImportError:
        return {}
    return state().duration_by_test


def run_order(mutant: str, nodeids: list[str]) -> list[str]:
    """``nodeids`` in the order a mutant runs them: the tests that caught earlier mutants of
    its function first, the rest quickest first (by the time each took in mutmut's first run).

    A mutant's tests stop at the first failure, so a mutant that is caught costs the
    tests run before the one that catches it. mutmut hands them over in no order; a
    slow test run first cost every mutant it did not catch. Mutants of one function
    come one after another (mutmut orders them by their tests' time), and most of them
    are caught by the test that caught the first: that one goes first, weighed by
    what it costs. Tests mutmut has no time for keep their place at the end.
    """
    durations = _durations()
    caught = notes().killers_of(function_of(mutant))
    return sorted(nodeids, key=lambda nodeid: (
        -caught.get(nodeid, 0) / (durations.get(nodeid, 1.0) + 0.2), durations.get(nodeid, float("inf"))))


#: a mutant's test may take this, plus TEST_TIME_FACTOR times what it took in mutmut's first run
TEST_TIME_FLOOR = 30.0
TEST_TIME_FACTOR = 10


def time_allowed(nodeid: str) -> float:
    """Seconds a test may run under a mutant before it counts as failed (the mutant caught).

    A mutant that sends a loop of the test's own process round for ever (a batch that never
    advances) held a core until mutmut's limit, thirty times the time of every test reaching
    the function: eight minutes for a rotation mutant. A test that needs ten times its usual
    time has shown the slip as surely as one that fails.
    """
    return TEST_TIME_FLOOR + TEST_TIME_FACTOR * _durations().get(nodeid, TEST_TIME_FLOOR)


def function_of(mutant: str) -> str:
    """The mutated function of a mutant's name ("crm.locking.x_check__mutmut_3" -> "crm.locking.x_check")."""
    return mutant.rsplit(MUTANT_MARK, 1)[0]


class MutationNotes:
    """What a `make mutate` run has learnt so far, in the folder CRM_MUTATION_NOTES names (none: nothing).

    ``caught/<function>`` lists the test that caught each mutant of that function, a line each;
    ``sessions.tsv`` each mutant's session: its name, seconds, pytest's exit status, tests selected.
    Two sessions run at once (one a core); each appends whole short lines, which do not interleave.
    """

    def __init__(self, folder: str | None):
        self.folder = Path(folder) if folder else None

    def killers_of(self, function: str) -> Counter:
        if self.folder is None:
            return Counter()
        try:
            return Counter((self.folder / "caught" / function).read_text().splitlines())
        except FileNotFoundError:
            return Counter()

    def caught(self, mutant: str, nodeid: str) -> None:
        if self.folder is not None:
            (self.folder / "caught").mkdir(parents=True, exist_ok=True)
            with open(self.folder / "caught" / function_of(mutant), "a", encoding="utf-8") as lines:
                lines.write(nodeid + "\n")

    def session(self, mutant: str, seconds: float, status: int, tests: int) -> None:
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(self.folder / "sessions.tsv", "a", encoding="utf-8") as lines:
                lines.write(f"{mutant}\t{seconds:.3f}\t{status}\t{tests}\n")


def notes() -> MutationNotes:
    return MutationNotes(os.environ.get("CRM_MUTATION_NOTES"))


#: mutmut's MUTANT_UNDER_TEST in its clean run (absent outside mutmut)
CLEAN_RUN = ""


def first_of_each_file(items: list) -> list:
    """The first test of each file: what mutmut's clean run needs to run.

    mutmut runs the selected tests twice before any mutant, each time in a process
    forked from its own: recording which tests reach which function, then "clean",
    to see that they pass without a mutant. The recording run already stops the
    whole run when a test fails, and differs only in recording; the second run of
    every test cost six of a run's sixty minutes. The first test of each file
    still shows that each file's fixtures work in such a process.
    """
    seen: set[str] = set()
    kept = []
    for item in items:
        path = item.nodeid.split("::")[0]
        if path not in seen:
            seen.add(path)
            kept.append(item)
    return kept


#: pytest's exit status of a session that ran no test because its mutant is a known equivalent
#: (mutmut reports it as "skipped"; .ci/mutation_score.py counts it apart from the score)
EQUIVALENT_EXIT = 34
EQUIVALENTS_FILE = Path(__file__).with_name("equivalent_mutants.toml")


@dataclass(frozen=True)
class Change:
    """What a mutant changed: its function (as the code names it, ``crm.locking.is_current``,
    ``crm.locking.LockVersionField.__init__``) and the lines it took out and put in, stripped.

    Unlike mutmut's number, which moves when a line is added above it, this names the same
    change until the line itself is edited."""

    function: str
    before: str
    after: str


def readable_function(mangled: str) -> str:
    """mutmut's name of a function as the code names it.

    >>> readable_function("crm.locking.x_is_current")
    'crm.locking.is_current'
    >>> readable_function("crm.locking.xǁLockVersionFieldǁ__init__")
    'crm.locking.LockVersionField.__init__'
    """
    module, local = mangled.rsplit(".", 1)
    if local.startswith("xǁ"):
        return f"{module}.{local[2:].replace('ǁ', '.')}"
    return f"{module}.{local.removeprefix('x_')}"


def _definition_lines(source: str, name: str) -> list[str]:
    """The stripped lines of function ``name``'s definition in ``source``, its name spelled FUNCTION.

    Cut out by its indentation and checked by parsing the cut alone: parsing a whole mutated
    module (half a megabyte for the security manager) took 0.27 s a session. A cut that does not
    parse as that one function (a string whose lines start at the margin) falls back to that."""
    found = re.search(rf"^([ \t]*)(async[ \t]+)?def[ \t]+{re.escape(name)}\(", source, re.MULTILINE)
    if found is None:
        raise LookupError(name)
    indent = len(found[1])
    lines = source[found.start():].splitlines()
    end = 1
    while end < len(lines) and (not lines[end].strip() or _indent_of(lines[end]) > indent
                                or lines[end][indent:].startswith(")")):
        end += 1
    while not lines[end - 1].strip():
        end -= 1
    text = "\n".join(line[indent:] for line in lines[:end])
    try:
        parsed = ast.parse(text).body
    except SyntaxError:
        parsed = []
    if len(parsed) != 1 or getattr(parsed[0], "name", None) != name:
        text = _definition_parsed(source, name)
    return [line.strip() for line in text.replace(name, "FUNCTION", 1).splitlines()]


def _definition_parsed(source: str, name: str) -> str:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return ast.get_source_segment(source, node)
    raise LookupError(name)


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip())


def change_in(source: str, mutant: str) -> Change:
    """The change ``mutant`` makes, read from the source of its module as mutmut wrote it
    (the original function beside each mutated copy)."""
    function = function_of(mutant)
    local = function.rsplit(".", 1)[1]
    original = _definition_lines(source, local + MUTANT_MARK + "orig")
    mutated = _definition_lines(source, mutant.rsplit(".", 1)[1])
    before, after = [], []
    matcher = difflib.SequenceMatcher(a=original, b=mutated, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            before += original[i1:i2]
            after += mutated[j1:j2]
    return Change(readable_function(function), "\n".join(before), "\n".join(after))


def change_of(mutant: str) -> Change:
    """The change ``mutant`` makes, in the mutated module that a `make mutate` session imports."""
    module = function_of(mutant).rsplit(".", 1)[0]
    origin = importlib.util.find_spec(module).origin
    return change_in(Path(origin).read_text(encoding="utf-8"), mutant)


@cache
def equivalents(path: Path = EQUIVALENTS_FILE) -> dict[Change, str]:
    """The mutants judged equivalent (README, "Mutation testing"), each with why."""
    with open(path, "rb") as file:
        entries = tomllib.load(file)["equivalent"]
    return {Change(entry["function"], before, after): entry["why"]
            for entry in entries for before, after in entry["changes"]}


def is_equivalent(mutant: str) -> bool:
    """Whether ``mutant`` changes nothing a test could see, by tests/equivalent_mutants.toml
    (a mutant whose change cannot be read is not: its tests run)."""
    try:
        return change_of(mutant) in equivalents()
    except LookupError:
        return False
