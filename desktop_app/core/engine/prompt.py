"""Building a chat prompt: the history that fits the context, rendered and tokenized safely.

Special tokens are read only in the template's own markup: a message that says `<end_of_turn>` gets
the tokens of that text, never the control token (render_segments tells markup from message text).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from desktop_app.core.engine import native
from desktop_app.core.engine.events import Message
from desktop_app.core.errors import GenerationError
from desktop_app.core.gguf_info import ModelSummary
from desktop_app.core.templates import ChatFormat, Segment, render_segments

#: llama_token_attr bits (llama.h) of the tokens llama.cpp matches by their text before tokenizing
_ATTR_SPECIAL = (1 << 0) | (1 << 3) | (1 << 4)  # UNKNOWN | CONTROL | USER_DEFINED
_ATTR_LSTRIP, _ATTR_RSTRIP = 1 << 7, 1 << 8
_C_SPACE = " \t\n\v\f\r"  # what C's isspace() strips next to an LSTRIP/RSTRIP token
#: markup texts whose split into special tokens is remembered (a chat repeats the same few)
_MARKUP_CACHE_SIZE = 4096


def fit_history(
    messages: Sequence[Message],
    n_ctx: int,
    reserve: int,
    render: Callable[[list[Message]], list[int]],
    *,
    continue_last: bool = False,
) -> tuple[list[int], int]:
    """Tokens of the conversation, without the oldest turns (never the system prompt) that keep the
    prompt plus `reserve` tokens for the reply from fitting in `n_ctx`. Returns (tokens, dropped)."""
    if continue_last and (not messages or messages[-1].get("role") != "assistant"):
        raise GenerationError("Only an assistant reply can be continued.", hint="Send a message instead.")
    system = [m for m in messages if m.get("role") == "system"]
    turns = [m for m in messages if m.get("role") != "system"]
    if not turns:
        raise GenerationError("There is no message to answer.", hint="Type a message first.")
    limit = n_ctx - reserve
    rendered: dict[int, list[int]] = {}

    def tokens_from(start: int) -> list[int]:
        if start not in rendered:
            rendered[start] = render([*system, *turns[start:]])
        return rendered[start]

    # Where the kept history may start: the first turn, or a user turn (never a reply without its
    # question), keeping at least the last turn (two when continuing a reply). Fewer turns never
    # need more tokens, so the earliest start that fits is found by bisection: a 500-message chat
    # costs ~10 renders, not one per dropped turn (that took 30 s on these machines).
    keep = 2 if continue_last else 1
    last = max(0, len(turns) - keep)
    starts = [i for i in range(1, last + 1) if turns[i].get("role") == "user"]
    if not starts or starts[-1] != last:
        starts.append(last)
    dropped = 0
    tokens = tokens_from(0)
    if len(tokens) > limit and last > 0:
        low, high = -1, len(starts) - 1  # starts[high] is the last resort; -1 stands for 0
        if len(tokens_from(starts[high])) <= limit:
            while high - low > 1:
                middle = (low + high) // 2
                if len(tokens_from(starts[middle])) <= limit:
                    high = middle
                else:
                    low = middle
        dropped = starts[high]
        tokens = tokens_from(dropped)
    if len(tokens) >= n_ctx - 8:
        raise GenerationError(
            f"The message is too long for this model's context ({len(tokens)} tokens; the context "
            f"holds {n_ctx}).",
            hint="Shorten the message or the system prompt, or raise the context length.",
        )
    return tokens, dropped


class PromptTokenizer:
    """Renders and tokenizes conversations for one loaded model, remembering its special tokens."""

    def __init__(self, llm: Any) -> None:
        self._llm = llm
        self._markup: dict[str, list[str | int]] = {}  # see _split_markup
        self._token_info: dict[int, tuple[int, str]] = {}  # token id -> (attributes, text)

    def tokenize(self, text: str, *, add_bos: bool = True, special: bool = True) -> list[int]:
        tokens: list[int] = self._llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special)
        return tokens

    def render_tokens(
        self,
        chat_format: ChatFormat,
        summary: ModelSummary,
        messages: Sequence[Message],
        *,
        continue_last: bool = False,
    ) -> list[int]:
        """Render and tokenize, reading special tokens only in the template's own markup.

        A message (system prompt and a partial reply to continue included) that says `<end_of_turn>`
        gets the tokens of that text, never the control token: render_segments tells markup from
        message text. The text between two special tokens of the markup, message text included, is
        tokenized as one piece, exactly as llama.cpp splits a whole prompt, so an ordinary chat gets the
        very tokens it got when the whole prompt was tokenized with special parsing.
        """
        partial = ""
        if continue_last:  # the template's generation prompt opens the model's turn; the text goes on it
            partial = str(messages[-1].get("content", ""))
            messages = messages[:-1]
        segments = render_segments(
            chat_format.template,
            messages,
            bos_token=summary.bos_token or "",
            eos_token=summary.eos_token or "",
            add_generation_prompt=True,
        )
        if partial:
            segments.append(Segment(partial, False))
        tokens = self._tokenize_segments(segments)
        llama_cpp = native.lib()
        vocab = self._llm._model.vocab
        bos = llama_cpp.llama_vocab_bos(vocab)
        if llama_cpp.llama_vocab_get_add_bos(vocab) and bos >= 0 and (not tokens or tokens[0] != bos):
            tokens.insert(0, bos)
        return tokens

    def _tokenize_segments(self, segments: Sequence[Segment]) -> list[int]:
        """Special tokens from the markup; every run of text between them tokenized without special
        parsing; whitespace next to an LSTRIP/RSTRIP special token dropped, as llama.cpp does."""
        pieces: list[str | int] = []
        for segment in segments:
            if segment.markup:
                pieces.extend(self._split_markup(segment.text))
            else:
                pieces.append(segment.text)
        tokens: list[int] = []
        run: list[str] = []
        strip_left = False  # the previous special token eats the whitespace after it

        def flush(strip_right: bool) -> None:
            text = "".join(run)
            run.clear()
            if strip_left:
                text = text.lstrip(_C_SPACE)
            if strip_right:
                text = text.rstrip(_C_SPACE)
            if text:
                tokens.extend(self.tokenize(text, add_bos=False, special=False))

        for piece in pieces:
            if isinstance(piece, str):
                run.append(piece)
                continue
            attributes = self._token(piece)[0]
            flush(strip_right=bool(attributes & _ATTR_LSTRIP))
            tokens.append(piece)
            strip_left = bool(attributes & _ATTR_RSTRIP)
        flush(strip_right=False)
        return tokens

    def _split_markup(self, text: str) -> list[str | int]:
        """Template markup as text pieces and special-token ids, where llama.cpp finds the specials.

        llama.cpp does the finding (the markup is tokenized with special parsing); the text between two
        specials is then cut out of `text` so that it can join the message text next to it. If the
        specials cannot be placed back in `text` (a vocabulary whose plain text yields a token we count
        as special), the markup's own tokens are used as they are: only boundaries can differ then.
        """
        cached = self._markup.get(text)
        if cached is not None:
            return cached
        tokens = self.tokenize(text, add_bos=False, special=True)
        pieces: list[str | int] = []
        position = 0
        for token in tokens:
            attributes, token_text = self._token(token)
            if not attributes & _ATTR_SPECIAL:
                continue
            found = text.find(token_text, position) if token_text else -1
            if found < 0:
                pieces = [*tokens]
                position = len(text)
                break
            pieces += [text[position:found], token]
            position = found + len(token_text)
        pieces.append(text[position:])
        pieces = [piece for piece in pieces if piece != ""]
        if len(self._markup) >= _MARKUP_CACHE_SIZE:
            self._markup.clear()
        self._markup[text] = pieces
        return pieces

    def _token(self, token: int) -> tuple[int, str]:
        """(llama_token_attr bits, text) of a token id, remembered per model."""
        info = self._token_info.get(token)
        if info is None:
            llama_cpp = native.lib()
            vocab = self._llm._model.vocab
            raw = llama_cpp.llama_vocab_get_text(vocab, token) or b""
            info = (int(llama_cpp.llama_vocab_get_attr(vocab, token)), raw.decode("utf-8", errors="replace"))
            self._token_info[token] = info
        return info
