"""The mutation score per module from ``mutmut results --all true`` (read on standard input).

Killed and segfaulted mutants count as caught; survivors and "suspicious" ones as missed;
timed-out ones are shown apart and left out of the score (on a busy machine a slow test run
times out without the mutant having been caught); mutants not checked (outside the run's
selection) are not counted, so a score is never computed over work that was not done.
"""

from __future__ import annotations

import re
import sys
from collections import Counter, defaultdict

LINE = re.compile(r"^\s*(?P<name>[\w.]+?)\.x\S*__mutmut_\d+: (?P<status>[\w ]+)$")
CAUGHT = {"killed", "segfault"}
MISSED = {"survived", "suspicious"}


def main() -> int:
    by_module: dict[str, Counter] = defaultdict(Counter)
    for line in sys.stdin:
        found = LINE.match(line.rstrip())
        if found:
            by_module[found["name"]][found["status"].strip()] += 1
    total = Counter()
    print(f"{'module':40} {'caught':>7} {'missed':>7} {'no test':>8} {'timeout':>8} {'score':>7}")
    for module, counts in sorted(by_module.items()):
        caught = sum(counts[s] for s in CAUGHT)
        missed = sum(counts[s] for s in MISSED)
        untested, timeout = counts["no tests"], counts["timeout"]
        if not caught + missed + untested:
            continue
        total.update(caught=caught, missed=missed, untested=untested, timeout=timeout)
        score = 100 * caught / (caught + missed + untested)
        print(f"{module:40} {caught:7d} {missed:7d} {untested:8d} {timeout:8d} {score:6.1f}%")
    checked = total["caught"] + total["missed"] + total["untested"]
    if checked:
        print(f"{'all checked':40} {total['caught']:7d} {total['missed']:7d} {total['untested']:8d} "
              f"{total['timeout']:8d} {100 * total['caught'] / checked:6.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
