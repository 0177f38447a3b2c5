"""Building a chat prompt: the history that fits the context, rendered and tokenized safely.

Special tokens are read only in the template's own markup: a message that says `<end_of_turn>` gets
the tokens of that text, never the control token (render_segments tells markup from message text).

A chat turn extends the conversation of the previous one: the tokens of what was rendered before are
kept (prompt_cache.py) and only the new messages are rendered, for templates where that gives the
tokens of a full render (checked once per template on a sample conversation, and per request on the
messages just before the new ones: `PromptTokenizer._incremental`); others render the whole history.
"""

from __future__ import annotations

import logging
from array import array
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from desktop_app.core.engine import native
from desktop_app.core.engine.events import Message
from desktop_app.core.engine.prompt_cache import (
    MessageKey,
    Prefix,
    PrefixCache,
    TemplateKey,
    enabled_by_environment,
    message_keys,
)
from desktop_app.core.errors import GenerationError, TemplateError
from desktop_app.core.gguf_info import ModelSummary
from desktop_app.core.templates import ChatFormat

if TYPE_CHECKING:  # segments.py imports Jinja: loaded at the first prompt, not with the window
    from desktop_app.core.templates.segments import Segment

log = logging.getLogger(__name__)

#: a tokenizer piece: text (tokenized without special parsing, joined with the text next to it) or the
#: id of a special token the template's markup wrote
Piece = str | int

#: llama_token_attr bits (llama.h) of the tokens llama.cpp matches by their text before tokenizing
_ATTR_SPECIAL = (1 << 0) | (1 << 3) | (1 << 4)  # UNKNOWN | CONTROL | USER_DEFINED
_ATTR_LSTRIP, _ATTR_RSTRIP = 1 << 7, 1 << 8
_C_SPACE = " \t\n\v\f\r"  # what C's isspace() strips next to an LSTRIP/RSTRIP token
#: markup texts whose split into special tokens is remembered (a chat repeats the same few)
_MARKUP_CACHE_SIZE = 4096
#: the most messages a window before the new messages may have (else the whole history is rendered)
_MAX_WINDOW = 8
#: the conversation `_is_local` checks a template on: varied texts, whitespace a template may trim
_SAMPLE_SYSTEM: Message = {"role": "system", "content": "You are terse."}
_SAMPLE_TURNS: tuple[Message, ...] = tuple(
    {"role": "user" if i % 2 == 0 else "assistant", "content": text}
    for i, text in enumerate(
        ("Hello there", " Hi! How can I help? ", "Tell me\na story.", "Once upon a time.", "More",
         "The end.\n", "Thanks  ", "Welcome")
    )
)  # fmt: skip
#: (turns already cached, turns added) as chats and API clients send them: a reply and a question
#: after one or more exchanges, the same request again, a request that ends with a reply
_SAMPLE_CASES = ((1, 2), (3, 2), (3, 0), (3, 1), (2, 1), (5, 3))


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
    """Renders and tokenizes conversations for one loaded model, remembering its special tokens and
    the tokens of recent conversations (prompt_cache.py); a new model gets a new PromptTokenizer."""

    def __init__(self, llm: Any, *, cache: bool | None = None) -> None:
        self._llm = llm
        self._markup: dict[str, list[Piece]] = {}  # see _split_markup
        self._token_info: dict[int, tuple[int, str]] = {}  # token id -> (attributes, text)
        #: off with HEARTH_PROMPT_CACHE=0 (benchmarks measure both in one run)
        self.cache_enabled = enabled_by_environment() if cache is None else cache
        self._prefixes = PrefixCache()
        self._local: dict[tuple[TemplateKey, bool], bool] = {}  # see _is_local

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

        A conversation that extends one rendered before reuses its tokens and renders only the new
        messages (`_incremental`), when the template is known to allow it; the tokens are the same.
        """
        partial: list[Piece] = []
        if continue_last:  # the template's generation prompt opens the model's turn; the text goes on it
            text = str(messages[-1].get("content", ""))
            partial = [text] if text else []
            messages = messages[:-1]
        render = _Renderer(self, chat_format.template, summary.bos_token or "", summary.eos_token or "")
        tokens = self._incremental(render, messages, partial) if self.cache_enabled else None
        if tokens is None:
            tokens = self._tokenize_pieces([*render.pieces(messages, generation_prompt=True), *partial])
        llama_cpp = native.lib()
        vocab = self._llm._model.vocab
        bos = llama_cpp.llama_vocab_bos(vocab)
        if llama_cpp.llama_vocab_get_add_bos(vocab) and bos >= 0 and (not tokens or tokens[0] != bos):
            tokens.insert(0, bos)
        return tokens

    # -- the prefix cache ---------------------------------------------------------------------------

    @property
    def cached_conversations(self) -> int:
        return len(self._prefixes)

    def clear_cache(self) -> None:
        self._prefixes.clear()
        self._local.clear()

    def _incremental(
        self, render: _Renderer, messages: Sequence[Message], partial: list[Piece]
    ) -> list[int] | None:
        """Tokens of `messages` with the generation prompt (and `partial` after it), from a cached
        prefix plus the new messages; None when the cache cannot be used (the caller renders it all).

        The new messages are rendered after a short window of the messages before them (`_window`: the
        system prompt, and the prefix from its last user message on), and what follows the window's
        last special token is appended to the cached tokens, which end at the prefix's last special
        token. That equals a full render only for templates that render each message the same whatever
        comes before or after it: `_is_local` checks that once per template on a sample conversation,
        and each request checks that the window renders the same with and without the new messages.
        """
        keys = message_keys(messages)
        system = bool(messages) and messages[0].get("role") == "system"
        try:
            if not self._is_local(render, system):
                return None
            entry = self._prefixes.longest(render.key, keys)
            if entry is None:
                tokens, prefix = self._cold(render, messages, keys, partial)
                if prefix is not None:
                    self._prefixes.put(prefix)
                return tokens
            result = self._warm(render, messages, keys, entry, partial)
        except TemplateError:
            return None  # a window the template refuses (an alternation check): the full render decides
        if result is None:
            return None
        tokens, prefix = result
        if prefix is not None:
            self._prefixes.put(prefix, grown_from=entry)
        return tokens

    def _cold(
        self,
        render: _Renderer,
        messages: Sequence[Message],
        keys: tuple[MessageKey, ...],
        partial: list[Piece],
    ) -> tuple[list[int], Prefix | None]:
        """A full render, and the prefix it leaves for the next turn (None if `_cut` cannot place it)."""
        full = render.pieces(messages, generation_prompt=True)
        cut = self._cut(render, messages, full)
        if cut is None:
            return self._tokenize_pieces([*full, *partial]), None
        head = self._tokenize_pieces(full[: cut + 1])
        strip = self._strips_after(full[cut])
        tokens = head + self._tokenize_pieces([*full[cut + 1 :], *partial], strip_left=strip)
        return tokens, Prefix(render.key, keys, array("i", head), strip)

    def _cut(self, render: _Renderer, messages: Sequence[Message], full: list[Piece]) -> int | None:
        """Where in `full` (the pieces with the generation prompt) the last special token of the
        rendering without it is: the window shows how many pieces the generation prompt adds."""
        window = _window(messages)
        if window is None:
            return None
        without = render.pieces(window, generation_prompt=False)
        last = _last_special(without)
        if last is None:
            return None
        with_prompt = render.pieces(window, generation_prompt=True)
        if with_prompt[: last + 1] != without[: last + 1]:
            return None
        cut = len(full) - (len(with_prompt) - last)
        if (
            cut < 0
            or full[cut] != without[last]
            or _specials(full[cut + 1 :]) != _specials(with_prompt[last + 1 :])
        ):
            return None
        return cut

    def _warm(
        self,
        render: _Renderer,
        messages: Sequence[Message],
        keys: tuple[MessageKey, ...],
        entry: Prefix,
        partial: list[Piece],
    ) -> tuple[list[int], Prefix | None] | None:
        """The cached prefix's tokens plus the new messages', and the longer prefix for the next turn;
        None when the window renders differently once the new messages follow it."""
        new = messages[len(entry.messages) :]
        window = _window(messages[: len(entry.messages)])
        if window is None:
            return None
        before = render.pieces(window, generation_prompt=False)
        last = _last_special(before)
        if last is None or not entry.tokens or before[last] != entry.tokens[-1]:
            return None
        after = render.pieces([*window, *new], generation_prompt=True)
        if after[: last + 1] != before[: last + 1]:
            return None
        tail = self._tokenize_pieces([*after[last + 1 :], *partial], strip_left=entry.strip_left)
        tokens = [*entry.tokens, *tail]
        if not new:
            return tokens, None
        grown = render.pieces([*window, *new], generation_prompt=False)
        end = _last_special(grown)
        if grown[: last + 1] != before[: last + 1] or end is None or end <= last:
            return tokens, None  # the entry stays as it is; the next turn adds to it
        more = self._tokenize_pieces(grown[last + 1 : end + 1], strip_left=entry.strip_left)
        grown_tokens = entry.tokens + array("i", more)
        return tokens, Prefix(render.key, keys, grown_tokens, self._strips_after(grown[end]))

    def _is_local(self, render: _Renderer, system: bool) -> bool:
        """Whether the cached path gives a full render's tokens on the sample conversation.

        Checked once per template (with and without a system prompt) for the turns a chat takes. A
        template that numbers the messages, looks at the last one or writes something after it renders
        them differently, and always gets the full render.
        """
        key = (render.key, system)
        known = self._local.get(key)
        if known is None:
            first = [_SAMPLE_SYSTEM] if system else []
            try:
                known = all(
                    self._sample_matches(render, [*first, *_SAMPLE_TURNS[: size + added]], len(first) + size)
                    for size, added in _SAMPLE_CASES
                )
            except TemplateError:
                known = False
            self._local[key] = known
            if not known:
                log.info("chat template is not prefix-stable: each request renders the whole history")
        return known

    def _sample_matches(self, render: _Renderer, conversation: list[Message], size: int) -> bool:
        """The cached path, from the first `size` messages, gives the full render's tokens, and the
        prefix it leaves is the one a full render of the conversation leaves."""
        expected = self._tokenize_pieces(render.pieces(conversation, generation_prompt=True))
        keys = message_keys(conversation)
        _, entry = self._cold(render, conversation[:size], keys[:size], [])
        if entry is None:
            return False
        result = self._warm(render, conversation, keys, entry, [])
        if result is None or result[0] != expected:
            return False
        if result[1] is None:
            return True
        _, direct = self._cold(render, conversation, keys, [])
        return direct == result[1]

    # -- tokenizing ---------------------------------------------------------------------------------

    def _pieces(self, segments: Sequence[Segment]) -> list[Piece]:
        """Markup split into text and special-token ids; message text as it is."""
        pieces: list[Piece] = []
        for segment in segments:
            if segment.markup:
                pieces.extend(self._split_markup(segment.text))
            else:
                pieces.append(segment.text)
        return pieces

    def _tokenize_pieces(self, pieces: Sequence[Piece], *, strip_left: bool = False) -> list[int]:
        """Special tokens as they are; every run of text between them tokenized without special
        parsing; whitespace next to an LSTRIP/RSTRIP special token dropped, as llama.cpp does.
        `strip_left`: the special token just before `pieces` strips the whitespace after it."""
        tokens: list[int] = []
        run: list[str] = []

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

    def _strips_after(self, piece: Piece) -> bool:
        return isinstance(piece, int) and bool(self._token(piece)[0] & _ATTR_RSTRIP)

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


class _Renderer:
    """One template with its bos/eos texts, rendered to pieces for one tokenizer."""

    def __init__(self, tokenizer: PromptTokenizer, template: str, bos_token: str, eos_token: str) -> None:
        self._tokenizer = tokenizer
        self.key: TemplateKey = (template, bos_token, eos_token)

    def pieces(self, messages: Sequence[Message], *, generation_prompt: bool) -> list[Piece]:
        template, bos_token, eos_token = self.key
        from desktop_app.core.templates import render_segments

        segments = render_segments(
            template,
            messages,
            bos_token=bos_token,
            eos_token=eos_token,
            add_generation_prompt=generation_prompt,
        )
        return self._tokenizer._pieces(segments)


def _window(messages: Sequence[Message]) -> list[Message] | None:
    """The messages rendered before new ones: the system prompt, and the rest from the last user
    message on (so a template's user/assistant alternation starts where it does in the chat)."""
    system = 1 if messages and messages[0].get("role") == "system" else 0
    start = system
    for index in range(len(messages) - 1, system - 1, -1):
        if messages[index].get("role") == "user":
            start = index
            break
    window = [*messages[:system], *messages[start:]]
    return window if len(window) <= _MAX_WINDOW else None


def _specials(pieces: Sequence[Piece]) -> list[int]:
    return [piece for piece in pieces if isinstance(piece, int)]


def _last_special(pieces: Sequence[Piece]) -> int | None:
    for index in range(len(pieces) - 1, -1, -1):
        if isinstance(pieces[index], int):
            return index
    return None
