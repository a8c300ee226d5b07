"""Run a bench script in several fresh processes and print each case's median ratio over them.

Within one process, interleaved rounds cancel the host's drift, but not where the weights landed
in memory: on this project's 2-core host the same build's ratio against the old step path came out
0.95, 1.08, 1.06, 1.04 and 1.02 in five processes (bench/call_overhead.py, 40 rounds each), a spread
larger than the differences being measured. This script reruns ``COMMAND`` ``N`` times, reads every
output line with ``ratio=X``, names the case by the text before the first double space, and prints
per case the ratio of each process and their median.

    python bench/processes.py 5 python bench/call_overhead.py --rounds 40
    python bench/processes.py 5 python bench/compare_versions.py --base c80dae0 --rounds 3 --only greedy
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys

RATIO = re.compile(r"ratio=([0-9.]+)")


def main() -> None:
    if len(sys.argv) < 3 or not sys.argv[1].isdigit():
        sys.exit(__doc__)
    runs, command = int(sys.argv[1]), sys.argv[2:]
    cases: dict[str, list[float]] = {}
    for i in range(runs):
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            found = RATIO.search(line)
            if found:
                cases.setdefault(re.split(r"\s{2,}", line.strip())[0], []).append(float(found.group(1)))
        print(f"process {i + 1} of {runs} done", file=sys.stderr, flush=True)
    print(f"{' '.join(command)}: {runs} processes; per case, each process's ratio and their median")
    for case, ratios in cases.items():
        shown = " ".join(f"{r:.2f}" for r in ratios)
        print(f"{case:<34} {shown}   median={statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
