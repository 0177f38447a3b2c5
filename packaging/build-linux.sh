#!/usr/bin/env bash
# `make package`: the Linux installer, from a clean checkout, without touching the dev venv.
#
#   1. llama-cpp-python built with the *portable baseline* (GGML_NATIVE=OFF, AVX2/FMA/F16C, no AVX-512,
#      no AMX) into .build/wheels-portable; cached in ~/.cache/hearth-build like the dev wheel
#      (about 6-9 minutes once per machine, seconds afterwards);
#   2. a separate build venv (.build/package-venv) with that wheel, Hearth itself (a real install, so
#      the bundle carries its version metadata) and PyInstaller;
#   3. PyInstaller (packaging/hearth.spec) -> dist/hearth/, then its self-test, offscreen;
#   4. the .deb (packaging/linux/build_deb.py) -> dist/hearth_VERSION_ARCH.deb.
#
# Environment: PYTHON (the interpreter for the build venv; default python3), HEARTH_DIST_DIR and
# HEARTH_WORK_DIR (default dist and build/pyinstaller), HEARTH_SELF_TEST_MODEL=PATH (the bundle's
# self-test also generates with that model), HEARTH_SKIP_DEB=1 (bundle only),
# HEARTH_DEB_COMPRESSION (dpkg-deb -Z: xz by default; none for quick test builds).
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
venv=.build/package-venv
wheels=.build/wheels-portable
py=$venv/bin/python
llama_version=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
dist=${HEARTH_DIST_DIR:-dist}
work=${HEARTH_WORK_DIR:-build/pyinstaller}

test -x "$py" || { "$python" -m venv "$venv" && "$py" -m pip install -q --upgrade pip; }
HEARTH_PORTABLE_BASELINE=1 packaging/build-llama-wheel.sh "$wheels" "$py"

want="$(cat "$wheels/.key") $(sha256sum pyproject.toml | cut -c1-16)"
if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$want" ]; then
  echo "Installing the portable llama-cpp-python and Hearth's dependencies into $venv"
  "$py" -m pip install -q --no-deps --force-reinstall "$wheels"/llama_cpp_python-"$llama_version"-*.whl
  "$py" -m pip install -q --find-links "$wheels" --only-binary llama-cpp-python ".[packaging]"
  echo "$want" > "$venv/.installed"
fi
# Hearth itself changes with every commit: reinstall it (a few seconds), never editable.
"$py" -m pip install -q --no-deps --force-reinstall --no-build-isolation .

started=$(date +%s)
"$py" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$dist" --workpath "$work" packaging/hearth.spec
echo "PyInstaller: $(( $(date +%s) - started )) s; bundle: $(du -sh "$dist/hearth" | cut -f1)"

# The bundle must work before it is wrapped: Qt offscreen, llama.cpp portable, data in a scratch home.
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
model_args=()
if [ -n "${HEARTH_SELF_TEST_MODEL:-}" ]; then model_args=(--model "$HEARTH_SELF_TEST_MODEL"); fi
HEARTH_HOME="$home" QT_QPA_PLATFORM=offscreen "$dist/hearth/hearth" --self-test ${model_args[@]+"${model_args[@]}"}

if [ "${HEARTH_SKIP_DEB:-0}" != 1 ]; then
  "$py" packaging/linux/build_deb.py "$dist/hearth" "$dist"
fi
