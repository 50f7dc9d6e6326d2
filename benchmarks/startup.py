"""Startup time: ``import infotrafic`` and ``infotrafic --help`` against ``import pandas``.

Each command runs ``--repeat`` times (default 10) in a fresh subprocess, the commands interleaved
round-robin so that a change of load on a shared machine hits all of them alike; one untimed
warm-up run each first (byte-code caches). Wall time with ``time.perf_counter`` around
``subprocess.run``. Prints the median (and min/max) of each, its ratio to its target
(``import infotrafic`` <= 0.5 s, ``--help`` <= 0.3 s) and to the median of ``import pandas``
measured in the same run, labelled with the load average before and after.

``infotrafic --help`` is the console script installed next to the interpreter; when the
``infotrafic`` found on ``PATH`` is another file (e.g. a pyenv shim), it is timed as well.

Run::

    python benchmarks/startup.py                 # 10 runs each
    python benchmarks/startup.py --repeat 20 --json /work/runs/startup.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

IMPORT_TARGET = 0.5
HELP_TARGET = 0.3


def _commands() -> list[tuple[str, list[str], float | None]]:
    """(label, argv, target seconds) of every timed command."""
    py = sys.executable
    script = Path(py).parent / "infotrafic"
    on_path = shutil.which("infotrafic")
    if not script.exists():
        if on_path is None:
            sys.exit("no `infotrafic` console script: pip install -e . first")
        script = Path(on_path)
    commands: list[tuple[str, list[str], float | None]] = [
        ("python -c 'import pandas'", [py, "-c", "import pandas"], None),
        ("python -c 'import infotrafic'", [py, "-c", "import infotrafic"], IMPORT_TARGET),
        ("infotrafic --help", [str(script), "--help"], HELP_TARGET),
        ("python -m infotrafic backtest --help", [py, "-m", "infotrafic", "backtest", "--help"],
         HELP_TARGET),
    ]  # fmt: skip
    if on_path is not None and Path(on_path).resolve() != script.resolve():
        commands.append((f"infotrafic --help (PATH: {on_path})", [on_path, "--help"], HELP_TARGET))
    return commands


def _run(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", "-n", type=int, default=10, help="Runs of each command.")
    parser.add_argument("--json", type=Path, help="Also write the results to this JSON file.")
    args = parser.parse_args()

    commands = _commands()
    for _, argv, _ in commands:  # warm-up: byte-code caches, file system cache
        _run(argv)
    load_before = os.getloadavg()
    times: dict[str, list[float]] = {label: [] for label, _, _ in commands}
    for _ in range(args.repeat):
        for label, argv, _ in commands:
            times[label].append(_run(argv))
    load_after = os.getloadavg()

    pandas_median = statistics.median(times[commands[0][0]])
    print(f"Python {sys.version.split()[0]} ({sys.executable}), {os.cpu_count()} CPUs")
    print(
        "load average (1, 5, 15 min): before "
        + " ".join(f"{x:.2f}" for x in load_before)
        + ", after "
        + " ".join(f"{x:.2f}" for x in load_after)
    )
    print(f"{args.repeat} runs each, fresh subprocesses, interleaved\n")
    header = f"{'command':<42} {'median':>8} {'min':>7} {'max':>7} {'/target':>8} {'/pandas':>8}"
    print(header)
    print("-" * len(header))
    rows = []
    for label, argv, target in commands:
        values = times[label]
        median = statistics.median(values)
        vs_target = median / target if target else None
        vs_pandas = median / pandas_median
        print(
            f"{label:<42} {median:>7.3f}s {min(values):>6.3f}s {max(values):>6.3f}s "
            + (f"{vs_target:>8.2f}" if vs_target is not None else f"{'-':>8}")
            + f" {vs_pandas:>8.2f}"
        )
        rows.append(
            {
                "command": label,
                "argv": argv,
                "times_s": values,
                "median_s": median,
                "target_s": target,
                "ratio_to_target": vs_target,
                "ratio_to_import_pandas": vs_pandas,
            }
        )
    print("\n/target: median over target (<= 1 meets it); /pandas: median over `import pandas`.")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "python": sys.version,
                    "cpus": os.cpu_count(),
                    "repeat": args.repeat,
                    "loadavg_before": load_before,
                    "loadavg_after": load_after,
                    "results": rows,
                },
                indent=2,
            )
        )
        print(f"JSON -> {args.json}")


if __name__ == "__main__":
    main()
