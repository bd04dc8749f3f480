# The README's commands. `make run` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Every plugin distribution under plugins/ is installed (editable) beside the core.
PLUGINS := $(patsubst %/pyproject.toml,%,$(sort $(wildcard plugins/*/pyproject.toml)))
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: run test bench lint format install assets clean docs-settings docs-settings-check

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
	$(BIN)/python -m bench $(or $(BENCH_ARGS),all)

lint: $(STAMP)
	$(BIN)/ruff check --no-cache .
	$(BIN)/ruff format --no-cache --check .
	@$(BIN)/python -c "$$SETTINGS_TABLE_PY" check $(SETTINGS_DOCS)

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) node_modules instance

# The FUSION_* settings table in README.md and docs/operations.md is generated from
# fusion_core/config.py SETTINGS: `make docs-settings` rewrites it, `make lint` checks it.
SETTINGS_DOCS := README.md docs/operations.md

docs-settings: $(STAMP)
	@$(BIN)/python -c "$$SETTINGS_TABLE_PY" write $(SETTINGS_DOCS)

docs-settings-check: $(STAMP)
	@$(BIN)/python -c "$$SETTINGS_TABLE_PY" check $(SETTINGS_DOCS)

define SETTINGS_TABLE_PY
import sys
from pathlib import Path
from fusion_core.config import SETTINGS

BEGIN = "<!-- settings table: generated from fusion_core/config.py SETTINGS by make docs-settings -->"
END = "<!-- end of settings table -->"


def cell(value):
    return "unset" if value is None else "`" + str(value) + "`"


rows = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
for name, (default, _parse, doc) in SETTINGS.items():
    rows.append("| `FUSION_" + name + "` | " + cell(default) + " | " + doc.replace("|", "/") + " |")
table = BEGIN + "\n" + "\n".join(rows) + "\n" + END
mode, stale = sys.argv[1], []
for name in sys.argv[2:]:
    path = Path(name)
    text = path.read_text()
    head, found, rest = text.partition(BEGIN)
    _old, found_end, tail = rest.partition(END)
    if not (found and found_end):
        sys.exit(name + ": the settings table markers are missing")
    new = head + table + tail
    if new != text:
        stale.append(name)
        if mode == "write":
            path.write_text(new)
            print("updated the settings table in " + name)
if mode == "check" and stale:
    sys.exit("settings table out of date in " + ", ".join(stale) + ": run make docs-settings")
endef
export SETTINGS_TABLE_PY
