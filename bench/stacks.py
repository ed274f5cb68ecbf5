"""Who calls FRAME in a py-spy collapsed profile, and what share of samples it holds.

    .venv/bin/python bench/stacks.py bench/profiles/fanout.collapsed.txt "wait_for (" [DEPTH]
"""

from __future__ import annotations

import collections
import re
import signal
import sys


def main() -> None:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # | head
    path, target = sys.argv[1], sys.argv[2]
    depth = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    hits, total = 0, 0
    chains: collections.Counter = collections.Counter()
    with open(path) as f:
        for line in f:
            stack, _, n = line.rstrip().rpartition(" ")
            n = int(n)
            total += n
            frames = stack.split(";")
            for i, frame in enumerate(frames):
                if target in frame:
                    key = " <- ".join(re.sub(r" \(.*/", " (", x)
                                      for x in reversed(frames[max(0, i - depth):i + 1]))
                    chains[key] += n
                    hits += n
                    break
    print(f"{target}: {hits}/{total} samples = {100 * hits / max(total, 1):.1f}%")
    for key, n in chains.most_common(8):
        print(f"  {100 * n / total:5.1f}% {key}")


if __name__ == "__main__":
    main()
