# Two commands do all set-up on a fresh clone: `make demo` and `make test`.
# Both create .venv/ once; later runs find the stamp and install nothing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.focal_det-installed

.PHONY: env demo test bench

env: $(STAMP)

$(STAMP): requirements/build.txt requirements/runtime.txt requirements/tests.txt requirements/constraints.txt setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -r requirements/build.txt -c requirements/constraints.txt
	# mmcv 2.1.0's setup.py needs pkg_resources from setuptools < 70; torch
	# declares setuptools >= 77 but does not need it at run time.
	$(PIP) install "setuptools<70"
	# No mmcv wheel exists for this torch: compile it with its CPU ops
	# (about 6 minutes on 2 cores; pip caches the wheel for later runs).
	MMCV_WITH_OPS=1 MAX_JOBS=$$(nproc) $(PIP) install --no-build-isolation -c requirements/constraints.txt mmcv==2.1.0
	$(PIP) install -r requirements/runtime.txt -r requirements/tests.txt -c requirements/constraints.txt
	$(PIP) install --no-deps --no-build-isolation -e .
	$(PY) -c "import focal_det, mmcv.ops"
	touch $(STAMP)

demo: env
	$(PY) tools/loss_demo.py

test: env
	$(PY) -m pytest tests -q

bench: env
	$(PY) benchmarks/bench_losses.py
