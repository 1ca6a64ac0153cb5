# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP := $(VENV)/.dev-installed

.PHONY: run test lint typecheck check install install-dev bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(RUNTIME_STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(RUNTIME_STAMP) $@

install: $(RUNTIME_STAMP)
install-dev: $(DEV_STAMP)

## make run: set up, migrate, load the demo community, serve on 127.0.0.1:8000
run: $(RUNTIME_STAMP)
	$(PY) -m bot migrate
	$(PY) -m bot seed
	$(PY) -m bot knowledge check
	@echo ""
	@echo "  The bot is starting on http://127.0.0.1:8000"
	@echo "    health:        curl http://127.0.0.1:8000/healthz"
	@echo "    WeChat:        http://127.0.0.1:8000/wechat (Token: see config.toml [wechat])"
	@echo "    talk to it:    $(PY) -m bot chat        (in another terminal)"
	@echo "    as a worker:   $(PY) -m bot chat --as worker:w01"
	@echo "    cases:         $(PY) -m bot cases list"
	@echo ""
	$(PY) -m bot serve

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

LAW_TEXTS := ../shared/data/laws/articles.jsonl

check: $(DEV_STAMP)
	$(PY) -m bot knowledge check $(if $(wildcard $(LAW_TEXTS)),--law-texts $(LAW_TEXTS))

## make test: set up, lint, type-check, validate knowledge, run the whole suite
test: lint typecheck check
	$(BIN)/pytest -q

bench: $(DEV_STAMP)
	$(PY) -m pip install --quiet -r bench/requirements.txt
	$(PY) bench/webhook.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
