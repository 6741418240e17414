"""The list of equivalent mutants stays true to the code, and `make mutate` reads a mutant's change
as its list names it (tests/equivalent_mutants.toml, README "Mutation testing")."""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from tests.mutation_scope import Change, change_in, equivalents

ROOT = Path(__file__).resolve().parent.parent


@cache
def source_of(function: str) -> tuple[Path, list[str]]:
    """The file and the stripped lines of ``function`` ("crm.locking.LockVersionField.__init__")
    in the code as written, its own name in its ``def`` line spelled FUNCTION."""
    parts = function.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        base = ROOT.joinpath(*parts[:cut])
        for path in (base.with_suffix(".py"), base / "__init__.py"):
            if path.exists():
                source = path.read_text(encoding="utf-8")
                node = ast.parse(source)
                for name in parts[cut:]:
                    node = next(child for child in node.body
                                if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                                and child.name == name)
                text = ast.get_source_segment(source, node).replace(node.name, "FUNCTION", 1)
                return path, [line.strip() for line in text.splitlines()]
    raise LookupError(function)


def occurrences(lines: list[str], block: list[str]) -> int:
    return sum(lines[start:start + len(block)] == block for start in range(len(lines) - len(block) + 1))


@pytest.mark.parametrize("change", list(equivalents()), ids=lambda change: f"{change.function}: {change.after}")
def test_each_equivalent_names_one_place_of_its_function_and_says_why(change):
    """An entry whose lines were edited or moved to another function names a mutant that is no
    longer made: it must be judged again, not skip a new mutant that happens to match."""
    _path, lines = source_of(change.function)
    assert occurrences(lines, change.before.split("\n")) == 1, "the lines are not (once) in the function"
    assert change.after != change.before
    assert len(equivalents()[change].split()) >= 4, "an entry says why no test can tell the mutant apart"


MUTATED_MODULE = '''
class Field:
    def xǁFieldǁcheck__mutmut_orig(
        self, value, limit=10,
    ) -> bool:
        """Whether value fits."""
        text = """
a
"""
        return value is not None and len(value) < limit

    def xǁFieldǁcheck__mutmut_1(
        self, value, limit=11,
    ) -> bool:
        """Whether value fits."""
        text = """
a
"""
        return value is not None and len(value) < limit

    def xǁFieldǁcheck__mutmut_2(
        self, value, limit=10,
    ) -> bool:
        """Whether value fits."""
        text = """
a
"""
        return value is not None or len(value) <= limit

def x_plain__mutmut_orig(a):
    return a

def x_plain__mutmut_1(a):
    return None
'''


def test_a_mutants_change_is_read_from_its_function_and_no_other():
    module = "crm.example"
    assert change_in(MUTATED_MODULE, f"{module}.xǁFieldǁcheck__mutmut_1") == Change(
        "crm.example.Field.check", "self, value, limit=10,", "self, value, limit=11,")
    assert change_in(MUTATED_MODULE, f"{module}.xǁFieldǁcheck__mutmut_2") == Change(
        "crm.example.Field.check", "return value is not None and len(value) < limit",
        "return value is not None or len(value) <= limit")
    assert change_in(MUTATED_MODULE, f"{module}.x_plain__mutmut_1") == Change(
        "crm.example.plain", "return a", "return None")
    with pytest.raises(LookupError):
        change_in(MUTATED_MODULE, f"{module}.x_plain__mutmut_2")


def test_the_score_leaves_equivalents_out_and_counts_them_apart():
    results = "".join(f"    crm.locking.x_is_current__mutmut_{number}: {status}\n" for number, status in
                      enumerate(["killed", "killed", "killed", "survived", "skipped", "skipped"], 1))
    report = subprocess.run([sys.executable, str(ROOT / ".ci" / "mutation_score.py")], input=results,
                            capture_output=True, text=True, check=True).stdout
    header, row = report.splitlines()[:2]
    assert header.split() == ["module", "caught", "missed", "no", "test", "equivalent", "timeout", "score"]
    assert row.split() == ["crm.locking", "3", "1", "0", "2", "0", "75.0%"]
