"""The mutation score per module from ``mutmut results --all true`` (read on standard input).

Killed and segfaulted mutants count as caught; survivors and "suspicious" ones as missed;
timed-out ones are shown apart and left out of the score (on a busy machine a slow test run
times out without the mutant having been caught); so are the known equivalents, which mutmut
reports as "skipped" (tests/equivalent_mutants.toml: their sessions run no test); mutants not
checked (outside the run's selection) are not counted, so a score is never computed over work
that was not done.

A mutant whose last pytest session stopped before its tests (an internal or usage error, in
``sessions.tsv`` of tests/mutation_scope.py, named as the first argument) was not tried:
mutmut counts it as caught or timed out, this report as neither, and names it, and the
command fails, so that a broken harness is not read as a score.
"""

from __future__ import annotations

import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

LINE = re.compile(r"^\s*(?P<mutant>(?P<name>[\w.]+?)\.x\S*__mutmut_\d+): (?P<status>[\w ]+)$")
CAUGHT = {"killed", "segfault"}
MISSED = {"survived", "suspicious"}
#: pytest's exit statuses of a session that did not run its tests: internal error, usage error
NOT_RUN = {3, 4}


def sessions_not_run(sessions: Path | None) -> dict[str, int]:
    """Mutants whose last session in ``sessions`` ended in NOT_RUN, with that status."""
    last: dict[str, int] = {}
    if sessions is not None and sessions.exists():
        for line in sessions.read_text(encoding="utf-8").splitlines():
            mutant, _seconds, status, _tests = line.split("\t")
            last[mutant] = int(status)
    return {mutant: status for mutant, status in last.items() if status in NOT_RUN}


def main(argv: list[str]) -> int:
    not_run = sessions_not_run(Path(argv[1]) if len(argv) > 1 else None)
    by_module: dict[str, Counter] = defaultdict(Counter)
    broken = []
    for line in sys.stdin:
        found = LINE.match(line.rstrip())
        if not found:
            continue
        if found["mutant"] in not_run:
            broken.append(f"{found['mutant']} (pytest exit {not_run[found['mutant']]})")
            by_module[found["name"]]["not run"] += 1
        else:
            by_module[found["name"]][found["status"].strip()] += 1
    total = Counter()
    print(f"{'module':40} {'caught':>7} {'missed':>7} {'no test':>8} {'equivalent':>11} {'timeout':>8} {'score':>7}")
    for module, counts in sorted(by_module.items()):
        caught = sum(counts[s] for s in CAUGHT)
        missed = sum(counts[s] for s in MISSED)
        untested, equivalent, timeout = counts["no tests"], counts["skipped"], counts["timeout"]
        if not caught + missed + untested:
            continue
        total.update(caught=caught, missed=missed, untested=untested, equivalent=equivalent, timeout=timeout)
        score = 100 * caught / (caught + missed + untested)
        print(f"{module:40} {caught:7d} {missed:7d} {untested:8d} {equivalent:11d} {timeout:8d} {score:6.1f}%")
    checked = total["caught"] + total["missed"] + total["untested"]
    if checked:
        print(f"{'all checked':40} {total['caught']:7d} {total['missed']:7d} {total['untested']:8d} "
              f"{total['equivalent']:11d} {total['timeout']:8d} {100 * total['caught'] / checked:6.1f}%")
    if broken:
        print(f"\n{len(broken)} mutants were not tried: their session stopped before its tests "
              "(left out above; run them again with make mutate MUTANTS=NAME):")
        print("\n".join(f"  {line}" for line in sorted(broken)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
