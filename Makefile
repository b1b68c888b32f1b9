VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck migrate clean bench node-packages graphiql-assets graphiql-assets-check

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

# Node.js (22.15 or later, fetched when older) and the gateway tests' packages, when
# npm exists; without it those tests are skipped, saying so (under CI=true they fail).
node-packages:
	@bash .ci/node.sh

test: install lint typecheck node-packages
	bash .ci/pytest.sh $(VENV)/bin/pytest

# Load benchmark against a same-run baseline (bench/README.md); never part of `make test`.
# Quick run: BENCH_DURATION=3s BENCH_ROUNDS=1 BENCH_GROWTH=10000 make bench
bench: install
	$(PY) -m bench

# GraphiQL's pinned files, fetched again from npm (web/static/graphiql/README.md): after
# a version change in web/static/graphiql/assets.json, or to check the vendored ones.
graphiql-assets: install
	$(PY) scripts/vendor_graphiql.py

graphiql-assets-check: install
	$(PY) scripts/vendor_graphiql.py --check

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache tests/node_modules tests/.node
