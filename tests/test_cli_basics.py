from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

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


# ------------------------------------------------------------------------ models list / rm / serve


def _models_folder() -> Path:
    from desktop_app.core.paths import app_paths

    return app_paths().ensure().models


def _list_json(capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, Any]]:
    from desktop_app.cli import main

    assert main(["models", "list", "--json"]) == 0
    return {Path(row["path"]).name: row for row in json.loads(capsys.readouterr().out)}


def test_a_bad_file_is_listed_as_unusable_and_the_good_models_still_work(
    tiny_gguf: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from desktop_app.cli import main
    from desktop_app.core.errors import ModelFileError
    from desktop_app.core.model_choice import choose_model

    models = _models_folder()
    shutil.copy(tiny_gguf(), models / "good.gguf")
    (models / "junk.gguf").write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 16)
    rows = _list_json(capsys)
    assert set(rows) == {"good.gguf", "junk.gguf"}
    good, junk = rows["good.gguf"], rows["junk.gguf"]
    listed_keys = {"id", "name", "path", "parts", "linked", "size_bytes", "sha256", "architecture", "quant",
                   "context_length", "origin", "added_at", "last_used_at", "missing"}  # fmt: skip
    assert listed_keys <= set(good) and set(good) == set(junk)
    assert good["error"] is None and good["architecture"] == "llama"
    assert junk["error"] and "damaged" in junk["error"]

    assert main(["models", "list"]) == 0
    text = capsys.readouterr().out
    assert good["id"] in text and f"unusable: {junk['error']}" in text

    assert choose_model(None).path.name == "good.gguf"  # `hearth serve` with no --model
    assert choose_model(good["id"]).path.name == "good.gguf"
    with pytest.raises(ModelFileError, match="cannot be used"):
        choose_model(junk["id"])

    assert main(["models", "rm", junk["id"]]) == 0
    assert not (models / "junk.gguf").exists() and (models / "good.gguf").exists()


def test_models_rm_of_a_symlinked_model_keeps_what_it_points_at(
    tiny_gguf: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from desktop_app.cli import main

    target = tiny_gguf(filename="on-another-disk.gguf")
    data = target.read_bytes()
    link = _models_folder() / "shortcut.gguf"
    link.symlink_to(target)
    row = _list_json(capsys)["shortcut.gguf"]
    assert row["linked"] and row["error"] is None
    assert main(["models", "rm", row["id"]]) == 0
    assert "the linked file was kept" in capsys.readouterr().out
    assert target.read_bytes() == data and not os.path.lexists(link)
    assert _list_json(capsys) == {}


def test_a_file_name_that_is_not_utf8_is_unusable_and_breaks_nothing(
    tiny_gguf: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Linux allows any bytes in a name; SQLite, JSON and the terminal want UTF-8."""
    from desktop_app.cli import main

    models = _models_folder()
    shutil.copy(tiny_gguf(), models / "good.gguf")
    odd = Path(os.fsdecode(os.path.join(os.fsencode(models), b"caf\xe9.gguf")))  # Latin-1, not UTF-8
    try:
        shutil.copy(tiny_gguf(), odd)
    except OSError:
        pytest.skip("this file system refuses names that are not UTF-8")
    rows = _list_json(capsys)
    assert rows["good.gguf"]["error"] is None
    [odd_row] = [row for name, row in rows.items() if name != "good.gguf"]
    assert "not valid UTF-8" in odd_row["error"]
    assert main(["models", "rm", odd_row["id"]]) == 0
    capsys.readouterr()
    assert not os.path.lexists(odd) and set(_list_json(capsys)) == {"good.gguf"}
