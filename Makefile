# inkforge: `make demo` runs the main job at toy scale; `make test` runs the test suite.
# Both are self-contained on a fresh machine: they create .venv and install everything first.

VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.inkforge-installed
# Tests never touch the hub: they build tiny models locally.
OFFLINE := HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

.PHONY: install demo test test-fast lint typecheck bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, pinned to the CPU wheel where this machine has it: left to resolve on its own, pip
	# pulls a multi-GB CUDA build. pyproject keeps torch a range so GPU users get CUDA builds.
	$(PIP) install -q torch==2.13.0 || $(PIP) install -q "torch>=2.4,<3"
	$(PIP) install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/inkforge demo

test: install
	$(VENV)/bin/ruff check inkforge tests bench examples
	$(VENV)/bin/mypy inkforge
	$(OFFLINE) OMP_NUM_THREADS=1 $(PY) -m pytest -n 2 --dist loadgroup -q -p no:cacheprovider tests
	$(OFFLINE) $(PY) -m pytest -q -p no:cacheprovider --doctest-modules inkforge

# The inner loop: unit tests that build no model, in well under a minute.
test-fast: install
	$(OFFLINE) OMP_NUM_THREADS=1 $(PY) -m pytest -n 2 -q -p no:cacheprovider -m "not slow" tests/unit

lint: install
	$(VENV)/bin/ruff check inkforge tests bench
	$(VENV)/bin/mypy inkforge

# Every figure in the README's benchmark table; each bench prints its baseline from the same run.
bench: install
	$(OFFLINE) $(PY) bench/agent_overhead.py
	$(OFFLINE) $(PY) bench/curation_throughput.py
	$(OFFLINE) $(PY) bench/judge_reward.py
	$(OFFLINE) $(PY) bench/reward_server.py
	$(OFFLINE) $(PY) bench/guards.py
	$(OFFLINE) $(PY) bench/retrieval.py
	$(OFFLINE) $(PY) bench/e2e_cpu.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache demo_out
