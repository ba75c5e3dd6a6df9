# Two commands do everything on a fresh machine (Python 3.11, Java 17, Maven):
#   make demo   set up, then run the whole pipeline on the embedded default
#   make test   set up, then lint and run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: setup browser demo test lint format bench clean

setup: $(VENV)/.installed .jars/.resolved

$(VENV)/.installed: setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==26.3 setuptools==84.2.1 wheel==0.48.0
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

# Delta and Spark NLP jars from Maven Central, resolved once into .jars/ so that
# every later Spark start needs no network.
.jars/.resolved: jvm/pom.xml
	mvn --batch-mode --quiet -f jvm/pom.xml dependency:copy-dependencies
	touch $@

# Headless Chromium and its driver (Debian packages) for the report's browser test.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }

demo: setup
	$(BIN)/fanbase run

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint browser
	$(BIN)/python -m pytest

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Every benchmark at the demo's size, the pipeline at 1x/2x/4x and on a standalone
# cluster (about two hours on 2 cores): writes BENCHMARKS.md and benchmarks/results/.
bench: setup
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .jars build dist *.egg-info lakehouse
