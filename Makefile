# Two entry points, each sets up its own environment (Python 3.11+ is all a machine needs).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch (the `neural` extra) is a CPU build here: install it pinned, never unpinned (several GB of CUDA)

.PHONY: demo test bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0  # the pinned CPU build first: never pull a CUDA build
	$(BIN)/python -m pip install --quiet -e ".[dev,guard,neural,embed]"
	touch $@

demo: $(BIN)/.installed
	$(BIN)/cliffwatch demo

test: $(BIN)/.installed chromium
	$(BIN)/python -m pytest

bench: $(BIN)/.installed
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) runs .pytest_cache

# the report test renders in headless Chromium (Debian's package); install it when we can (root)
.PHONY: chromium
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq chromium >/dev/null); } || echo "chromium not installed: the report rendering test will be skipped"
