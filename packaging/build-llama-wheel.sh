#!/usr/bin/env bash
# Build llama-cpp-python as a wheel with a portable CPU configuration and keep it.
#
# Why not `pip install llama-cpp-python`: pip's default build uses GGML_NATIVE=ON, which on VMs that
# advertise AMX without allowing it crashes at the first decode (see README, Troubleshooting), and pip
# silently reuses a cached wheel built with other flags. So we build explicitly, key the result by
# version + flags + Python tag, keep it in a user-level cache (shared by clean clones and CI runs on the
# same machine) and copy it into the folder the caller owns (.build/wheels).
#
# Usage: build-llama-wheel.sh DEST_DIR [PYTHON]
# Extra CMake flags (e.g. -DGGML_CUDA=on) come from CMAKE_ARGS and are part of the cache key.
set -euo pipefail

dest=${1:?usage: build-llama-wheel.sh DEST_DIR [PYTHON]}
py=${2:-python3}
version=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}

# Portable flags: never GGML_NATIVE (it enables AMX). On x86-64 we name the ISA extensions
# explicitly; AVX-512 only when this CPU has it, because the wheel is for this machine.
flags="-DGGML_NATIVE=OFF"
case "$(uname -m)" in
  x86_64|amd64)
    flags="$flags -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
    if [ "${HEARTH_PORTABLE_BASELINE:-0}" != 1 ] && grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
      flags="$flags -DGGML_AVX512=ON"
    fi
    ;;
esac
flags="$flags ${CMAKE_ARGS:-}"

tag=$("$py" -c 'import sys, sysconfig; print(sys.implementation.cache_tag + "-" + sysconfig.get_platform())')
key=$(printf '%s|%s|%s' "$version" "$flags" "$tag" | sha256sum | cut -c1-16)
cache_root=${HEARTH_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hearth-build}
cache="$cache_root/llama-cpp-python-$version-$key"

mkdir -p "$dest"
if [ -f "$dest/.key" ] && [ "$(cat "$dest/.key")" = "$key" ] && ls "$dest"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  exit 0
fi

if ! ls "$cache"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  echo "Building llama-cpp-python $version (about 9 minutes on 2 cores, once per machine)"
  echo "  CMAKE_ARGS=$flags"
  tmp=$(mktemp -d "$cache_root.tmp.XXXXXX" 2>/dev/null || { mkdir -p "$cache_root" && mktemp -d "$cache_root.tmp.XXXXXX"; })
  CMAKE_ARGS="$flags" CMAKE_BUILD_PARALLEL_LEVEL="$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)" \
    "$py" -m pip wheel --no-cache-dir --no-deps --no-binary llama-cpp-python \
    -w "$tmp" "llama-cpp-python==$version"
  printf '%s\n' "$flags" > "$tmp/FLAGS"
  mkdir -p "$cache_root"
  rm -rf "$cache"
  mv "$tmp" "$cache"   # atomic: a half-built wheel never looks finished
fi

rm -f "$dest"/llama_cpp_python-*.whl "$dest/.key"
cp "$cache"/llama_cpp_python-*.whl "$dest/"
printf '%s\n' "$key" > "$dest/.key"
