"""`hearth --self-test [--model PATH]`: does this installation work? One line if it does.

Made for installed bundles (PyInstaller, .deb, .app, Inno Setup), where a missing Qt plugin, shared
library or data file only shows up at run time. It checks, in order:

- the data folders: created, writable (a probe file is written and deleted in each), the database opens;
- Qt: the application object, the SVG image plugin, the icon and the real main window, shown and
  painted (offscreen when there is no display); it reports the time from launch to the first paint;
- llama.cpp: it imports, its CPU features are ones this CPU has, and it is not a native/AMX build
  (those crash at the first decode on VMs that advertise AMX without allowing it: docs/ARCHITECTURE.md);
- the API server: uvicorn and Starlette start on 127.0.0.1 (a free port) and answer a request with a
  random key (PyInstaller misses uvicorn's dynamically imported protocol modules when a hook is off);
- the template worker: a model file's template is rendered in a child process, which in a bundle is
  the Hearth binary itself started by multiprocessing (a missing `freeze_support()` call opens a
  second app instead, or hangs);
- the CPU counts the thread governor reads (cpu_load.py): how many CPUs stand idle, or that they
  cannot be read here (the governor then probes on its timer);
- with `--model`: the model loads through the engine and generates 8 tokens.

Exit 0 with one summary line on stdout, or 1 with one line per failure on stderr. Everything goes to
the folders `HEARTH_HOME` names when it is set; without it, the user's own folders, exactly as the app
would use them (the window is built with the download queue held, so it never touches the network).
"""

# ruff: noqa: TID251 - like app.py and cli.py, the self-test is a Qt entry point, not part of the core

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from desktop_app import __version__
from desktop_app.core.errors import HearthError
from desktop_app.core.paths import AppPaths, app_paths

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget

PROMPT = "The hearth is the heart of the home. In winter, the family gathers"
GENERATE_TOKENS = 8
WINDOW_TIMEOUT_S = 20.0
# ggml's feature names (llama_print_system_info) -> the flag /proc/cpuinfo shows when the CPU has it.
CPU_FLAGS = {
    "SSE3": "pni",
    "SSSE3": "ssse3",
    "AVX": "avx",
    "AVX2": "avx2",
    "F16C": "f16c",
    "FMA": "fma",
    "BMI2": "bmi2",
    "AVX512": "avx512f",
    "AVX512_VBMI": "avx512_vbmi",
    "AVX512_VNNI": "avx512_vnni",
    "AVX512_BF16": "avx512_bf16",
    "AVX_VNNI": "avx_vnni",
    "AMX_INT8": "amx_int8",
}
ISA_ORDER = ("AVX512", "AVX2", "AVX", "SSE3", "NEON", "SVE")
ACCELERATORS = ("CUDA", "METAL", "VULKAN", "HIP", "SYCL")


@dataclass
class Report:
    parts: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def fail(self, check: str, problem: object) -> None:
        text = " ".join(str(problem).split()) or type(problem).__name__
        self.failures.append(f"self-test: {check} failed: {text}")


def main(model: Path | None = None) -> int:
    """Run every check; print the summary (exit 0) or the failures (exit 1)."""
    started = time.perf_counter()
    _use_offscreen_without_display()
    report = Report()
    paths = app_paths()
    data_ok = _checked(report, "data", lambda: check_data(paths))
    _route_logs(paths if data_ok else None)
    # Qt before llama.cpp, as in the app (which imports llama.cpp lazily): the launch-to-window time
    # then measures what a user waits for.
    _checked(report, "qt", lambda: check_qt(paths if data_ok else None, started))
    _checked(report, "llama.cpp", check_llama)
    _checked(report, "server", check_server)
    _checked(report, "templates", check_template_worker)
    _checked(report, "resources", check_resources)
    _checked(report, "cpu counts", check_cpu_counts)
    if model is not None:
        _checked(report, "model", lambda: check_model(model))
    if report.failures:
        for line in report.failures:
            print(line, file=sys.stderr)
        return 1
    print(f"self-test ok: hearth {__version__}, " + ", ".join(report.parts))
    return 0


def _checked(report: Report, name: str, check: Callable[[], str]) -> bool:
    try:
        report.parts.append(check())
        return True
    except HearthError as exc:
        report.fail(name, exc)
    except Exception as exc:  # a self-test reports what broke instead of dying with a traceback
        logging.getLogger(__name__).debug("self-test %s", name, exc_info=True)
        report.fail(name, f"{type(exc).__name__}: {exc}")
    return False


def _use_offscreen_without_display() -> None:
    linux_like = sys.platform.startswith(("linux", "freebsd"))
    no_display = not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if linux_like and no_display and not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"


def _route_logs(paths: AppPaths | None) -> None:
    """Library chatter goes to the log file (or nowhere), so the output stays one line."""
    if paths is not None:
        from desktop_app.core.logs import setup_logging

        setup_logging(paths)
    elif not logging.getLogger().handlers:
        logging.getLogger().addHandler(logging.NullHandler())


# -- data ------------------------------------------------------------------------------------------


def check_data(paths: AppPaths) -> str:
    paths.ensure()
    probe_name = f".hearth-self-test-{os.getpid()}"
    for folder in paths.all_dirs():
        probe = folder / probe_name
        try:
            probe.write_bytes(b"hearth self-test\n")
            if probe.read_bytes() != b"hearth self-test\n":
                raise OSError(f"{probe} reads back different bytes")
        except OSError as exc:
            raise HearthError(f"cannot write in {folder}: {exc.strerror or exc}") from exc
        finally:
            probe.unlink(missing_ok=True)
    from desktop_app.core.db import Database

    db = Database(paths.database)
    try:
        db.connection().execute("SELECT count(*) FROM models").fetchone()
    finally:
        db.close()
    return f"data {paths.data}"


# -- llama.cpp -------------------------------------------------------------------------------------


def llama_features(info: str) -> dict[str, bool]:
    """`CPU : SSE3 = 1 | AVX = 1 | … | Metal : EMBED_LIBRARY = 1 |` -> {"SSE3": True, …}."""
    features: dict[str, bool] = {}
    for chunk in info.replace(":", "|").split("|"):
        name, sep, value = chunk.partition("=")
        if sep:
            features[name.strip().upper()] = value.strip() == "1"
    upper = info.upper().replace("MTL", "METAL")  # Metal's devices and backend may be named MTL
    for accelerator in ACCELERATORS:  # backends show up as "CUDA : ARCHS = …" sections
        if re.search(rf"\b{accelerator}\s*:", upper):
            features.setdefault(accelerator, True)
    return features


def cpu_flags() -> set[str] | None:
    """The CPU's feature flags (Linux), or None where /proc/cpuinfo does not exist."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        return None
    return set()


def llama_problems(features: dict[str, bool], flags: set[str] | None, *, frozen: bool) -> list[str]:
    problems = []
    if any(on for name, on in features.items() if name.startswith("AMX")):
        problems.append(
            "this llama.cpp was built with AMX (a GGML_NATIVE build); it crashes at the first token on "
            "machines that advertise AMX without allowing it. Rebuild it with -DGGML_NATIVE=OFF"
        )
    if frozen and features.get("AVX512"):
        problems.append(
            "this bundle's llama.cpp needs AVX-512, so it cannot run on most CPUs. Build installers with "
            "HEARTH_PORTABLE_BASELINE=1 (make package does)"
        )
    if flags is not None:
        missing = [name for name, flag in CPU_FLAGS.items() if features.get(name) and flag not in flags]
        if missing:
            problems.append(
                f"this llama.cpp uses {', '.join(missing)}, which this CPU does not have "
                "(it would crash at the first token). Install the build for older CPUs"
            )
    return problems


def check_llama() -> str:
    import llama_cpp

    info = llama_cpp.llama_print_system_info()
    text = info.decode("utf-8", "replace") if isinstance(info, bytes) else str(info)
    features = llama_features(text)
    flags = cpu_flags() if sys.platform.startswith("linux") else None
    problems = llama_problems(features, flags, frozen=bool(getattr(sys, "frozen", False)))
    if problems:
        raise HearthError("; ".join(problems) + ".")
    isa = next((name for name in ISA_ORDER if features.get(name)), "generic CPU")
    extras = [name.title() if name == "METAL" else name for name in ACCELERATORS if features.get(name)]
    return f"llama.cpp {llama_cpp.__version__} ({'+'.join([isa, *extras])})"


# -- Qt --------------------------------------------------------------------------------------------


def process_age_s() -> float | None:
    """Seconds since this process started (Linux /proc, 10 ms resolution), or None elsewhere."""
    try:
        with open("/proc/self/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime", encoding="ascii") as fh:
            uptime = float(fh.read().split()[0])
        return max(0.0, uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


def check_qt(paths: AppPaths | None, started: float) -> str:
    from PySide6 import QtCore
    from PySide6.QtCore import QThreadPool
    from PySide6.QtGui import QImageReader
    from PySide6.QtWidgets import QWidget

    from desktop_app.app import create_application

    app = create_application([sys.argv[0] if sys.argv else "hearth"])
    problems = []
    formats = {bytes(f.data()).decode().lower() for f in QImageReader.supportedImageFormats()}
    problems += [f"no {fmt} image plugin" for fmt in ("svg", "ico") if fmt not in formats]
    if app.windowIcon().isNull():
        problems.append("the app icon did not load")
    window: QWidget
    if paths is not None:
        from desktop_app.core.services import AppServices
        from desktop_app.ui.main_window import MainWindow

        # without the download worker: a self-test opens no connection
        window = MainWindow(AppServices.open(paths), start_downloads=False)
    else:  # the data check failed and said why; still prove that Qt itself can show a window
        window = QWidget()
    try:
        painted = _show_until_painted(window, started)
    finally:
        window.close()  # the main window stops its inference thread here
        QThreadPool.globalInstance().waitForDone(10_000)
        window.deleteLater()
        app.processEvents()
    if painted is None:
        problems.append(f"the window was not painted within {WINDOW_TIMEOUT_S:.0f} s")
    if problems or painted is None:
        raise HearthError("; ".join(problems) + ".")
    painted_after, age = painted
    shown = f"window {age:.3f} s after launch" if age is not None else f"window in {painted_after:.2f} s"
    return f"qt {QtCore.qVersion()} {app.platformName()}, {shown}"


def _show_until_painted(window: QWidget, started: float) -> tuple[float, float | None] | None:
    """Show the window and wait for its first paint event: seconds since `started` and the process's
    age (None where /proc cannot tell), both taken at the paint, not after the window closed (which
    waits for the inference thread); None if it was never painted."""
    from PySide6.QtCore import QEvent, QEventLoop, QObject, QTimer

    class PaintWatcher(QObject):
        def __init__(self, loop: QEventLoop) -> None:
            super().__init__()
            self.loop = loop
            self.at: float | None = None
            self.age: float | None = None

        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint and self.at is None:
                self.at = time.perf_counter() - started
                self.age = process_age_s()
                QTimer.singleShot(0, self.loop.quit)
            return False

    loop = QEventLoop()
    watcher = PaintWatcher(loop)
    window.installEventFilter(watcher)
    QTimer.singleShot(int(WINDOW_TIMEOUT_S * 1000), loop.quit)
    window.show()
    if watcher.at is None:
        loop.exec()
    window.removeEventFilter(watcher)
    return None if watcher.at is None else (watcher.at, watcher.age)


# -- model -----------------------------------------------------------------------------------------


def check_server() -> str:
    """Serve one real request (no model: the API answers 503 model_not_loaded) and stop."""
    import http.client
    import json
    import secrets

    from desktop_app.core.jobs import ThreadBackend
    from desktop_app.server.app import ServerApp
    from desktop_app.server.runner import ServerRunner
    from desktop_app.server.security import SecurityPolicy

    key = secrets.token_urlsafe(32)
    backend = ThreadBackend().start()
    runner = ServerRunner(ServerApp(backend, SecurityPolicy(key)), "127.0.0.1", 0)
    try:
        runner.start(wait=True)
        host, port = runner.address
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request("GET", "/v1/models", headers={"Authorization": f"Bearer {key}", "Host": "127.0.0.1"})
        response = conn.getresponse()
        body = json.loads(response.read() or b"{}")
        conn.close()
    finally:
        runner.stop()
        backend.close()
    if response.status != 200 or body.get("object") != "list":
        raise RuntimeError(f"GET /v1/models answered {response.status}: {body}")
    return f"api server on {host}"


def check_resources() -> str:
    """The data files the bundle must carry: the icon and Discover's recommended models."""
    from desktop_app.core.hub.recommended import load_catalog
    from desktop_app.resources import icon_path

    if not icon_path().is_file():
        raise RuntimeError(f"the app icon is missing ({icon_path()})")
    catalog = load_catalog()
    if not catalog.models or catalog.problems:
        raise RuntimeError(f"the recommended models list is unusable: {catalog.problems or 'empty'}")
    return f"{len(catalog.models)} recommended models"


def check_cpu_counts() -> str:
    """The OS's CPU counts the thread governor reads before it probes (Linux, Windows and macOS each
    ask differently). Without them the governor probes on its timer: said, not failed."""
    from desktop_app.core.engine import cpu_load

    load = cpu_load.sensor()
    if load is None:
        return "cpu counts unavailable (thread probes on a timer)"
    time.sleep(cpu_load.MIN_INTERVAL_S)
    reading = load.reading()
    cpus = os.cpu_count() or 1
    if reading is None or not (0 <= reading.idle <= cpus + 1 and 0 <= reading.others <= cpus + 1):
        raise RuntimeError(f"the CPU counts read as nonsense: {reading} on {cpus} CPUs")
    return f"cpu counts ({reading.idle:.1f} of {cpus} CPUs idle)"


def check_template_worker() -> str:
    """Render a template that is not a built-in one: that goes through the worker process."""
    from desktop_app.core import template_worker
    from desktop_app.core.templates import render_chat

    template = "{% for m in messages %}<{{ m.role }}>{{ m.content | trim }}</{{ m.role }}>{% endfor %}"
    started = time.perf_counter()
    try:
        text = render_chat(template, [{"role": "user", "content": " self-test "}])
        pids = template_worker.worker_pids()
    finally:
        template_worker.shutdown()
    if text != "<user>self-test</user>" or not pids or os.getpid() in pids:
        raise RuntimeError(f"the template worker rendered {text!r} (worker processes: {pids})")
    return f"template worker {time.perf_counter() - started:.2f} s"


def check_model(model: Path) -> str:
    from desktop_app.core.engine import Engine, GenerationStats
    from desktop_app.core.generation import LoadSettings, SamplingSettings

    engine = Engine()
    try:
        loaded = engine.load(model, LoadSettings(n_ctx=512))
        sampling = SamplingSettings(temperature=0.0, max_tokens=GENERATE_TOKENS, seed=1)
        stats: GenerationStats | None = None
        for event in engine.stream_completion(PROMPT, sampling, ignore_eos=True):
            if isinstance(event, GenerationStats):
                stats = event
    finally:
        engine.unload()
    if stats is None or stats.completion_tokens == 0:
        raise HearthError(f"{model.name} loaded but generated no token.")
    name = loaded.summary.architecture or loaded.summary.name
    return f"model {name} {stats.completion_tokens} tokens {stats.generation_tps:.1f} tok/s"
