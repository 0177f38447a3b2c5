from __future__ import annotations

import shutil
import subprocess
import sys

from desktop_app import __version__


def test_version_from_the_installed_command() -> None:
    exe = shutil.which("hearth", path=str(__import__("pathlib").Path(sys.executable).parent))
    assert exe, "the `hearth` entry point is not installed"
    result = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stdout.strip() == f"hearth {__version__}"
    assert __version__ != "0.0.0+unknown"


def test_version_does_not_import_qt_or_llama() -> None:
    code = (
        "import sys\n"
        "from desktop_app.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('PySide6', 'llama_cpp') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip().splitlines()[-1] == "[]"
