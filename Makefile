# The README's commands. `make run` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PLUGINS := plugins/fusion_siptrunk plugins/fusion_teams plugins/fusion_anywherenow
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: run test bench lint format install assets clean

install: $(STAMP) assets

$(STAMP): pyproject.toml $(addsuffix /pyproject.toml,$(PLUGINS))
	@command -v $(PYTHON) >/dev/null 2>&1 || { \
		echo "Fusion needs Python 3.11 or newer: '$(PYTHON)' was not found (make run PYTHON=python3.12)"; \
		exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
		echo "Fusion needs Python 3.11 or newer; $(PYTHON) is $$($(PYTHON) -V 2>&1)."; \
		echo "Point make at a newer one, e.g.: make run PYTHON=python3.12"; \
		exit 1; }
	@$(PYTHON) -m venv $(VENV) || { \
		echo "Could not create $(VENV): on Debian/Ubuntu install python3-venv first"; exit 1; }
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]' $(addprefix -e ,$(PLUGINS))
	@touch $(STAMP)

# Front-end packages come from the npm registry at install time (nothing vendored).
assets: node_modules/.installed
node_modules/.installed: package.json $(wildcard package-lock.json)
	@if command -v npm >/dev/null 2>&1; then \
		npm install --no-audit --no-fund --loglevel=error && touch $@; \
	else \
		echo "npm not found: the portal runs without its front-end packages (install Node.js for them)"; \
	fi

run: install
	$(BIN)/fusion db upgrade
	$(BIN)/fusion demo load
	@echo
	@echo "  Portal:    http://$(HOST):$(PORT)/"
	@echo "  API:       http://$(HOST):$(PORT)/api/v1/  (OpenAPI: /api/v1/openapi.json, docs: /api/docs)"
	@echo "  API token: curl -X POST http://$(HOST):$(PORT)/api/v1/auth/tokens -H 'Content-Type: application/json' \\"
	@echo "               -d '{\"email\": \"admin@nimbus.example\", \"password\": \"fusion-demo-2026\"}'"
	@echo
	$(BIN)/fusion run --host $(HOST) --port $(PORT) --with-threads

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) node_modules instance
