"""A model's card from the Hub: license, base model and task from its metadata, and a short
description from its README."""

from __future__ import annotations

from dataclasses import dataclass

from huggingface_hub import hf_hub_url

from desktop_app.core.hub import client
from desktop_app.core.hub.card_text import MAX_README_BYTES, first_paragraph
from desktop_app.core.hub.client import Token, api, auth_for, hub_endpoint, read_range
from desktop_app.core.hub.errors import hub_errors
from desktop_app.core.network import ensure_online

__all__ = ["CardSummary", "card_summary"]


@dataclass(frozen=True)
class CardSummary:
    """What a model page shows above the file list."""

    description: str | None
    license: str | None
    base_model: str | None
    pipeline_tag: str | None


def card_summary(repo_id: str, token: str | None = None) -> CardSummary:
    """License, base model and task from the card's metadata, and the README's first real paragraph."""
    ensure_online(f"read the model card of {repo_id}")
    auth = auth_for(token)
    with hub_errors(repo_id, auth=auth):
        info = api().model_info(repo_id, timeout=client.TIMEOUT, token=auth)
        has_readme = any(s.rfilename == "README.md" for s in info.siblings or ())
        readme = _read_text(repo_id, "README.md", auth) if has_readme else ""
    card = info.card_data
    base = card.base_model if card is not None else None
    if isinstance(base, list):
        base = ", ".join(str(b) for b in base) or None
    license_ = card.license if card is not None else None
    pipeline = info.pipeline_tag or (card.pipeline_tag if card is not None else None)
    return CardSummary(
        description=first_paragraph(readme),
        license=str(license_) if license_ else None,
        base_model=str(base) if base else None,
        pipeline_tag=str(pipeline) if pipeline else None,
    )


def _read_text(repo_id: str, filename: str, auth: Token) -> str:
    url = hf_hub_url(repo_id, filename, endpoint=hub_endpoint())
    data, _ = read_range(url, 0, MAX_README_BYTES, auth)
    return data.decode("utf-8", errors="replace")
