# Two commands do all set-up on a fresh clone: `make demo` and `make test`.
# Both create .venv/ once; later runs find the stamp and install nothing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.focal_det-installed

DEMO_WORK_DIR := work_dirs/retinanet_cbfl

.PHONY: env demo compare test test-fast bench

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

# Train CB-FL RetinaNet on the embedded long-tailed data (generated on first
# use) on CPU, evaluate it, and print the AP table. A second run resumes the
# same work dir, so a finished run only prints its table again.
demo: env
	$(PY) tools/train.py configs/retinanet_cbfl.py --work-dir $(DEMO_WORK_DIR) --resume
	$(PY) tools/summarize.py $(DEMO_WORK_DIR)

# FL vs CB-FL vs DFL vs EFL over seeds 0-2 (12-epoch schedule, two
# trainings at a time with one thread each): docs/results.md and a chart.
# An interrupted sweep continues where it stopped.
compare: env
	$(PY) tools/compare_losses.py --jobs 2

test: env
	$(PY) -m pytest tests -q

# Everything but the trainings, distributed runs and exports of trained
# models (marked slow): under a minute.
test-fast: env
	$(PY) -m pytest tests -q -m "not slow"

bench: env
	$(PY) benchmarks/bench_losses.py
