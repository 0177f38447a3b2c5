# Two entry points that each do all the setup on a fresh machine:
#   make run   - create .venv, build llama.cpp (portable CPU flags), install Hearth + starter model, open it
#   make test  - the same setup with the test extras, then lint and the whole test suite
# Re-running is fast: the llama-cpp-python wheel is kept in .build/wheels (and ~/.cache/hearth-build),
# and pip runs again only when pyproject.toml or the wheel changed.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
WHEELS := .build/wheels
PYTEST_ARGS ?=

.PHONY: run test lint bench package clean distclean setup-%

run: setup-starter
	$(VENV)/bin/hearth

test: setup-test,dev
	$(PY) -m ruff check desktop_app tests
	$(PY) -m mypy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/actionlint .github/workflows/*.yml
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest $(PYTEST_ARGS)

lint: setup-test,dev
	$(PY) -m ruff check desktop_app tests
	$(PY) -m mypy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/actionlint .github/workflows/*.yml

bench: setup-test,dev
	$(VENV)/bin/hearth bench --model "$$($(PY) -m tests.gemma_model)" --json

# setup-EXTRAS: venv + portable llama.cpp wheel + editable install with those extras.
setup-%:
	@test -x $(PY) || { $(PYTHON) -m venv $(VENV) && $(PY) -m pip install -q --upgrade pip; }
	@packaging/build-llama-wheel.sh $(WHEELS) $(PY)
	@want="$$(cat $(WHEELS)/.key) $$(cat pyproject.toml | sha256sum | cut -c1-16) $*"; \
	 stamp=$(VENV)/.installed; \
	 if [ "$$(cat $$stamp 2>/dev/null)" != "$$want" ]; then \
	   echo "Installing Hearth into $(VENV) with extras [$*]"; \
	   $(PY) -m pip install -q --find-links $(WHEELS) --only-binary llama-cpp-python -e ".[$*]" \
	     && echo "$$want" > $$stamp; \
	 fi

# package: the Linux bundle (dist/hearth/) and .deb, with a portable llama.cpp (AVX2 baseline, no
# AVX-512/AMX) in its own build venv (.build/package-venv); .venv is not touched. See packaging/.
package:
	@PYTHON=$(PYTHON) packaging/build-linux.sh

clean:
	rm -rf build dist .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) .build
