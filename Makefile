# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.emoscope-installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	# mediapipe 0.10.21 is the last release that bundles its models; its metadata pins numpy<2,
	# which it does not need at run time, so it goes in without its declared dependencies.
	$(PY) -m pip install -q --no-deps mediapipe==0.10.21
	# Resemblyzer only provides the pretrained GE2E speaker encoder (speech_ge2e); the toolkit
	# reads its weights file and never imports it, so its webrtcvad dependency is not needed.
	$(PY) -m pip install -q --no-deps Resemblyzer==0.1.4
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/emoscope demo --out runs/demo

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/bench_pipeline.py

clean:
	rm -rf $(VENV) runs .pytest_cache
