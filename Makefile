# Two commands a new machine needs: `make demo` and `make test`. Both build .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint bench clean serve screenshots

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit("Python >= 3.11 is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,cluster]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/claimsight demo

# Tests run in TEST_WORKERS processes (pytest-xdist; each worker builds the session worlds its tests ask for):
# the whole suite took 20 min in one process here and 11 min in two. TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= 2

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)

# The quick subset for the edit loop: everything but the tests marked `slow` (session-world training, servers,
# notebooks, schemathesis, end-to-end runs, long property searches). CI runs `make test`.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/mypy notebooks

bench: $(STAMP)
	$(BIN)/claimsight bench

# The scoring API on 127.0.0.1:8000 with the champions `make demo` trained, and the demo data's payer rules (the
# folder the demo trained from, where the dashboard's prevention decisions are written);
# the team workspace under http://127.0.0.1:8000/app when `make demo` made it (or a workspace is configured),
# its today pinned to the demo queue's day (the demo's history ends long before the calendar's today) unless
# CLAIMSIGHT_WORKSPACE_TODAY is set.
SERVE_DATA ?= .claimsight/demo/from-x12-200000-24-7
DEMO_TODAY ?= .claimsight/demo/workspace-today
serve: $(STAMP)
	CLAIMSIGHT_WORKSPACE_TODAY="$${CLAIMSIGHT_WORKSPACE_TODAY-$$(cat $(DEMO_TODAY) 2>/dev/null)}" \
	$(BIN)/claimsight serve $(if $(wildcard $(SERVE_DATA)),--data $(SERVE_DATA))

# The README's pictures of the workspace (docs/screenshots/), from the demo's workspace in a real headless
# Chromium: after `make demo`, with `apt-get install chromium chromium-driver`.
screenshots: $(STAMP)
	PYTHONPATH=.:tests $(BIN)/python tests/browser/readme_screenshots.py --home .claimsight --out docs/screenshots

clean:
	rm -rf $(VENV) .claimsight build *.egg-info
