"""Wrap the PyInstaller bundle (dist/hearth) into a Debian package.

    python packaging/linux/build_deb.py dist/hearth dist/   # -> dist/hearth_0.1.0_amd64.deb

Layout: the bundle in /opt/hearth, `/usr/bin/hearth` a symlink to it (the bootloader finds its files
through /proc/self/exe), a .desktop entry and hicolor icons. No maintainer scripts: dpkg's triggers
from desktop-file-utils and hicolor-icon-theme refresh the menu and the icon cache.

`Depends:` is computed, not guessed: every library the bundle's ELF files link to and do not carry
must map to a Debian package in SONAME_PACKAGES (the build fails on one that does not), and the glibc
and libstdc++ versions come from the symbol versions the binaries actually use.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import version as dist_version
from pathlib import Path

PACKAGE = "hearth"
INSTALL_DIR = Path("opt/hearth")
ROOT = Path(__file__).resolve().parents[2]
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)

# Libraries the bundle takes from the system (see SYSTEM_LIBS in hearth.spec), by Debian package.
# "a | b" covers the 64-bit time_t renames of Debian 13 / Ubuntu 24.04.
SONAME_PACKAGES = {
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb.so.1": "libxcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libSM.so.6": "libsm6",
    "libICE.so.6": "libice6",
    "libXext.so.6": "libxext6",
    "libXrender.so.1": "libxrender1",
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libOpenGL.so.0": "libopengl0",
    "libGLX.so.0": "libglx0",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libexpat.so.1": "libexpat1",
    "libglib-2.0.so.0": "libglib2.0-0t64 | libglib2.0-0",
    "libgobject-2.0.so.0": "libglib2.0-0t64 | libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0t64 | libglib2.0-0",
    "libgio-2.0.so.0": "libglib2.0-0t64 | libglib2.0-0",
    "libdbus-1.so.3": "libdbus-1-3",
    "libuuid.so.1": "libuuid1",
    "libz.so.1": "zlib1g",
    "libgcc_s.so.1": "libgcc-s1",
    "libstdc++.so.6": "libstdc++6",
}
GLIBC_SONAMES = {
    "libc.so.6",
    "libm.so.6",
    "libdl.so.2",
    "libpthread.so.0",
    "librt.so.1",
    "libutil.so.1",
    "libresolv.so.2",
    "ld-linux-x86-64.so.2",
    "ld-linux-aarch64.so.1",
}
# GLIBCXX_3.4.N -> the GCC release whose libstdc++6 first provides it (Debian versions it by GCC).
GLIBCXX_GCC = {28: 9, 29: 11, 30: 12, 31: 13, 32: 13, 33: 14, 34: 15}

DESKTOP_ENTRY = """\
[Desktop Entry]
Type=Application
Name=Hearth
GenericName=Local AI Chat
Comment=Chat with large language models entirely on your own computer
Exec=hearth
Icon=hearth
Terminal=false
Categories=Utility;
Keywords=AI;LLM;chat;GGUF;llama;offline;private;
StartupNotify=true
StartupWMClass=Hearth
"""


def is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(4) == b"\x7fELF"
    except OSError:
        return False


def readelf(*args: str) -> str:
    return subprocess.run(["readelf", *args], capture_output=True, text=True, check=False).stdout


def elf_files(bundle: Path) -> list[Path]:
    return [p for p in bundle.rglob("*") if p.is_file() and not p.is_symlink() and is_elf(p)]


def dependencies(bundle: Path) -> tuple[list[str], list[str]]:
    """(Depends entries, problems). Problems name sonames no package covers."""
    files = elf_files(bundle)
    carried = {p.name for p in bundle.rglob("*") if p.is_file() or p.is_symlink()}
    needed: set[str] = set()
    glibc = (2, 17)
    glibcxx = 0
    for path in files:
        needed.update(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", readelf("-dW", str(path))))
        versions = readelf("-VW", str(path))
        for major, minor in re.findall(r"Name: GLIBC_(\d+)\.(\d+)", versions):
            glibc = max(glibc, (int(major), int(minor)))
        for n in re.findall(r"Name: GLIBCXX_3\.4\.(\d+)", versions):
            glibcxx = max(glibcxx, int(n))
    depends = [f"libc6 (>= {glibc[0]}.{glibc[1]})"]
    problems = []
    for soname in sorted(needed - carried - GLIBC_SONAMES):
        package = SONAME_PACKAGES.get(soname)
        if package is None:
            problems.append(f"{soname} is neither in the bundle nor mapped to a Debian package")
            continue
        if package == "libstdc++6" and glibcxx in GLIBCXX_GCC:
            package = f"libstdc++6 (>= {GLIBCXX_GCC[glibcxx]})"
        if package not in depends:
            depends.append(package)
    return depends, problems


def architecture() -> str:
    try:
        return subprocess.run(
            ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)


def control(version: str, arch: str, depends: list[str], installed_kib: int) -> str:
    return (
        f"Package: {PACKAGE}\n"
        f"Version: {version}\n"
        f"Architecture: {arch}\n"
        f"Maintainer: {os.environ.get('HEARTH_MAINTAINER', 'Hearth maintainers <hearth@example.invalid>')}\n"
        f"Installed-Size: {installed_kib}\n"
        f"Depends: {', '.join(depends)}\n"
        "Recommends: xdg-desktop-portal, fonts-dejavu-core | fonts-liberation2\n"
        "Section: utils\n"
        "Priority: optional\n"
        "Description: chat with large language models entirely on your own computer\n"
        " Hearth finds GGUF models on the Hugging Face Hub, downloads them verified\n"
        " and resumable, and runs them locally with llama.cpp (portable CPU build).\n"
        " Chats stay on this machine; there is no telemetry.\n"
    )


def deb_version(version: str) -> str:
    # PEP 440 "0.1.0rc1" / "0.1.0.dev3" sort before the release in Debian with a tilde
    return re.sub(r"(\d)(a|b|rc|\.dev)(\d+)", r"\1~\2\3", version).replace("+", "+local.")


def build(bundle: Path, out_dir: Path, version: str) -> Path:
    if not (bundle / PACKAGE).is_file():
        raise SystemExit(f"{bundle / PACKAGE} is missing: run PyInstaller first (make package)")
    depends, problems = dependencies(bundle)
    if problems:
        raise SystemExit("cannot compute Depends:\n  " + "\n  ".join(problems))
    arch = architecture()
    with tempfile.TemporaryDirectory(prefix="hearth-deb-") as tmp:
        root = Path(tmp) / "root"
        target = root / INSTALL_DIR
        shutil.copytree(bundle, target, symlinks=True)
        (root / "usr/bin").mkdir(parents=True)
        (root / "usr/bin" / PACKAGE).symlink_to(Path("/") / INSTALL_DIR / PACKAGE)
        apps = root / "usr/share/applications"
        apps.mkdir(parents=True)
        (apps / f"{PACKAGE}.desktop").write_text(DESKTOP_ENTRY, encoding="utf-8")
        icons = ROOT / "resources" / "icons"
        hicolor = root / "usr/share/icons/hicolor"
        for size in ICON_SIZES:
            folder = hicolor / f"{size}x{size}" / "apps"
            folder.mkdir(parents=True)
            shutil.copy(icons / f"hearth-{size}.png", folder / f"{PACKAGE}.png")
        (hicolor / "scalable/apps").mkdir(parents=True)
        shutil.copy(icons / "hearth.svg", hicolor / "scalable/apps" / f"{PACKAGE}.svg")
        doc = root / "usr/share/doc" / PACKAGE
        doc.mkdir(parents=True)
        (doc / "copyright").write_text(
            "Hearth is MIT licensed. The bundle in /opt/hearth also carries Python (PSF license),\n"
            "Qt for Python / PySide6 (LGPLv3), llama.cpp (MIT), NumPy and OpenBLAS (BSD), and the\n"
            "Python packages listed in /opt/hearth/_internal/*.dist-info.\n",
            encoding="utf-8",
        )
        for path in root.rglob("*"):  # dpkg wants sane modes whatever the umask was
            if path.is_symlink():
                continue
            path.chmod(0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644)
        installed_kib = sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())
        debian = root / "DEBIAN"
        debian.mkdir()
        (debian / "control").write_text(
            control(deb_version(version), arch, depends, (installed_kib + 1023) // 1024), encoding="utf-8"
        )
        out_dir.mkdir(parents=True, exist_ok=True)
        deb = out_dir / f"{PACKAGE}_{deb_version(version)}_{arch}.deb"
        compression = os.environ.get("HEARTH_DEB_COMPRESSION", "xz")  # "none" for quick test builds
        subprocess.run(
            ["dpkg-deb", f"-Z{compression}", "--root-owner-group", "--build", str(root), str(deb)], check=True
        )
    print(f"Depends: {', '.join(depends)}")
    return deb


def main(argv: list[str]) -> int:
    bundle = Path(argv[1]) if len(argv) > 1 else ROOT / "dist" / PACKAGE
    out_dir = Path(argv[2]) if len(argv) > 2 else ROOT / "dist"
    version = os.environ.get("HEARTH_VERSION") or dist_version("hearth-desktop")
    deb = build(bundle, out_dir, version)
    print(f"built {deb} ({deb.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
