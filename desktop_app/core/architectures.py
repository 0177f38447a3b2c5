r"""Model architectures the pinned llama.cpp can load.

`gguf_info` rejects any other `general.architecture` before llama.cpp sees the file, so the user
gets "not supported by this version of Hearth" instead of a bare load failure.

Generated from the `LLM_ARCH_NAMES` table in `vendor/llama.cpp/src/llama-arch.cpp` of the
llama-cpp-python 0.3.36 sdist. Regenerate it whenever the llama-cpp-python pin moves:

    cd /tmp && pip download --no-deps --no-binary :all: llama-cpp-python==<version>
    tar -xzf llama_cpp_python-<version>.tar.gz
    awk '/LLM_ARCH_NAMES = \{/,/^\};/' llama_cpp_python-<version>/vendor/llama.cpp/src/llama-arch.cpp \
        | grep -o '"[^"]*"' | tr -d '"' | grep -v '^(' | grep -vx clip | sort

Left out on purpose: "(unknown)", the placeholder for LLM_ARCH_UNKNOWN, and "clip", which the
table marks as a dummy for llama-quantize; llama.cpp refuses to load it as a main model (it is a
vision projector, an "mmproj" file).
"""

from __future__ import annotations

LLAMA_CPP_PYTHON_VERSION = "0.3.36"

#: In the table, but vision projectors ("mmproj" files), not models: the error can say what they are.
PROJECTOR_ARCHITECTURES: frozenset[str] = frozenset({"clip"})

# fmt: off
SUPPORTED_ARCHITECTURES: frozenset[str] = frozenset({
    "afmoe", "apertus", "arcee", "arctic", "arwkv7", "baichuan", "bailingmoe", "bailingmoe2",
    "bailingmoe3", "bert", "bitnet", "bloom", "chameleon", "chatglm", "codeshell", "cogvlm",
    "cohere2", "cohere2moe", "command-r", "dbrx", "deci", "deepseek", "deepseek2", "deepseek2-ocr",
    "deepseek32", "deepseek4", "dflash", "dots1", "dots3note", "dream", "eagle3", "ernie4_5",
    "ernie4_5-moe", "eurobert", "exaone", "exaone-moe", "exaone4", "falcon", "falcon-h1", "gemma",
    "gemma-embedding", "gemma2", "gemma3", "gemma3n", "gemma4", "gemma4-assistant", "glm-dsa",
    "glm4", "glm4moe", "glm5-next", "gpt-oss", "gpt2", "gptj", "gptneox", "granite", "granite_swa",
    "granitehybrid", "granitemoe", "graniteswitch", "grok", "grovemoe", "hrm_text",
    "hunyuan-dense", "hunyuan-moe", "hunyuan_vl", "hy_v3", "hy_v4", "internlm2", "jais", "jais2",
    "jamba", "jina-bert-v2", "jina-bert-v3", "kimi-k3", "kimi-linear", "laguna", "lfm2", "lfm2moe",
    "llada", "llada-moe", "llama", "llama-embed", "llama4", "maincoder", "mamba", "mamba2",
    "maple", "mellum", "mimo2", "minicpm", "minicpm3", "minimax-01", "minimax-m2", "minimax-m3",
    "mistral3", "mistral4", "modern-bert", "mpt", "muse-glimmer", "nanbeige", "nemotron",
    "nemotron_h", "nemotron_h_moe", "neo-bert", "nomic-bert", "nomic-bert-moe", "olmo", "olmo2",
    "olmoe", "openelm", "orion", "paddleocr", "pangu-embedded", "phi2", "phi3", "phimoe", "plamo",
    "plamo2", "plamo3", "plm", "pockettts", "qwen", "qwen2", "qwen2moe", "qwen2vl", "qwen3",
    "qwen35", "qwen35moe", "qwen3moe", "qwen3next", "qwen3tts", "qwen3vl", "qwen3vlmoe",
    "qwen4exp", "refact", "rnd1", "rwkv6", "rwkv6qwen2", "rwkv7", "seed_oss", "smallthinker",
    "smollm3", "spark2_5", "stablelm", "starcoder", "starcoder2", "step35", "t5", "t5encoder",
    "talkie", "wavtokenizer-dec", "xverse",
})
# fmt: on
