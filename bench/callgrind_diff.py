#!/usr/bin/env python3
"""Where one request's instructions go: the per-function difference of two callgrind files.

    bench/callgrind_diff.py BASE.callgrind FULL.callgrind N [TOP]

BASE is a server run with the preparation and warm-up only, FULL the same run with N more
requests (bench/instructions.sh with PROFILE_DIR). For every function it prints
(FULL - BASE) / N, inclusive (callees counted) and exclusive, the TOP (default 60) largest by
inclusive cost. Reads callgrind_annotate's output, so it needs valgrind's tools.
"""

import subprocess
import sys


def costs(path, inclusive):
    out = subprocess.run(
        ["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}", "--threshold=100", path],
        check=True, capture_output=True, text=True,
    ).stdout
    table = {}
    started = False
    for line in out.splitlines():
        if "file:function" in line:
            started = True
            continue
        if not started or not line.strip() or line.startswith("-"):
            continue
        count, _, rest = line.strip().partition(" ")
        count = count.replace(",", "")
        if not count.isdigit():
            continue
        # "(12.34%)  file:function [object]"
        rest = rest.strip()
        if rest.startswith("("):
            rest = rest.split(")", 1)[1].strip()
        name = rest.rsplit(" [", 1)[0]
        table[name] = table.get(name, 0) + int(count)
    return table


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    base, full, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    top = int(sys.argv[4]) if len(sys.argv) == 5 else 60
    inc_b, inc_f = costs(base, True), costs(full, True)
    exc_b, exc_f = costs(base, False), costs(full, False)
    rows = []
    for name, cost in inc_f.items():
        per = (cost - inc_b.get(name, 0)) / n
        own = (exc_f.get(name, 0) - exc_b.get(name, 0)) / n
        rows.append((per, own, name))
    rows.sort(reverse=True)
    print(f"{'inclusive':>11} {'exclusive':>10}  function (instructions per request)")
    for per, own, name in rows[:top]:
        print(f"{per:11.0f} {own:10.0f}  {name[:160]}")


if __name__ == "__main__":
    main()
