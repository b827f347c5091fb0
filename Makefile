# The two set-up commands: `make run` (all three services on SQLite) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
UV := python3 -m uv

.PHONY: install run test lint typecheck test-sqlite test-postgres

$(VENV)/.installed: pyproject.toml uv.lock
	python3 -m pip install --quiet --disable-pip-version-check "uv>=0.5"
	UV_PYTHON_DOWNLOADS=never $(UV) sync --locked --quiet
	touch $@

install: $(VENV)/.installed

# Migrates, then runs referrals (8001), supervision (8002) and reporting (8003) on ./var/*.db;
# extra options via ARGS, e.g. `make run ARGS="--only reporting"`. Ctrl-C stops everything cleanly.
run: install
	$(PY) -m frontdoor up $(ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy frontdoor shared services bench

test-sqlite: install
	FRONTDOOR_TEST_DB=sqlite $(PY) -m pytest -q -p no:cacheprovider

test-postgres: install
	FRONTDOOR_TEST_DB=postgres $(PY) -m pytest -q -p no:cacheprovider

test: lint typecheck test-sqlite test-postgres
