# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2
# browser assets of `mewarden serve`, pinned, from the npm registry (served by mewarden itself,
# never from a CDN); installed into a git-ignored directory
VENDOR := src/mewarden/serve/static/vendor
VENDOR_STAMP := $(VENDOR)/.installed
HTMX_VERSION := 2.0.11
XTERM_VERSION := 6.0.0
NOVNC_VERSION := 1.7.0

.PHONY: demo test ci lint typecheck unit bench system-packages clean vendor

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

$(VENDOR_STAMP): Makefile
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)/tmp
	cd $(VENDOR)/tmp && npm pack --silent htmx.org@$(HTMX_VERSION) >/dev/null
	tar -xzf $(VENDOR)/tmp/htmx.org-$(HTMX_VERSION).tgz -C $(VENDOR)/tmp
	cp $(VENDOR)/tmp/package/dist/htmx.min.js $(VENDOR)/htmx.min.js
	cp $(VENDOR)/tmp/package/LICENSE $(VENDOR)/htmx.LICENSE
	rm -rf $(VENDOR)/tmp/package
	cd $(VENDOR)/tmp && npm pack --silent @xterm/xterm@$(XTERM_VERSION) >/dev/null
	tar -xzf $(VENDOR)/tmp/xterm-xterm-$(XTERM_VERSION).tgz -C $(VENDOR)/tmp
	cp $(VENDOR)/tmp/package/lib/xterm.mjs $(VENDOR)/xterm.mjs
	cp $(VENDOR)/tmp/package/css/xterm.css $(VENDOR)/xterm.css
	cp $(VENDOR)/tmp/package/LICENSE $(VENDOR)/xterm.LICENSE
	rm -rf $(VENDOR)/tmp/package
	# noVNC's ES modules import ../vendor/pako: its core/ and vendor/ trees keep their layout
	cd $(VENDOR)/tmp && npm pack --silent @novnc/novnc@$(NOVNC_VERSION) >/dev/null
	tar -xzf $(VENDOR)/tmp/novnc-novnc-$(NOVNC_VERSION).tgz -C $(VENDOR)/tmp
	mkdir -p $(VENDOR)/novnc
	cp -r $(VENDOR)/tmp/package/core $(VENDOR)/tmp/package/vendor $(VENDOR)/novnc/
	cp $(VENDOR)/tmp/package/LICENSE.txt $(VENDOR)/novnc.LICENSE
	rm -rf $(VENDOR)/tmp
	touch $@

vendor: $(VENDOR_STAMP)

demo: $(STAMP) $(VENDOR_STAMP)
	$(BIN)/mewarden demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) $(VENDOR_STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS) -q

test: lint typecheck unit

system-packages:
	bash scripts/install-system-packages.sh

# CI: the same suite as `make test`, but a missing tool, server or fixture is a failure, not a skip.
ci: system-packages
	MEWARDEN_REQUIRE_SYSTEM_TESTS=1 $(MAKE) test

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache $(VENDOR)
