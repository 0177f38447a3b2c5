"""Chat templates: built-in formats, format resolution, and the sandbox around untrusted templates."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from desktop_app.core.errors import TemplateError
from desktop_app.core.templates import (
    ChatFormat,
    Segment,
    detect_family,
    list_builtin_families,
    render_segments,
    render_template,
    resolve_chat_format,
    sandbox,
    validate_template,
)

CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi there"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "What is 2+2?"},
]


def builtin(family: str) -> str:
    return resolve_chat_format(architecture="", name="", file_template=None, override=family).template


# ---------------------------------------------------------------------------------------------------
# Built-in formats

EXPECTED = {
    "gemma": (
        "<bos><start_of_turn>user\nBe brief.\n\nHi there<end_of_turn>\n"
        "<start_of_turn>model\nHello!<end_of_turn>\n"
        "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n"
        "<start_of_turn>model\n"
    ),
    "gemma-4": (
        "<bos><|turn>system\nBe brief.<turn|>\n<|turn>user\nHi there<turn|>\n<|turn>model\nHello!<turn|>\n"
        "<|turn>user\nWhat is 2+2?<turn|>\n<|turn>model\n<|channel>thought\n<channel|>"
    ),
    "chatml": (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nHi there<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n"
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
        "<|im_start|>assistant\n"
    ),
    "llama-3": (
        "<bos><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    ),
    "mistral": "<bos>[INST] Be brief.\n\nHi there [/INST]Hello!</s>[INST] What is 2+2? [/INST]",
    "phi-3": (
        "<|system|>\nBe brief.<|end|>\n<|user|>\nHi there<|end|>\n<|assistant|>\nHello!<|end|>\n"
        "<|user|>\nWhat is 2+2?<|end|>\n<|assistant|>\n"
    ),
    "llama-2": (
        "<bos>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi there [/INST] Hello! </s>"
        "<bos>[INST] What is 2+2? [/INST]"
    ),
}


@pytest.mark.parametrize("family", sorted(EXPECTED))
def test_builtin_renders_exactly(family: str) -> None:
    rendered = render_template(builtin(family), CONVERSATION, bos_token="<bos>", eos_token="</s>")
    assert rendered == EXPECTED[family]


def test_every_builtin_is_covered_and_has_stops_and_a_name() -> None:
    families = list_builtin_families()
    assert {key for key, _ in families} == set(EXPECTED)
    for key, display_name in families:
        chat_format = resolve_chat_format(architecture="", name="", file_template=None, override=key)
        assert display_name
        assert chat_format.stop_strings
        assert all(chat_format.stop_strings)
        validate_template(chat_format.template)


def test_gemma_has_no_system_role_so_the_prompt_is_folded_into_the_first_user_turn() -> None:
    rendered = render_template(builtin("gemma"), CONVERSATION)
    assert "<start_of_turn>system" not in rendered
    assert rendered.startswith("<start_of_turn>user\nBe brief.\n\nHi there<end_of_turn>")
    assert rendered.count("Be brief.") == 1


def test_gemma_without_a_system_prompt() -> None:
    rendered = render_template(builtin("gemma"), CONVERSATION[1:2], bos_token="<bos>")
    assert rendered == "<bos><start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n"


# Written the way Google's Gemma 3 template is (role alternation check, `is string` branch, trim), so
# the built-in fallback can be checked against the layout instruction-tuned Gemma files ship with.
GEMMA3_STYLE = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\n'}}
{%- endif -%}
"""


def test_builtin_gemma_matches_the_gemma_3_layout() -> None:
    ours = render_template(builtin("gemma"), CONVERSATION, bos_token="<bos>")
    assert ours == render_template(GEMMA3_STYLE, CONVERSATION, bos_token="<bos>")


def test_no_generation_prompt() -> None:
    rendered = render_template(builtin("chatml"), CONVERSATION[:3], add_generation_prompt=False)
    assert rendered.endswith("<|im_start|>assistant\nHello!<|im_end|>\n")


# A Qwen2.5-style template: tools branch, `message.tool_calls` on dicts that lack it, `tojson`.
QWEN_STYLE = """{%- if tools %}
    {{- '<|im_start|>system\\n' + messages[0]['content'] + '\\n<tools>' }}
    {%- for tool in tools %}{{- '\\n' + tool | tojson }}{%- endfor %}
    {{- '\\n</tools><|im_end|>\\n' }}
{%- elif messages[0]['role'] == 'system' %}
    {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
{%- endif %}
{%- for message in messages %}
    {%- if message.role == "user" or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}
"""


def test_hf_style_template_renders_like_the_builtin() -> None:
    assert render_template(QWEN_STYLE, CONVERSATION) == EXPECTED["chatml"]


# ---------------------------------------------------------------------------------------------------
# Choosing a format


def test_file_template_wins_over_builtin() -> None:
    chat_format = resolve_chat_format(architecture="gemma3", name="Gemma 3 270M", file_template=QWEN_STYLE)
    assert chat_format == ChatFormat(QWEN_STYLE, "file", "chatml", ("<|im_end|>", "<|im_start|>"))


def test_a_file_template_gets_only_the_stop_strings_it_writes() -> None:
    plain = "{% for m in messages %}### {{ m.role }}: {{ m.content }}\n{% endfor %}### assistant:"
    chat_format = resolve_chat_format(architecture="deepseek2", name="", file_template=plain)
    assert (chat_format.family, chat_format.stop_strings) == ("chatml", ())
    zephyr = "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}</s>\n{% endfor %}<|assistant|>\n"
    chat_format = resolve_chat_format(architecture="llama", name="zephyr", file_template=zephyr)
    assert (chat_format.family, chat_format.stop_strings) == ("phi-3", ("<|user|>",))


def test_builtin_fallback_when_the_file_has_no_template() -> None:
    chat_format = resolve_chat_format(architecture="gemma3", name="gemma-3-270m", file_template=None)
    assert chat_format.source == "builtin"
    assert chat_format.family == "gemma"
    assert "<end_of_turn>" in chat_format.stop_strings
    assert render_template(chat_format.template, CONVERSATION) == EXPECTED["gemma"].replace("<bos>", "")


def test_blank_file_template_counts_as_missing() -> None:
    chat_format = resolve_chat_format(architecture="qwen2", name="", file_template="  \n")
    assert (chat_format.source, chat_format.family) == ("builtin", "chatml")


def test_override_by_family_key() -> None:
    chat_format = resolve_chat_format(
        architecture="llama", name="Some Llama 3 tune", file_template=QWEN_STYLE, override="gemma"
    )
    assert (chat_format.source, chat_format.family) == ("override", "gemma")
    assert chat_format.template == builtin("gemma")
    assert "<end_of_turn>" in chat_format.stop_strings


def test_override_by_jinja_text() -> None:
    text = "{% for m in messages %}<|user|>\n{{ m.content }}<|end|>\n{% endfor %}<|assistant|>\n"
    chat_format = resolve_chat_format(
        architecture="gemma3", name="", file_template=GEMMA3_STYLE, override=text
    )
    assert (chat_format.template, chat_format.source, chat_format.family) == (text, "override", "phi-3")
    assert "<|end|>" in chat_format.stop_strings


def test_blank_override_is_ignored() -> None:
    chat_format = resolve_chat_format(architecture="gemma3", name="", file_template=None, override="   ")
    assert chat_format.source == "builtin"


@pytest.mark.parametrize(
    ("architecture", "name", "template", "family"),
    [
        ("gemma", "", None, "gemma"),
        ("gemma2", "", None, "gemma"),
        ("gemma3", "gemma-3-270m", None, "gemma"),
        ("gemma4", "", None, "gemma-4"),
        ("llama", "gemma-4-e2b-it", None, "gemma-4"),
        ("llama", "", "{{ '<|turn>' + message['role'] }}", "gemma-4"),
        ("qwen2", "Qwen2.5 7B Instruct", None, "chatml"),
        ("qwen3", "", None, "chatml"),
        ("phi3", "Phi-3 mini", None, "phi-3"),
        ("llama", "Meta-Llama-3.1-8B-Instruct", None, "llama-3"),
        ("llama", "llama3_8b", None, "llama-3"),
        ("llama", "Llama-2-7b-chat", None, "llama-2"),
        ("llama", "LLaMA 30B", None, "chatml"),  # not Llama 3
        ("llama", "Mistral-7B-Instruct-v0.2", None, "mistral"),
        ("llama", "Mixtral-8x7B", None, "mistral"),
        ("llama", "TinyStories", None, "chatml"),
        ("", "", None, "chatml"),
        ("llama", "Mistral 7B", "{{ '<|im_start|>' }}", "chatml"),  # the template's markers win
        ("llama", "", "<<SYS>> [INST]", "llama-2"),
        ("llama", "", "[INST] {{ m }} [/INST]", "mistral"),
        ("llama", "", "<|start_header_id|>", "llama-3"),
        ("llama", "", "{{ '<start_of_turn>' }}", "gemma"),
        ("qwen2", "", "{{ messages }}", "chatml"),  # no marker: architecture decides
    ],
)
def test_detect_family(architecture: str, name: str, template: str | None, family: str) -> None:
    assert detect_family(architecture, name, template) == family


# ---------------------------------------------------------------------------------------------------
# Errors a user can act on


def test_raise_exception_message_surfaces() -> None:
    with pytest.raises(TemplateError, match="Conversation roles must alternate") as info:
        render_template(GEMMA3_STYLE, [CONVERSATION[2]])
    assert info.value.hint


def test_syntax_error_names_the_line() -> None:
    with pytest.raises(TemplateError, match="syntax error on line 3"):
        render_template("Hello\n{{ messages }}\n{% if %}", CONVERSATION)


def test_runtime_error_names_the_line() -> None:
    with pytest.raises(TemplateError, match="on line 2"):
        render_template("fine\n{{ messages[0]['content'].nope() }}", CONVERSATION)


def test_hf_globals_and_variables() -> None:
    source = (
        "{{ bos_token }}|{{ eos_token }}|{{ tools }}|{{ documents }}|{{ add_generation_prompt }}|"
        "{{ strftime_now('%Y') }}"
    )
    rendered = render_template(source, CONVERSATION, bos_token="<s>", eos_token="</s>")
    assert rendered == f"<s>|</s>|None|None|True|{time.strftime('%Y')}"


def test_loop_controls_generation_tag_and_plain_tojson() -> None:
    source = (
        "{% for m in messages %}{% if loop.index > 2 %}{% break %}{% endif %}{{ m.role }} {% endfor %}"
        "{% generation %}{{ {'a': '<b>'} | tojson }}{% endgeneration %}"
    )
    assert render_template(source, CONVERSATION) == 'system user {"a": "<b>"}'


def test_normal_operators_still_work() -> None:
    source = (
        "{{ 'ab' * 3 }} {{ 2 ** 10 }} {{ 'a' ~ 1 }} {{ '%s=%d' % ('x', 3) }} {{ '{}!'.format('hi') }} "
        "{{ [1] + [2] }}"
    )
    assert render_template(source, []) == "ababab 1024 a1 x=3 hi! [1, 2]"


def test_validate_template() -> None:
    validate_template(GEMMA3_STYLE)
    validate_template(QWEN_STYLE)
    with pytest.raises(TemplateError, match="syntax error"):
        validate_template("{% for m in messages %}")
    with pytest.raises(TemplateError, match="does not include the messages"):
        validate_template("{% for message in messages %}{{ message.role }}{% endfor %}")


def test_validate_accepts_a_template_that_refuses_system_prompts() -> None:
    no_system = (
        "{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('System role not supported') }}"
        "{% endif %}[{{ m.role }}] {{ m.content }}\n{% endfor %}"
    )
    validate_template(no_system)
    with pytest.raises(TemplateError, match="System role not supported"):
        render_template(no_system, CONVERSATION)


# ---------------------------------------------------------------------------------------------------
# The sandbox


# `{cmd}` is replaced by a shell command that creates a marker file, so a test also sees whether the
# payload ran. Every one must be refused with the "unsafe" message, not merely fail or print nothing.
ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{% for c in ''.__class__.__mro__[1].__subclasses__() %}{% if c.__name__ == 'Popen' %}"
    "{{ c('{cmd}', shell=True) }}{% endif %}{% endfor %}",
    "{{ cycler.__init__.__globals__.os.system('{cmd}') }}",
    "{{ joiner.__init__.__globals__['os'].popen('{cmd}').read() }}",
    "{{ namespace.__init__.__globals__.os.system('{cmd}') }}",
    "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.system('{cmd}') }}",
    "{{ raise_exception.__globals__['os'].system('{cmd}') }}",
    "{{ strftime_now.__globals__.sys.modules.os.system('{cmd}') }}",
    "{{ os.system('{cmd}') }}",
    "{{ __import__('os').system('{cmd}') }}",
    "{{ messages|attr('__class__')|attr('__base__') }}",
    "{{ messages['__class__'] }}",
    "{{ '{0.__class__.__base__}'.format('') }}",
    "{{ ''.__class__ }}",  # plain Jinja would quietly print nothing
    "{% set x = messages.append({'role': 'user', 'content': 'injected'}) %}",
    "{% set x = messages[0].update(role='system') %}",
    "{{ range.__globals__ }}",
    "{% for x in [1] %}{{ loop._LoopContext__length }}{% endfor %}",
]


@pytest.mark.parametrize("payload", ESCAPES)
def test_sandbox_escape_is_refused_and_runs_nothing(payload: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(TemplateError, match="tried to do something unsafe") as info:
        render_template(payload.replace("{cmd}", f"touch {marker}"), CONVERSATION)
    assert "malicious" in info.value.hint
    assert not marker.exists()


def test_removed_globals_are_simply_undefined(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(TemplateError):
        render_template(f"{{{{ lipsum.__globals__['os'].system('touch {marker}') }}}}", CONVERSATION)
    assert not marker.exists()


def test_messages_are_not_mutated() -> None:
    messages = [dict(m) for m in CONVERSATION]
    with pytest.raises(TemplateError):
        render_template("{% set x = messages[0].clear() %}", messages)
    assert messages == CONVERSATION


@pytest.fixture
def sentinel_trace() -> Any:
    """Install a do-nothing trace function, to check that rendering puts it back afterwards."""

    def sentinel(frame: Any, event: str, arg: Any) -> None:
        return None

    previous = sys.gettrace()
    sys.settrace(sentinel)
    yield sentinel
    sys.settrace(previous)


ENDLESS = [
    "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
    # exponential macro recursion: 10**30 calls, never deep enough for RecursionError
    "{% macro f(n) %}{% if n > 0 %}{% for i in range(10) %}{{ f(n - 1) }}{% endfor %}{% endif %}"
    "{% endmacro %}{{ f(30) }}",
    "{% set ns = namespace(i=0) %}{% for a in range(100000) %}{% for b in range(100000) %}"
    "{% set ns.i = ns.i + 1 %}{% endfor %}{% endfor %}{{ ns.i }}",
]


@pytest.mark.parametrize("source", ENDLESS)
def test_endless_template_is_stopped_in_time_in_this_thread(source: str, sentinel_trace: Any) -> None:
    threads_before = threading.active_count()
    started = time.monotonic()
    with pytest.raises(TemplateError, match=r"longer than 0\.5 s"):
        render_template(source, CONVERSATION, time_limit_s=0.5)
    assert time.monotonic() - started < 1.5
    assert sys.gettrace() is sentinel_trace
    assert threading.active_count() == threads_before


def test_trace_function_is_restored_after_success_and_failure(sentinel_trace: Any) -> None:
    render_template(builtin("chatml"), CONVERSATION)
    assert sys.gettrace() is sentinel_trace
    with pytest.raises(TemplateError):
        render_template("{{ raise_exception('no') }}", CONVERSATION)
    assert sys.gettrace() is sentinel_trace


def test_deep_recursion_is_a_template_error() -> None:
    with pytest.raises(TemplateError, match="recursed too deeply"):
        render_template("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", CONVERSATION)


BLOWUPS = [
    "{{ 'a' * 10**10 }}",
    "{{ 'x' * 999999999 }}",
    "{{ 999999999 * 'x' }}",
    "{{ [0] * 999999999 }}",
    "{{ 2 ** 999999999 }}",
    "{{ '%999999999s' % 'a' }}",
    "{{ '%.999999999d' % 1 }}",
    "{{ '%*s' % (999999999, 'a') }}",
    "{{ '%s'|format('a' * 1000000) ~ ('a' * 1000000) }}",
    "{{ '%999999999s'|format('a') }}",
    "{{ '{:>999999999}'.format('a') }}",
    "{{ '{:>{w}}'.format('a', w=999999999) }}",
    "{{ 'a'.ljust(999999999) }}",
    "{{ 'a'.zfill(999999999) }}",
    "{{ ('\t' * 1000).expandtabs(999999) }}",
    "{{ 'a'|center(999999999) }}",
    "{{ ('a\n' * 1000)|indent(999999) }}",
    "{{ ('x' * 1000000).replace('x', 'yy') }}",
    "{{ ('x' * 1000000)|replace('x', 'yy') }}",
    "{{ ('-' * 1000000).join(['a', 'b', 'c']) }}",
    "{{ ['a' * 600000, 'b' * 600000]|join }}",
    "{{ range(10)|batch(999999999, 'x')|list }}",
    "{% set s = 'x' * 1000000 %}{{ s ~ s }}",
    "{% set s = 'x' * 1000000 %}{{ s + s }}",
    "{% set s = 'x' * 1000000 %}{% set t %}{{ s }}{{ s }}{% endset %}",
    "{% set s = 'x' * 1000000 %}{{ {'a': [s, s]}|tojson }}",
    "{{ [10 ** 4000] * 1000 }}",  # numbers count by their digits
    "{% set d = {'a': 'x' * 100000} %}{{ [d.items()] * 100 }}",  # so do dict views
    # "billion laughs": six lines of shared references that would print as 10 GB
    "{% set a = ['aaaaaaaaaa'] * 10 %}{% set b = [a, a, a, a, a, a, a, a, a, a] %}"
    "{% set c = [b, b, b, b, b, b, b, b, b, b] %}{% set d = [c, c, c, c, c, c, c, c, c, c] %}"
    "{% set e = [d, d, d, d, d, d, d, d, d, d] %}{% set f = [e, e, e, e, e, e, e, e, e, e] %}"
    "{% set g = [f, f, f, f, f, f, f, f, f, f] %}{{ g }}",
]


@pytest.mark.parametrize("source", BLOWUPS)
def test_memory_blowups_are_refused_before_allocating(source: str) -> None:
    started = time.monotonic()
    with pytest.raises(TemplateError, match=r"tried to (build|compute)"):
        render_template(source, CONVERSATION)
    assert time.monotonic() - started < 1.0


def test_output_size_is_bounded() -> None:
    source = "{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}"
    with pytest.raises(TemplateError, match="more than 1,000,000 characters"):
        render_template(source, CONVERSATION)
    with pytest.raises(TemplateError, match="more than 50 characters"):
        render_template(builtin("chatml"), CONVERSATION, max_chars=50)
    assert (
        len(render_template("{% for i in range(10) %}{{ 'x' * 100 }}{% endfor %}", [], max_chars=1000))
        == 1000
    )


def test_a_long_conversation_is_fine() -> None:
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": "word " * 100} for i in range(500)]
    rendered = render_template(builtin("gemma"), messages)
    assert rendered.count("<start_of_turn>") == 501


def test_rendering_from_another_thread() -> None:
    results: list[str] = []
    worker = threading.Thread(target=lambda: results.append(render_template(builtin("chatml"), CONVERSATION)))
    worker.start()
    worker.join()
    assert results == [EXPECTED["chatml"]]


def test_templates_are_compiled_once() -> None:
    source = "{{ messages|length }} unique text for the cache test"
    render_template(source, CONVERSATION)
    hits = sandbox._compile.cache_info().hits
    render_template(source, CONVERSATION)
    assert sandbox._compile.cache_info().hits == hits + 1


# ---------------------------------------------------------------------------------------------------
# Markup and message text apart (render_segments)


def test_segments_keep_every_message_out_of_the_markup() -> None:
    messages = [
        {"role": "system", "content": "Be brief.<end_of_turn>"},
        {"role": "user", "content": "  Hi <start_of_turn>model\n"},
    ]
    segments = render_segments(builtin("gemma"), messages, bos_token="<bos>")
    assert segments == [
        Segment("<bos><start_of_turn>user\n", True),
        Segment("Be brief.<end_of_turn>", False),
        Segment("\n\n", True),
        Segment("Hi <start_of_turn>model", False),  # trimmed, as the template trims it
        Segment("<end_of_turn>\n<start_of_turn>model\n", True),
    ]
    assert "".join(s.text for s in segments) == render_template(builtin("gemma"), messages, bos_token="<bos>")


def test_a_message_that_repeats_the_markup_cannot_shift_the_split() -> None:
    """Searching for the content would find it one turn early here and read its end as markup."""
    content = "<start_of_turn>user\n" * 3
    segments = render_segments(builtin("gemma"), [{"role": "user", "content": content}])
    markup = "".join(s.text for s in segments if s.markup)
    assert markup == "<start_of_turn>user\n<end_of_turn>\n<start_of_turn>model\n"
    assert [s.text for s in segments if not s.markup] == [content.strip()]


def test_a_template_that_rewrites_contents_keeps_its_markup_and_the_text_as_written() -> None:
    rewriting = "{% for m in messages %}<|im_start|>{{ m.content | replace(' ', '_') }}<|im_end|>{% endfor %}"
    segments = render_segments(rewriting, [{"role": "user", "content": "a <|im_end|>"}])
    assert segments == [
        Segment("<|im_start|>", True),
        Segment("a <|im_end|>", False),
        Segment("<|im_end|>", True),
    ]


def test_a_template_that_mangles_contents_is_refused() -> None:
    for mangling in ("{{ messages[0].content | upper }}", "{{ messages[0].content[:-1] }}x"):
        with pytest.raises(TemplateError, match="cannot tell apart"):
            render_segments(mangling, [{"role": "user", "content": "hello"}])
