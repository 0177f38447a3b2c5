"""The thread governor: fewer llama.cpp threads while other programs keep the CPU busy.

Why: llama.cpp's CPU backend joins its threads at a barrier after every graph node, and the waiting
threads spin. When another process takes one of our cores, every barrier waits for the descheduled
thread while the others burn their time slices spinning: on 2 cores with 2 busy processes, 2 threads
made 0.6 tok/s where 1 thread made 10-27. The spin itself is out of reach here: this llama.cpp is built
with OpenMP, so the barrier is libgomp's, whose spin count is read from GOMP_SPINCOUNT / OMP_WAIT_POLICY
once, when the library loads, for the whole process (and no spinning halves the quiet speed). What can
change between two decodes is the thread count (`llama_set_n_threads`), so that is what we govern.

The policy is a plain object fed the time of each decode call, so tests drive it with made-up times:

- It starts at the physical cores, and remembers the best time per token each thread count achieved
  (separately for generation steps and prefill chunks, which differ by orders of magnitude).
- Generation steps are judged by the median of a window of `WINDOW` steps (one slow step is noise);
  a prefill chunk of at least `MIN_PREFILL_TOKENS` tokens is judged on its own.
- Contended: a judged time above `SLOW` x the best at this count steps down one thread, at once after
  `SPIKES` steps in a row above `SPIKE` x the best (a collapse costs seconds per token: no waiting for a
  window; two in a row so that one hiccup is not taken for a busy CPU).
- Every change is a trial, measured and compared: the new count is kept only if it is at least `GAIN`
  faster than the count it left; otherwise it goes back (and the slow time becomes that count's new
  best, since fewer threads did not help: a longer context, not a busy CPU).
- While below the top it probes one thread up every `PROBE_S` seconds of decoding; a failed probe
  doubles the wait (up to `PROBE_MAX_S`), so a steadily busy machine is probed rarely and a calm one is
  recovered fast. A probe that is `SPIKE` x slower is abandoned after one step. The waits count decoding
  time, not wall time: after an idle minute a request does not start with a probe that could cost a
  collapsed step (seconds) under a load that never went away.
  At the top it also probes one thread down, rarely (`DOWN_PROBE_S`, doubling to `DOWN_PROBE_MAX_S`), in
  case the CPU was already busy when the model loaded and there is no quiet time to compare with.
- Given the OS's CPU counts (`load`, cpu_load.py), it probes when they say a probe can win: up only
  when a CPU stood idle (`ROOM`), down from the top as soon as other programs keep a core busy
  (`TAKEN`), and otherwise only after `PROBE_MAX_S` / `DOWN_PROBE_MAX_S` more, in case the counts
  mislead. Under a steady load every probe up fails and collapses its steps (on 2 cores with one busy
  process, the timer's probes cost 0.64-0.80 of the best fixed count's speed). The engine gives
  them to generation governors only: a prefill chunk can gain from one more thread even with every
  core taken (it wins a larger share of the CPU), so for prefill the timer's probes stay.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from desktop_app.core.engine.cpu_load import CpuReading

Kind = Literal["generation", "prefill"]
LoadReader = Callable[[], CpuReading | None]  # cpu_load.CpuLoad.reading

WINDOW: Final = 8  # generation steps per judgement
MIN_PREFILL_TOKENS: Final = 16  # smaller chunks are mostly overhead
SLOW: Final = 1.5  # x the best time at this count: contended
SPIKE: Final = 4.0  # steps this slow step down at once
SPIKES: Final = 2  # ... this many in a row
GAIN: Final = 0.05  # a trial must be this much faster to stick
PROBE_S: Final = 1.0  # seconds of decoding
PROBE_MAX_S: Final = 32.0
DOWN_PROBE_S: Final = 8.0
DOWN_PROBE_MAX_S: Final = 256.0
ROOM: Final = 0.5  # idle CPUs that make a probe up worth it
TAKEN: Final = 0.5  # CPUs other programs use that make a probe down worth it

BUSY = "the CPU is busy"


@dataclass(frozen=True)
class ThreadState:
    """What the engine runs with now; `reason` says why it is below `max_threads` (None: it is not,
    or the user fixed the count)."""

    n_threads: int
    max_threads: int
    automatic: bool
    reason: str | None = None

    def describe(self) -> str:
        """'1 thread: the CPU is busy' for the status bar; '' when there is nothing to say."""
        if self.reason is None:
            return ""
        noun = "thread" if self.n_threads == 1 else "threads"
        return f"{self.n_threads} {noun}: {self.reason}"


@dataclass
class _Trial:
    home: int  # the count to go back to
    reference: dict[Kind, float]  # time per token at `home` to beat, per kind
    down: bool
    slow: bool = False  # started because `home` got slow (not a periodic probe)


class ThreadGovernor:
    """The policy. `apply(n)` sets the thread count (llama_set_n_threads); `clock` is monotonic seconds
    (injected in tests). Only the engine's thread calls it."""

    def __init__(
        self,
        max_threads: int,
        apply: Callable[[int], None],
        *,
        clock: Callable[[], float] = time.perf_counter,
        load: LoadReader | None = None,
    ) -> None:
        """`load` reads the OS's CPU counts (cpu_load.CpuLoad.reading); None probes on the timer."""
        self.max_threads = max(1, max_threads)
        self._load = load
        self.threads = self.max_threads
        self.clock = clock
        self._apply = apply
        self._best: dict[tuple[Kind, int], float] = {}
        self._last: dict[tuple[Kind, int], float] = {}
        self._window: list[float] = []
        self._trial: _Trial | None = None
        self._up_wait = PROBE_S
        self._down_wait = DOWN_PROBE_S
        self._decoding = 0.0  # seconds spent in decode calls: the probes' timeline
        self._spikes: list[float] = []
        self._next_up = PROBE_S
        # With readings a busy CPU at the top is tried at once; the timer's first wait is for guessing.
        self._next_down = DOWN_PROBE_S if load is None else 0.0
        self.changes = 0  # thread-count changes so far (tests, logs)

    @property
    def state(self) -> ThreadState:
        """The settled count: a trial under way is not news (a quiet machine's rare probe down would
        otherwise flash "the CPU is busy")."""
        settled = self._trial.home if self._trial is not None else self.threads
        return ThreadState(settled, self.max_threads, True, BUSY if settled < self.max_threads else None)

    # -- feeding --------------------------------------------------------------------------------------

    def step(self, started: float, kind: Kind = "generation", tokens: int = 1) -> None:
        """One decode call of `tokens` tokens that began at `started` (a `clock()` reading) just ended."""
        per_token = (self.clock() - started) / max(tokens, 1)
        self.observe(per_token, kind, tokens)

    def observe(self, per_token: float, kind: Kind = "generation", tokens: int = 1) -> None:
        """The time per token of one decode call."""
        self._decoding += per_token * tokens
        if kind == "prefill":
            if tokens >= MIN_PREFILL_TOKENS:
                self._judge(kind, per_token)
            return
        self._window.append(per_token)
        best = self._best.get((kind, self.threads))
        if self._trial is not None:
            reference = self._trial.reference.get(kind)
            if reference is not None and per_token > SPIKE * reference:
                self._window.clear()  # the trial made it far worse: no need to sit out the window
                self._judge(kind, per_token)
                return
        elif best is not None and self.threads > 1 and per_token > SPIKE * best:
            self._spikes.append(per_token)
            if len(self._spikes) >= SPIKES:
                slow = min(self._spikes)
                self._window.clear()
                self._spikes.clear()
                self._judge(kind, slow)
                return
        else:
            self._spikes.clear()
        if len(self._window) >= WINDOW:
            median = _median(self._window)
            self._window.clear()
            self._judge(kind, median)

    # -- deciding -------------------------------------------------------------------------------------

    def _judge(self, kind: Kind, per_token: float) -> None:
        now = self._decoding
        key = (kind, self.threads)
        trial = self._trial
        if trial is not None:
            reference = trial.reference.get(kind)
            if reference is None:
                self._remember(key, per_token)  # a kind the trial has no reference for: just learn
                return
            self._trial = None
            if per_token < reference * (1 - GAIN):
                self._remember(key, per_token)
                if trial.down:
                    self._next_up = now + self._up_wait
                else:
                    self._up_wait = PROBE_S  # the load went away: probe again soon
                    self._next_up = now + PROBE_S
                return
            # No better: go back. If fewer threads did not help, the slowdown was not contention.
            if trial.down:
                if trial.slow:
                    for k, time_at_home in trial.reference.items():
                        self._best[(k, trial.home)] = time_at_home
                self._down_wait = min(self._down_wait * 2, DOWN_PROBE_MAX_S)
                self._next_down = now + self._down_wait
            else:
                self._up_wait = min(self._up_wait * 2, PROBE_MAX_S)
                self._next_up = now + self._up_wait
            self._set(trial.home)
            return
        best = self._best.get(key)
        self._remember(key, per_token)
        if self.threads > 1 and best is not None and per_token > SLOW * best:
            # Only this kind's time is known to be the contended one: the other's may be from before.
            self._start_trial(self.threads - 1, down=True, slow=True, kinds=(kind,))
        elif self.threads < self.max_threads and now >= self._next_up:
            reading = self._reading()
            if reading is None or reading.idle >= ROOM or now >= self._next_up + PROBE_MAX_S:
                self._start_trial(self.threads + 1, down=False)
        elif self.threads == self.max_threads > 1 and now >= self._next_down:
            reading = self._reading()
            if reading is None or reading.others >= TAKEN or now >= self._next_down + DOWN_PROBE_MAX_S:
                self._start_trial(self.threads - 1, down=True)

    def _reading(self) -> CpuReading | None:
        return self._load() if self._load is not None else None

    def _remember(self, key: tuple[Kind, int], per_token: float) -> None:
        self._last[key] = per_token
        best = self._best.get(key)
        self._best[key] = per_token if best is None else min(best, per_token)

    def _start_trial(
        self,
        threads: int,
        *,
        down: bool,
        slow: bool = False,
        kinds: tuple[Kind, ...] = ("generation", "prefill"),
    ) -> None:
        home = self.threads
        reference = {kind: self._last[(kind, home)] for kind in kinds if (kind, home) in self._last}
        self._trial = _Trial(home=home, reference=reference, down=down, slow=slow)
        self._set(threads)

    def _set(self, threads: int) -> None:
        if threads == self.threads:
            return
        self.threads = threads
        self._window.clear()
        self._spikes.clear()
        self.changes += 1
        self._apply(threads)


def _median(values: Sequence[float]) -> float:
    """statistics.median without importing statistics (and fractions, decimal) before the first paint."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
