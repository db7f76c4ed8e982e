# Quick start: `make demo` runs a full simulated session; `make test` runs the test suite.
# Both create .venv and install the project into it on first use (with the window: the gui extra).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= sessions

.PHONY: demo test test-durations bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,gui]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/station demo --out $(OUT)

# Tests run in parallel (pytest-xdist): most of the integration layer waits on real time, so
# more workers than cores pays (on 2 cores 6 workers beat 4 and 8, measured side by side; see
# docs/benchmarks.md). The slowest tests start first (tests/durations.json). TEST_WORKERS=0 runs
# them in one process.
TEST_WORKERS ?= 6
# Every xdist worker imports and assertion-rewrites every test module (~8 s of CPU each, ~3 s with
# the bytecode caches), so two collect-only passes write the caches (gitignored __pycache__, even
# when PYTHONDONTWRITEBYTECODE is set) before the workers start; a failure there shows in the run.
test: $(STAMP)
	-@PYTHONDONTWRITEBYTECODE= QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q --collect-only -p no:xdist \
		tests/station >/dev/null 2>&1 & \
	PYTHONDONTWRITEBYTECODE= QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q --collect-only -p no:xdist \
		tests --ignore=tests/station >/dev/null 2>&1; wait
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal

# Re-measure tests/durations.json (the slow tests start first under xdist) after adding or
# speeding up a slow test.
test-durations: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal --record-durations

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# 30-minute fault-injection soak (FORCE_STATION_SOAK_S=180 make soak for 3 minutes); see docs/reliability.md
soak: $(STAMP)
	$(BIN)/python -m pytest -m soak tests/soak -q -s

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build *.egg-info
