# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.emoscope-installed
CORE_STAMP := $(VENV)/.emoscope-core-installed

.PHONY: demo test lint bench bench-runtime clean

# The analysis install (`pip install emoscope`): no torch, timm or Lightning; every shipped
# model runs on ONNX Runtime. scikit-image only provides the demo's photo.
$(CORE_STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# mediapipe 0.10.21 is the last release that bundles its models; its metadata pins numpy<2,
	# which it does not need at run time, so it goes in without its declared dependencies.
	$(PY) -m pip install -q --no-deps mediapipe==0.10.21
	$(PY) -m pip install -q -e ".[demo]"
	touch $(CORE_STAMP)

# The development install: everything, training included. torch and torchvision are named
# first with exact versions, a pair that installs and imports together; an unpinned torch
# would pull whatever multi-GB build the index offers.
$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q --no-deps mediapipe==0.10.21
	# Resemblyzer only provides the pretrained GE2E speaker encoder (speech_ge2e); the toolkit
	# reads its weights file and never imports it, so its webrtcvad dependency is not needed.
	$(PY) -m pip install -q --no-deps Resemblyzer==0.1.4
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(CORE_STAMP)
	$(VENV)/bin/emoscope demo --out runs/demo

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/bench_pipeline.py

# The light runtime against the torch path, on a quiet machine (benchmarks/bench_runtime.py).
bench-runtime: $(STAMP)
	$(PY) benchmarks/bench_runtime.py --out runs/bench_runtime

clean:
	rm -rf $(VENV) runs .pytest_cache
