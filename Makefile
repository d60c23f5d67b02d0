# Two commands a new machine needs: `make demo` and `make test`. Both build .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint bench clean serve

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit("Python >= 3.11 is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/claimsight demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The quick subset for the edit loop: everything but the tests marked `slow` (session-world training, servers,
# notebooks, schemathesis, end-to-end runs, long property searches). CI runs `make test`.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/mypy notebooks

bench: $(STAMP)
	$(BIN)/claimsight bench

# The scoring API on 127.0.0.1:8000 with the champions `make demo` trained, and the demo data's payer rules;
# the team workspace under http://127.0.0.1:8000/app when `make demo` made it (or a workspace is configured).
SERVE_DATA ?= .claimsight/demo/synthetic-200000-24-7
serve: $(STAMP)
	$(BIN)/claimsight serve $(if $(wildcard $(SERVE_DATA)/payer_rules.yaml),--data $(SERVE_DATA))

clean:
	rm -rf $(VENV) .claimsight build *.egg-info
