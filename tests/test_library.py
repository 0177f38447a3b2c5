"""The model library against a real SQLite file and real GGUF files."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from desktop_app.core import starter
from desktop_app.core.db import Database
from desktop_app.core.errors import DiskFullError, ModelFileError
from desktop_app.core.gguf_info import inspect_gguf
from desktop_app.core.library import FileNameTakenError, Library, UnknownModelError, shown_name
from desktop_app.core.model_files import ModelFile
from desktop_app.core.paths import app_paths
from tests.tiny_gguf import write_tiny_model


@pytest.fixture
def library() -> Library:
    paths = app_paths().ensure()
    return Library(Database(paths.database), paths)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_split(tiny_gguf: Callable[..., Path], folder: Path, stem: str = "big") -> list[Path]:
    """A real 2-part split model: the metadata llama.cpp's gguf-split writes, names it expects."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    for number in (0, 1):
        path = tiny_gguf(
            filename=f"{stem}-0000{number + 1}-of-00002.gguf",
            extra_kv={"split.count": 2, "split.no": number, "split.tensors.count": 1},
        )
        target = folder / path.name
        shutil.copy(path, target)
        parts.append(target)
    return parts


def test_import_copies_hashes_and_registers(library: Library, tiny_gguf) -> None:
    source = tiny_gguf(filename="alpha.gguf", name="Alpha Tiny")
    model = library.import_file(source)
    assert model.path == (library.paths.models / "alpha.gguf").resolve()
    assert model.path.read_bytes() == source.read_bytes()
    assert model.sha256 == sha256(source)
    assert (model.display_name, model.architecture, model.is_link) == ("Alpha Tiny", "llama", False)
    assert [m.id for m in library.list()] == [model.id]
    assert not list(library.paths.models.glob("*.importing"))
    assert library.import_file(source) == model  # the same file again: already in the library


def test_a_copy_of_a_model_already_imported_is_the_same_model(library: Library, tiny_gguf, tmp_path) -> None:
    source = tiny_gguf(filename="beta.gguf", name="Beta")
    model = library.import_file(source)
    copy = tmp_path / "elsewhere" / "beta.gguf"
    copy.parent.mkdir()
    shutil.copy(source, copy)
    assert library.import_file(copy) == model
    assert [m.id for m in library.list()] == [model.id]


def test_a_different_model_with_a_taken_file_name_is_refused_clearly(
    library: Library, tiny_gguf, tmp_path
) -> None:
    library.import_file(tiny_gguf(filename="gamma.gguf", name="Gamma"))
    (tmp_path / "other").mkdir()
    other = write_tiny_model(tmp_path / "other" / "gamma.gguf", name="Another gamma")
    with pytest.raises(FileNameTakenError, match="different model is already in your library") as raised:
        library.import_file(other)
    assert raised.value.title == "A model with this file name is already in your library"
    assert len(library.list()) == 1


def test_the_starter_model_goes_by_one_name(library: Library, tiny_gguf, tmp_path) -> None:
    source = tiny_gguf(filename=starter.FILE_NAME, name="Gemma 3 270m")
    model = library.import_file(source, link=True)
    assert model.display_name == starter.DISPLAY_NAME == library.get(model.id).display_name
    assert shown_name(source, "Gemma 3 270m") == starter.DISPLAY_NAME
    assert shown_name(tmp_path / "other.gguf", "Other") == "Other"


def test_link_keeps_the_file_in_place_and_delete_keeps_it(library: Library, tiny_gguf) -> None:
    source = tiny_gguf(filename="linked.gguf")
    model = library.import_file(source, link=True)
    assert model.is_link and model.path == source.resolve()
    assert library.import_file(source, link=True).id == model.id  # idempotent
    assert not any(library.paths.models.glob("*.gguf"))
    library.delete(model.id)
    assert source.exists()
    assert library.list() == []


def test_delete_removes_file_and_entry(library: Library, tiny_gguf) -> None:
    model = library.import_file(tiny_gguf(filename="gone.gguf"))
    library.delete(model.id)
    assert not model.path.exists()
    with pytest.raises(UnknownModelError):
        library.get(model.id)


def test_a_corrupt_file_is_refused_and_nothing_is_left(library: Library, tmp_path: Path, tiny_gguf) -> None:
    good = tiny_gguf()
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ModelFileError, match="truncated"):
        library.import_file(bad)
    assert library.list() == []
    assert not any(library.paths.models.iterdir())


def test_scan_picks_up_dropped_files_reports_bad_ones_and_forgets_deleted(
    library: Library, tiny_gguf
) -> None:
    dropped = library.paths.models / "dropped.gguf"
    shutil.copy(tiny_gguf(), dropped)
    (library.paths.models / "junk.gguf").write_bytes(b"not a model at all")
    result = library.scan()
    assert [m.path.name for m in result.added] == ["dropped.gguf"]
    assert [p.name for p, _ in result.problems] == ["junk.gguf"]
    assert library.scan().added == []  # already known
    dropped.unlink()
    assert library.scan().removed == [result.added[0].id]
    assert library.list() == []


def test_split_model_counts_once(library: Library, tiny_gguf) -> None:
    parts = write_split(tiny_gguf, library.paths.models)
    result = library.scan()
    assert len(result.added) == 1, result.problems
    model = result.added[0]
    assert model.parts == 2 and model.path.name == parts[0].name
    assert model.size_bytes == sum(p.stat().st_size for p in parts)
    library.delete(model.id)
    assert not any(p.exists() for p in parts)


def test_a_split_model_with_a_missing_part_is_refused(library: Library, tiny_gguf, tmp_path: Path) -> None:
    parts = write_split(tiny_gguf, tmp_path / "incoming")
    parts[1].unlink()
    with pytest.raises(ModelFileError, match="missing"):
        library.import_file(parts[0])


def test_not_enough_space_is_refused_before_copying(library: Library, tiny_gguf, monkeypatch) -> None:
    import collections

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(
        "desktop_app.core.library.registry.shutil.disk_usage", lambda _p: usage(10**9, 10**9, 1000)
    )
    with pytest.raises(DiskFullError, match="free"):
        library.import_file(tiny_gguf())
    assert not any(library.paths.models.iterdir())


def test_registry_survives_a_restart_and_settings_persist(tiny_gguf) -> None:
    paths = app_paths().ensure()
    first = Library(Database(paths.database), paths)
    model = first.import_file(tiny_gguf(filename="keep.gguf"))
    first.update_settings(model.id, {"load": {"n_ctx": 2048}})
    first.touch(model.id)
    again = Library(Database(paths.database), paths).get(model.id)
    assert again.settings == {"load": {"n_ctx": 2048}}
    assert again.last_used_at is not None


def test_disk_usage_counts_stored_models_only(library: Library, tiny_gguf) -> None:
    stored = library.import_file(tiny_gguf(filename="stored.gguf"))
    library.import_file(tiny_gguf(filename="elsewhere.gguf"), link=True)
    used, free = library.disk_usage()
    assert used == stored.size_bytes and free > 0


# ------------------------------------------------------------------------------ links and bad files


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file below `folder` with its hash: what must come out of a delete untouched."""
    return {str(p.relative_to(folder)): sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_symlinked_file_is_linked_and_delete_removes_only_the_link(library: Library, tiny_gguf) -> None:
    target = tiny_gguf(filename="elsewhere.gguf")
    before = fingerprint(target.parent)
    link = library.paths.models / "shortcut.gguf"
    link.symlink_to(target)
    [model] = library.scan().added
    assert model.is_link and model.path.name == "shortcut.gguf"
    assert library.find_by_path(link) == library.find_by_path(target) == model
    library.delete(model.id)
    assert fingerprint(target.parent) == before
    assert not os.path.lexists(link)
    assert library.scan().added == [] and library.list() == []


def test_a_symlinked_folder_of_models_is_linked_and_delete_never_reaches_into_it(
    library: Library, tiny_gguf, tmp_path: Path
) -> None:
    outside = tmp_path / "other-disk"
    write_split(tiny_gguf, outside)
    shutil.copy(tiny_gguf(filename="solo.gguf"), outside / "solo.gguf")
    before = fingerprint(outside)
    shelf = library.paths.models / "shelf"
    shelf.symlink_to(outside, target_is_directory=True)
    added = library.scan().added
    assert sorted(m.path.name for m in added) == ["big-00001-of-00002.gguf", "solo.gguf"]
    assert all(m.is_link and m.path.parent.name == "shelf" for m in added)
    split = next(m for m in added if m.parts == 2)
    library.delete(split.id)
    assert fingerprint(outside) == before
    assert not os.path.lexists(shelf)  # the folder link itself went, as a link
    library.scan()
    assert library.list() == []  # so the other model reached through it left the library too


def test_a_link_pointing_back_inside_is_a_second_name_or_a_linked_model(library: Library, tiny_gguf) -> None:
    models = library.paths.models
    stored = models / "stored.gguf"
    shutil.copy(tiny_gguf(), stored)
    (models / "alias.gguf").symlink_to("stored.gguf")
    hidden = models / "keep" / "deeper" / "hidden.gguf"  # two levels down: not picked up by itself
    hidden.parent.mkdir(parents=True)
    shutil.copy(tiny_gguf(), hidden)
    (models / "pointer.gguf").symlink_to(hidden)
    by_name = {m.path.name: m for m in library.scan().added}
    assert sorted(by_name) == ["pointer.gguf", "stored.gguf"]  # the alias is stored.gguf again
    assert by_name["pointer.gguf"].is_link and not by_name["stored.gguf"].is_link
    library.delete(by_name["pointer.gguf"].id)
    assert hidden.exists() and not os.path.lexists(models / "pointer.gguf")
    library.delete(by_name["stored.gguf"].id)
    assert not stored.exists()


def test_dangling_and_looping_links_are_unusable_and_delete_removes_only_the_link(
    library: Library, tiny_gguf, tmp_path: Path
) -> None:
    models = library.paths.models
    (models / "ghost.gguf").symlink_to(tmp_path / "nowhere" / "gone.gguf")
    (models / "loop.gguf").symlink_to("loop.gguf")
    target = tiny_gguf(filename="moved-later.gguf")
    (models / "later.gguf").symlink_to(target)
    [later] = library.scan().added
    target.rename(target.with_name("moved.gguf"))  # the linked file goes away: the link dangles
    result = library.scan()
    assert result.removed == [later.id] and result.added == []
    assert sorted(p.name for p, _ in result.problems) == ["ghost.gguf", "later.gguf", "loop.gguf"]
    unusable = {m.path.name: m for m in library.unusable()}
    assert all(m.is_link and m.error and "link" in m.error for m in unusable.values())
    assert library.list() == [] and len(library.list(include_unusable=True)) == 3
    for model in unusable.values():
        library.delete(model.id)
    assert list(models.iterdir()) == []
    assert target.with_name("moved.gguf").exists()
    assert library.scan().problems == [] and library.unusable() == []


def test_a_bad_file_in_the_models_folder_is_listed_as_unusable_with_its_reason(
    library: Library, tiny_gguf
) -> None:
    models = library.paths.models
    shutil.copy(tiny_gguf(), models / "good.gguf")
    (models / "junk.gguf").write_bytes(b"not a model at all")
    result = library.scan()
    [good] = result.added
    [junk] = library.unusable()
    assert junk.path.name == "junk.gguf" and not junk.usable and "GGUF" in (junk.error or "")
    assert good.usable and library.list() == [good]
    assert {m.id for m in library.list(include_unusable=True)} == {good.id, junk.id}
    assert library.get(junk.id) == junk
    assert junk.to_dict()["error"] == junk.error and good.to_dict()["error"] is None
    assert set(good.to_dict()) == set(junk.to_dict())
    library.delete(junk.id)
    assert not (models / "junk.gguf").exists() and (models / "good.gguf").exists()
    assert library.unusable() == [] and library.scan().problems == []


def test_an_entry_an_older_version_registered_through_a_link_keeps_its_file(
    library: Library, tiny_gguf
) -> None:
    """Older versions registered a symlink in the models folder as its target, not linked."""
    target = tiny_gguf(filename="legacy.gguf")
    before = fingerprint(target.parent)
    (library.paths.models / "legacy.gguf").symlink_to(target)
    legacy = library._register(ModelFile(target, (target,)), inspect_gguf(target), sha256=None, is_link=False)
    assert not legacy.is_link
    library.delete(legacy.id)
    assert fingerprint(target.parent) == before
    library._register(ModelFile(target, (target,)), inspect_gguf(target), sha256=None, is_link=False)
    library.scan()
    [model] = library.list()
    assert model.is_link and model.path == target.resolve()
    library.delete(model.id)
    assert fingerprint(target.parent) == before
