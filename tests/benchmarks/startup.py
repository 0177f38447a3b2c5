"""Launch to first paint: Hearth's main window against a bare PySide6 window (a benchmark, not a test).

Each figure is the trimmed mean (the middle 60%) of fresh processes (11 by default), timed from the
process's own start (Linux /proc, as `hearth --self-test` reports it) to the window's first paint
event, offscreen. /proc counts a process's start in 10 ms ticks, a tenth of the bare window's time, so
one run's figure is coarse; the tick's phase is random from run to run, so a mean over many runs is
fine-grained where a median would stay on the 10 ms grid. Trimming drops the runs another process
slowed.

- bare: `QApplication` and an empty 1180x760 `QMainWindow`, shown;
- hearth: the path `hearth --self-test` takes (the CLI, the data check, `check_qt`: the application,
  its theme and the real `MainWindow` over a fresh `HEARTH_HOME`);
- bundle (with `--bundle dist/hearth/hearth`): an installed binary's `--self-test` line.

    QT_QPA_PLATFORM=offscreen python -m tests.benchmarks.startup [--runs 11] [--bundle PATH]

The goal (issue #12) is hearth <= 3x bare on the same machine. On a busy machine both figures grow;
compare the ratio, and prefer a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOAL_RATIO = 3.0

BARE = """
import os, time
t0 = time.perf_counter()
def age():
    try:
        with open("/proc/self/stat") as fh:
            start = int(fh.read().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
        with open("/proc/uptime") as fh:
            return float(fh.read().split()[0]) - start
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - t0
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication([])
window = QMainWindow()
window.resize(1180, 760)
class Watcher(QObject):
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Paint:
            print(f"window {age():.3f} s after launch, cpu {time.process_time():.3f} s", flush=True)
            QTimer.singleShot(0, app.quit)
            watched.removeEventFilter(self)
        return False
watcher = Watcher()
window.installEventFilter(watcher)
window.show()
app.exec()
"""

HEARTH = """
import time
started = time.perf_counter()
from desktop_app import cli, gc_pause
gc_pause.pause()  # as cli.main does before it opens the window
from desktop_app import self_test
from desktop_app.core.paths import app_paths
self_test._use_offscreen_without_display()
paths = app_paths()
self_test.check_data(paths)
self_test._route_logs(paths)
shown = self_test.check_qt(paths, started)
print(f"{shown}, cpu {time.process_time():.3f} s (with closing the window)", flush=True)
"""

FIGURE = re.compile(r"window (?:in )?([0-9.]+) s")
CPU = re.compile(r"cpu ([0-9.]+) s")


def _seconds(output: str) -> tuple[float, float | None]:
    match = FIGURE.search(output)
    if match is None:
        raise RuntimeError(f"no paint time in: {output.strip()!r}")
    cpu = CPU.search(output)
    return float(match.group(1)), float(cpu.group(1)) if cpu else None


def run_once(command: list[str]) -> tuple[float, float | None]:
    """One fresh process over a fresh HEARTH_HOME: its launch-to-paint seconds, and the CPU seconds
    it had used by then (None for a bundle), which a busy machine inflates less."""
    with tempfile.TemporaryDirectory(prefix="hearth-startup-") as home:
        env = {**os.environ, "HEARTH_HOME": home, "QT_QPA_PLATFORM": "offscreen"}
        # As installed: pip compiles the modules at install time and a dev install writes them on the
        # first run; with PYTHONDONTWRITEBYTECODE (set on some machines) every launch recompiles ~100
        # modules, a quarter of a second that no user pays.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=120, env=env, cwd=ROOT, check=False
        )
    if proc.returncode != 0:
        raise RuntimeError(f"{command[0]} exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    return _seconds(proc.stdout)


def trimmed_mean(values: list[float]) -> float:
    ordered = sorted(values)
    cut = len(ordered) // 5
    return statistics.fmean(ordered[cut : len(ordered) - cut])


def typical_of(command: list[str], runs: int) -> tuple[float, list[float], float | None]:
    run_once(command)  # untimed: writes the bytecode caches and warms the OS's file cache
    results = [run_once(command) for _ in range(runs)]
    times = [wall for wall, _cpu in results]
    cpus = [cpu for _wall, cpu in results if cpu is not None]
    return trimmed_mean(times), times, statistics.median(cpus) if cpus else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--bundle", type=Path, help="an installed hearth binary: time its --self-test")
    args = parser.parse_args()
    cases = [("bare", [sys.executable, "-c", BARE]), ("hearth", [sys.executable, "-c", HEARTH])]
    if args.bundle is not None:
        cases.append(("bundle", [str(args.bundle), "--self-test"]))
    figures: dict[str, float] = {}
    for name, command in cases:
        typical, times, cpu = typical_of(command, args.runs)
        figures[name] = typical
        runs = " ".join(f"{t:.2f}" for t in times)
        used = f"; {cpu:.3f} s of CPU" if cpu is not None else ""
        print(f"{name:>6}: {typical:.3f} s to the first paint (trimmed mean of {args.runs}: {runs}){used}")
    ok = True
    for name in ("hearth", "bundle"):
        if name in figures:
            ratio = figures[name] / figures["bare"]
            ok = ok and ratio <= GOAL_RATIO
            print(f"{name:>6} / bare: {ratio:.2f}x (goal <= {GOAL_RATIO:.0f}x)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
