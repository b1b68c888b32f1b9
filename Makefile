VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NODE_STAMP := tests/node_modules/.installed

.PHONY: install run test lint typecheck migrate clean bench node-packages

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

run: install
	TESSERA_MODE=$${TESSERA_MODE:-development} $(VENV)/bin/tessera serve

migrate: install
	$(VENV)/bin/tessera migrate

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy .

# The gateway tests' Node packages (tests/package-lock.json), when npm exists. Without
# it those tests are skipped, and say so; under CI=true they fail.
node-packages:
	@if command -v npm >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory $(NODE_STAMP); \
	else \
		echo "make test: no npm found; the gateway tests are SKIPPED (install nodejs and npm)" >&2; \
	fi

$(NODE_STAMP): tests/package.json tests/package-lock.json
	npm ci --prefix tests --no-audit --no-fund
	touch $(NODE_STAMP)

test: install lint typecheck node-packages
	bash .ci/pytest.sh $(VENV)/bin/pytest

# Load benchmark against a same-run baseline (bench/README.md); never part of `make test`.
# Quick run: BENCH_DURATION=3s BENCH_ROUNDS=1 BENCH_GROWTH=10000 make bench
bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache tests/node_modules
