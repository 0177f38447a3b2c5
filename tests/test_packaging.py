"""`hearth --self-test`, the icons the installers use, and the Linux bundle itself.

The self-test tests run the real command line in a subprocess (as an installed bundle would), with no
display and with the XDG folders pointed at an empty place, so they also prove that HEARTH_HOME keeps
everything away from the user's real folders.

The packaging test builds the real bundle with packaging/build-linux.sh (PyInstaller, the portable
llama.cpp wheel) and runs the bundle's own self-test with Gemma. It runs in CI: once the portable
llama.cpp wheel is in ~/.cache/hearth-build it takes about two minutes; on a machine that never built
that wheel, the first run adds its 6-9 minute build.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_app import self_test
from desktop_app.resources import icon_path

ROOT = Path(__file__).resolve().parent.parent
SUMMARY = re.compile(
    r"^self-test ok: hearth \S+, data (?P<data>.+?), qt 6\.\S+ (?P<platform>\w+), window [\d.]+ s[^,]*, "
    r"llama\.cpp \S+ \((?P<isa>[^)]+)\), api server on 127\.0\.0\.1"
)


def run_self_test(home: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    xdg = tmp_path / "xdg"  # where platformdirs would put the user's real folders
    env.update(
        HEARTH_HOME=str(home),
        XDG_DATA_HOME=str(xdg / "data"),
        XDG_CONFIG_HOME=str(xdg / "config"),
        XDG_CACHE_HOME=str(xdg / "cache"),
        XDG_STATE_HOME=str(xdg / "state"),
    )
    return subprocess.run(
        [sys.executable, "-m", "desktop_app.cli", "--self-test", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )


def failures(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("self-test: ")]


def test_self_test_without_a_display_prints_one_line(hearth_home: Path, tmp_path: Path) -> None:
    result = run_self_test(hearth_home, tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    match = SUMMARY.match(lines[0])
    assert match, lines[0]
    assert Path(match["data"]) == hearth_home / "data"
    assert match["platform"] == "offscreen"
    assert failures(result.stderr) == []
    assert (hearth_home / "data" / "hearth.db").is_file()
    assert not list((hearth_home / "data").glob(".hearth-self-test-*"))  # the probe files are gone
    assert not list((tmp_path / "xdg").rglob("Hearth"))  # nothing in the user's own Hearth folders


@pytest.mark.gemma
def test_self_test_with_a_model_generates(hearth_home: Path, tmp_path: Path, gemma_path: Path) -> None:
    result = run_self_test(hearth_home, tmp_path, "--model", str(gemma_path))
    assert result.returncode == 0, result.stderr
    assert re.search(r", model gemma3 8 tokens [\d.]+ tok/s$", result.stdout.strip()), result.stdout


def test_an_unusable_data_folder_fails_with_one_clear_line(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where HEARTH_HOME should be a folder", encoding="utf-8")
    result = run_self_test(blocker / "home", tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = failures(result.stderr)
    assert len(lines) == 1, result.stderr  # Qt and llama.cpp still passed
    assert lines[0].startswith("self-test: data failed: Hearth cannot create its folder ")
    assert str(blocker) in lines[0]
    assert "Traceback" not in result.stderr


def test_a_missing_model_fails_and_names_the_file(hearth_home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model.gguf"
    result = run_self_test(hearth_home, tmp_path, "--model", str(missing))
    assert result.returncode == 1
    assert [line.split(":")[1] for line in failures(result.stderr)] == [" model failed"]
    assert "no-such-model.gguf" in failures(result.stderr)[0]


def test_model_without_self_test_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "desktop_app.cli", "--model", str(tmp_path / "x.gguf")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--model PATH goes with --self-test" in result.stderr


INFO_PORTABLE = (
    "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | OPENMP = 1 |"
)
INFO_NATIVE = INFO_PORTABLE + " AVX512 = 1 | AMX_INT8 = 1 |"
X86_FLAGS = {"pni", "ssse3", "avx", "avx2", "f16c", "fma", "bmi2", "avx512f", "amx_int8"}


def test_the_llama_build_checks() -> None:
    portable = self_test.llama_features(INFO_PORTABLE)
    assert portable["AVX2"] and "AVX512" not in portable
    assert self_test.llama_problems(portable, X86_FLAGS, frozen=True) == []
    native = self_test.llama_features(INFO_NATIVE)
    problems = self_test.llama_problems(native, X86_FLAGS, frozen=False)
    assert len(problems) == 1 and "AMX" in problems[0] and "GGML_NATIVE" in problems[0]
    avx512 = self_test.llama_features(INFO_PORTABLE + " AVX512 = 1 |")
    assert self_test.llama_problems(avx512, X86_FLAGS, frozen=False) == []  # a dev build may use it
    assert "AVX-512" in self_test.llama_problems(avx512, X86_FLAGS, frozen=True)[0]  # a bundle may not
    old_cpu = X86_FLAGS - {"avx2", "fma"}
    assert "AVX2, FMA" in self_test.llama_problems(portable, old_cpu, frozen=True)[0]
    metal = self_test.llama_features("Metal : EMBED_LIBRARY = 1 | CPU : NEON = 1 | ARM_FMA = 1 |")
    assert metal["METAL"] and metal["NEON"]
    assert self_test.llama_features("MTL : EMBED_LIBRARY = 1 | CPU : NEON = 1 |")["METAL"]
    cuda = self_test.llama_features("CUDA : ARCHS = 750,860 | USE_GRAPHS = 1 | CPU : AVX2 = 1 |")
    assert cuda["CUDA"] and cuda["AVX2"] and "METAL" not in cuda
    assert self_test.llama_problems(metal, None, frozen=True) == []


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", path
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_the_installer_icons_are_committed() -> None:
    icons = ROOT / "resources" / "icons"
    for size in (16, 24, 32, 48, 64, 128, 256, 512):
        assert _png_size(icons / f"hearth-{size}.png") == (size, size)
    ico = (icons / "hearth.ico").read_bytes()
    assert ico[:4] == b"\x00\x00\x01\x00" and struct.unpack("<H", ico[4:6])[0] == 7
    assert (icons / "hearth.icns").read_bytes()[:4] == b"icns"
    assert icon_path() == icons / "hearth-256.png"


# -- the real bundle -------------------------------------------------------------------------------


def _bundle_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.mark.slow
@pytest.mark.packaging
@pytest.mark.gemma
@pytest.mark.timeout(1800)  # a machine without the cached portable llama.cpp wheel builds it first
@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.machine() not in ("x86_64", "AMD64"),
    reason="the Linux x86-64 bundle is built here; other OSes are built by the release workflow",
)
def test_linux_bundle_and_deb(hearth_home: Path, tmp_path: Path, gemma_path: Path) -> None:
    missing = [tool for tool in ("readelf", "dpkg-deb") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    dist = tmp_path / "dist"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(
        HEARTH_DIST_DIR=str(dist),
        HEARTH_WORK_DIR=str(tmp_path / "work"),
        HEARTH_DEB_COMPRESSION="none",
        PYTHON=sys.executable,
    )
    env.pop("HEARTH_HOME", None)  # the script uses a scratch home of its own
    build = subprocess.run(
        [str(ROOT / "packaging" / "build-linux.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=1700,
        cwd=ROOT,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    bundle = dist / "hearth"
    assert _bundle_size(bundle) < 300 * 1024 * 1024

    run_env = {k: v for k, v in env.items() if k != "QT_QPA_PLATFORM"}
    run_env["HEARTH_HOME"] = str(hearth_home)
    result = subprocess.run(
        [str(bundle / "hearth"), "--self-test", "--model", str(gemma_path)],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    summary = result.stdout.strip()
    match = SUMMARY.match(summary)
    assert match, summary
    assert match["isa"] == "AVX2", summary  # the portable baseline: no AVX-512, no AMX
    assert match["platform"] == "offscreen"
    assert re.search(r", model gemma3 8 tokens [\d.]+ tok/s$", summary), summary

    debs = list(dist.glob("hearth_*.deb"))
    assert len(debs) == 1
    info = subprocess.run(["dpkg-deb", "-I", str(debs[0])], capture_output=True, text=True, check=True)
    depends = re.search(r"^ Depends: (.+)$", info.stdout, re.MULTILINE)
    assert depends, info.stdout
    for package in ("libc6 (>= ", "libxcb-cursor0", "libxkbcommon-x11-0", "libgl1", "libfontconfig1"):
        assert package in depends[1]
    listing = subprocess.run(["dpkg-deb", "-c", str(debs[0])], capture_output=True, text=True, check=True)
    for path in (
        "./opt/hearth/hearth",
        "./usr/bin/hearth -> /opt/hearth/hearth",
        "./usr/share/applications/hearth.desktop",
        "./usr/share/icons/hicolor/48x48/apps/hearth.png",
        "./usr/share/icons/hicolor/scalable/apps/hearth.svg",
    ):
        assert path in listing.stdout, path
