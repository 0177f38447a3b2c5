"""The fake Hub speaks the protocol huggingface_hub 2.4 expects; other tests build on these facts."""

from __future__ import annotations

import hashlib
import time

import pytest
from huggingface_hub import HfApi, get_hf_file_metadata, get_session, hf_hub_url
from huggingface_hub.errors import (
    GatedRepoError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFile, RepoFolder

from tests.fake_hub import FakeHub

CARD = "---\nlicense: apache-2.0\nbase_model: org/base\n---\n# Title\n\nA tiny model.\n"


def test_search_pages_through_link_headers(fake_hub: FakeHub) -> None:
    for i in range(5):
        fake_hub.add_repo(f"org/m{i}-GGUF", {"m.gguf": b"x"}, downloads=i * 10, likes=5 - i)
    fake_hub.add_repo("org/not-gguf", {"m.bin": b"x"}, tags=("pytorch",), downloads=999)
    api = HfApi(endpoint=fake_hub.endpoint)

    by_downloads = [m.id for m in api.list_models(filter="gguf", sort="downloads", limit=3)]
    assert by_downloads == ["org/m4-GGUF", "org/m3-GGUF", "org/m2-GGUF"]
    all_by_likes = [m.id for m in api.list_models(filter="gguf", sort="likes", limit=None)]
    assert all_by_likes == [f"org/m{i}-GGUF" for i in range(5)]
    fake_hub.models_page_size = 2  # the library follows the Link cursor until it has 5
    fake_hub.clear_requests()
    assert len(list(api.list_models(filter="gguf", search="m", limit=5))) == 5
    assert sum("cursor=" in r.path for r in fake_hub.requests) == 2

    # like the real Hub, lastModified/author/gated come only when asked for
    plain = next(iter(api.list_models(search="m1")))
    assert plain.last_modified is None
    rich = next(iter(api.list_models(search="m1", expand=["lastModified", "author", "gated"])))
    assert rich.author == "org" and rich.last_modified is not None and rich.gated is False


def test_tree_and_metadata_match_the_published_bytes(fake_hub: FakeHub) -> None:
    data = bytes(range(256)) * 40
    files = {"model-Q4_K_M.gguf": data, "sub/b.gguf": b"b" * 10} | {f"f{i:03}.gguf": b"f" for i in range(60)}
    fake_hub.add_repo("org/repo", files, card=CARD)
    api = HfApi(endpoint=fake_hub.endpoint)

    tree = list(api.list_repo_tree("org/repo", expand=True, recursive=True))
    by_path = {e.path: e for e in tree}
    assert isinstance(by_path["sub"], RepoFolder)
    entry = by_path["model-Q4_K_M.gguf"]
    assert isinstance(entry, RepoFile) and entry.lfs is not None
    assert entry.size == len(data) and entry.lfs.sha256 == hashlib.sha256(data).hexdigest()
    readme = by_path["README.md"]
    assert isinstance(readme, RepoFile) and readme.lfs is None
    assert sum("/tree/" in r.path for r in fake_hub.requests) == 2  # 64 entries, 50 per expanded page

    info = api.model_info("org/repo", files_metadata=True)
    assert info.card_data is not None and info.card_data.license == "apache-2.0"
    assert info.sha == fake_hub.commit("org/repo")
    [paths] = api.get_paths_info("org/repo", ["model-Q4_K_M.gguf", "missing.gguf"], expand=True)
    assert isinstance(paths, RepoFile) and paths.size == len(data)

    url = hf_hub_url("org/repo", "model-Q4_K_M.gguf", endpoint=fake_hub.endpoint)
    meta = get_hf_file_metadata(url, token=False)
    assert meta.etag == fake_hub.sha256("org/repo", "model-Q4_K_M.gguf") and meta.size == len(data)
    assert meta.commit_hash == fake_hub.commit("org/repo")
    readme_url = hf_hub_url("org/repo", "README.md", endpoint=fake_hub.endpoint)
    assert get_session().get(readme_url).text == CARD


def test_ranges(fake_hub: FakeHub) -> None:
    data = bytes(range(256)) * 4
    fake_hub.add_repo("org/repo", {"m.gguf": data})
    url = hf_hub_url("org/repo", "m.gguf", endpoint=fake_hub.endpoint)
    session = get_session()

    r = session.get(url, headers={"Range": "bytes=10-19"})
    assert (r.status_code, r.content, r.headers["Content-Range"]) == (206, data[10:20], "bytes 10-19/1024")
    assert session.get(url, headers={"Range": "bytes=1000-"}).content == data[1000:]
    assert session.get(url, headers={"Range": "bytes=-4"}).content == data[-4:]
    assert session.get(url, headers={"Range": "bytes=1020-5000"}).content == data[1020:]
    bad = session.get(url, headers={"Range": "bytes=1024-"})
    assert bad.status_code == 416 and bad.headers["Content-Range"] == "bytes */1024"
    assert fake_hub.requests[0].headers["range"] == "bytes=10-19"
    assert fake_hub.body_bytes_sent("m.gguf") == 10 + 24 + 4 + 4


def test_errors_map_to_library_exceptions(fake_hub: FakeHub) -> None:
    fake_hub.add_repo("org/gated", {"g.gguf": b"g"}, gated=True)
    fake_hub.add_repo("org/private", {"p.gguf": b"p"}, private=True)
    fake_hub.add_repo("org/open", {"o.gguf": b"o"})
    api = HfApi(endpoint=fake_hub.endpoint)

    def meta(repo: str, name: str, token: str | bool = False) -> int | None:
        return get_hf_file_metadata(hf_hub_url(repo, name, endpoint=fake_hub.endpoint), token=token).size

    with pytest.raises(RepositoryNotFoundError):
        api.model_info("org/missing", token=False)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("org/private", token=False)
    with pytest.raises(RevisionNotFoundError):
        api.model_info("org/open", revision="v2", token=False)
    with pytest.raises(RemoteEntryNotFoundError):
        meta("org/open", "missing.gguf")
    assert api.model_info("org/gated", token=False).gated == "auto"  # metadata is public
    with pytest.raises(GatedRepoError) as no_token:
        meta("org/gated", "g.gguf")
    assert no_token.value.response.status_code == 401
    fake_hub.require_token("hf_good")
    with pytest.raises(GatedRepoError) as wrong:
        meta("org/gated", "g.gguf", token="hf_wrong")
    assert wrong.value.response.status_code == 403
    assert meta("org/gated", "g.gguf", token="hf_good") == 1
    assert api.model_info("org/private", token="hf_good").private is True


def test_knobs_corrupt_fail_and_throttle(fake_hub: FakeHub) -> None:
    data = b"0123456789" * 100
    fake_hub.add_repo("org/repo", {"m.gguf": data})
    url = hf_hub_url("org/repo", "m.gguf", endpoint=fake_hub.endpoint)
    session = get_session()

    fake_hub.corrupt("m.gguf")
    bad = session.get(url).content
    assert len(bad) == len(data) and bad != data
    fake_hub.corrupt("m.gguf", enabled=False)
    assert session.get(url).content == data

    fake_hub.fail_next(2, 503, path_contains="/resolve/")
    assert session.get(hf_hub_url("org/repo", "nope", endpoint=fake_hub.endpoint)).status_code == 503
    assert session.get(url).status_code == 503
    assert session.get(url).status_code == 200

    fake_hub.throttle(4000)
    start = time.monotonic()
    assert session.get(url).content == data
    assert time.monotonic() - start >= 0.2
    fake_hub.throttle(None)


def test_stop_releases_a_throttled_download() -> None:
    with FakeHub() as hub:
        hub.add_repo("org/repo", {"m.gguf": b"x" * 100_000})
        hub.throttle(1000)
        url = hf_hub_url("org/repo", "m.gguf", endpoint=hub.endpoint)
        with get_session().stream("GET", url) as response:
            first = next(response.iter_bytes())
            assert first
            start = time.monotonic()
            hub.stop()
            assert time.monotonic() - start < 3


def test_lfs_redirects_to_another_origin(fake_hub: FakeHub) -> None:
    data = bytes(range(256)) * 8
    fake_hub.add_repo("org/gated", {"m.gguf": data}, gated=True)
    fake_hub.require_token("hf_good")
    fake_hub.lfs_redirects = True
    url = hf_hub_url("org/gated", "m.gguf", endpoint=fake_hub.endpoint)

    meta = get_hf_file_metadata(url, token="hf_good")
    assert (meta.size, meta.etag, meta.commit_hash) == (
        len(data),
        fake_hub.sha256("org/gated", "m.gguf"),
        fake_hub.commit("org/gated"),
    )
    assert meta.location.startswith(f"http://localhost:{fake_hub.endpoint.rsplit(':', 1)[1]}/_cdn/")
    assert [r.method for r in fake_hub.requests] == ["HEAD"]  # the library stops at the 302

    response = get_session().get(url, headers={"Authorization": "Bearer hf_good", "Range": "bytes=8-15"})
    assert (response.status_code, response.content) == (206, data[8:16])
    cdn = fake_hub.requests[-1]
    assert cdn.path.startswith("/_cdn/") and cdn.headers["range"] == "bytes=8-15"
    assert "authorization" not in cdn.headers  # httpx drops it on a cross-origin redirect
