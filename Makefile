# The two front-door commands: `make run` starts the system, `make test` passes the tests.
# Both install what they need first (Python packages from requirements.lock into .venv;
# Debian's postgresql, kcat, a JDK and Maven when missing and we may install them).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CPNET  := $(BIN)/cpnet
STAMP  := $(VENV)/.installed

.PHONY: run test lint install system-deps stack-up stack-down unit integration schemas lock clean

run: install system-deps
	$(CPNET) run

test: install system-deps lint
	@$(CPNET) stack up
	@status=0; $(BIN)/python -m pytest -ra $(PYTEST_ARGS) || status=$$?; \
	  $(CPNET) stack down; exit $$status

# Lint and format (pyproject.toml's [tool.ruff]): a finding fails `make test` before any test runs.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

unit: install
	$(BIN)/python -m pytest tests/unit -q

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip --version >/dev/null 2>&1 || $(BIN)/python -m ensurepip --upgrade >/dev/null
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

# Server packages the local stack and the tests use; installed only when missing.
system-deps:
	@bash deploy/system-deps.sh

stack-up: install
	$(CPNET) stack up

stack-down: install
	$(CPNET) stack down

schemas: install
	$(BIN)/python -m shared.contracts.export schemas

# Re-pin every dependency (with hashes) after changing pyproject.toml.
lock:
	UV_CUSTOM_COMPILE_COMMAND="make lock" uv pip compile pyproject.toml --group pyproject.toml:dev \
		--generate-hashes --python-version 3.11 -o requirements.lock
	# The image's lock: the same versions, without the test tools, with the build backend.
	UV_CUSTOM_COMPILE_COMMAND="make lock" uv pip compile pyproject.toml --group pyproject.toml:build \
		--generate-hashes --python-version 3.11 -c requirements.lock -o requirements.runtime.lock

clean:
	rm -rf $(VENV) .pytest_cache
