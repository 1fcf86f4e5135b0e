# From a fresh clone: `make demo` runs the main job, `make test` runs the tests. Each sets up
# .venv by itself (pip with constraints.txt: the CPU build of torch that lies on this project's
# machines; elsewhere `pip install -e ".[test]"` without -c gets the newest torch).
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-all labs clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/trainlab demo

# The default suite (slow lab variants skipped), then the lab tests again under the plainest CPU
# kernel set (ATEN_CPU_CAPABILITY=default), so a test that depends on the kernel fails here.
test: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" bash .ci/test

# Everything, the full lab variants included (about 30 minutes on 2 cores).
test-all: $(STAMP)
	$(BIN)/python -m pytest -m "slow or not slow"

labs: $(STAMP)
	$(BIN)/trainlab lab all

clean:
	rm -rf $(VENV) runs .pytest_cache
