"""The chat formats that ship with Hearth, for models whose file has no template (or a refused one).

These templates are our own code: they render in this process, in well under a millisecond. Each
carries the stop strings that end a turn in its family.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BuiltinFormat:
    display_name: str
    template: str
    stop_strings: tuple[str, ...]


# Written with `{%-`/`-%}` so that trim_blocks/lstrip_blocks (always on, as in HF transformers) and the
# newlines between statements add nothing: what each renders is pinned by tests/test_templates.py.
_GEMMA = """\
{{- bos_token -}}
{%- if messages and messages[0]['role'] == 'system' -%}
    {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = '' -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}
    {{- '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') -}}
    {{- message['content'] | trim -}}
    {{- '<end_of_turn>\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<start_of_turn>model\n' -}}{%- endif -%}
"""

_GEMMA_4 = """\
{{- bos_token -}}
{%- if messages and messages[0]['role'] in ['system', 'developer'] -%}
    {{- '<|turn>system\n' + messages[0]['content'] | trim + '<turn|>\n' -}}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}
    {{- '<|turn>' + role + '\n' + message['content'] | trim + '<turn|>\n' -}}
{%- endfor -%}
{#- an empty thought channel: answer directly, as Google's template does with thinking off -#}
{%- if add_generation_prompt -%}{{- '<|turn>model\n<|channel>thought\n<channel|>' -}}{%- endif -%}
"""

_LLAMA_3 = """\
{{- bos_token -}}
{%- for message in messages -%}
    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' -}}
    {{- message['content'] | trim -}}
    {{- '<|eot_id|>' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}{%- endif -%}
"""

_CHATML = """\
{%- for message in messages -%}
    {{- '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\n' -}}{%- endif -%}
"""

_MISTRAL = """\
{{- bos_token -}}
{%- if messages and messages[0]['role'] == 'system' -%}
    {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = '' -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if message['role'] == 'user' -%}
        {{- '[INST] ' + (first_user_prefix if loop.first else '') + message['content'] + ' [/INST]' -}}
    {%- elif message['role'] == 'assistant' -%}
        {{- message['content'] + eos_token -}}
    {%- endif -%}
{%- endfor -%}
"""

_PHI_3 = """\
{%- for message in messages -%}
    {{- '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<|assistant|>\n' -}}{%- endif -%}
"""

_LLAMA_2 = """\
{%- if messages and messages[0]['role'] == 'system' -%}
    {%- set system_prefix = '<<SYS>>\n' + messages[0]['content'] + '\n<</SYS>>\n\n' -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set system_prefix = '' -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if message['role'] == 'user' -%}
        {%- set content = (system_prefix if loop.first else '') + message['content'] | trim -%}
        {{- bos_token + '[INST] ' + content + ' [/INST]' -}}
    {%- elif message['role'] == 'assistant' -%}
        {{- ' ' + message['content'] | trim + ' ' + eos_token -}}
    {%- endif -%}
{%- endfor -%}
"""

BUILTINS: dict[str, BuiltinFormat] = {
    "chatml": BuiltinFormat("ChatML (Qwen, many fine-tunes)", _CHATML, ("<|im_end|>", "<|im_start|>")),
    "gemma": BuiltinFormat("Gemma 1-3", _GEMMA, ("<end_of_turn>", "<start_of_turn>")),
    "gemma-4": BuiltinFormat("Gemma 4", _GEMMA_4, ("<turn|>", "<|turn>")),
    "llama-3": BuiltinFormat("Llama 3", _LLAMA_3, ("<|eot_id|>", "<|eom_id|>", "<|start_header_id|>")),
    "llama-2": BuiltinFormat("Llama 2", _LLAMA_2, ("</s>", "[INST]")),
    "mistral": BuiltinFormat("Mistral", _MISTRAL, ("</s>", "[INST]")),
    "phi-3": BuiltinFormat("Phi-3", _PHI_3, ("<|end|>", "<|endoftext|>", "<|user|>")),
}
DEFAULT_FAMILY = "chatml"
#: the template texts that may render in this process (see render_chat)
BUILTIN_TEXTS = frozenset(builtin.template for builtin in BUILTINS.values())

#: The special tokens that give a template's family away; the more specific marker comes first
#: (Llama 2's template also contains `[INST]`).
TEMPLATE_MARKERS: tuple[tuple[str, str], ...] = (
    ("<start_of_turn>", "gemma"),
    ("<|turn>", "gemma-4"),
    ("<|start_header_id|>", "llama-3"),
    ("<|im_start|>", "chatml"),
    ("<|assistant|>", "phi-3"),
    ("<<SYS>>", "llama-2"),
    ("[INST]", "mistral"),
)
