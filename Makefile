# make demo       -- set up .venv (pinned stack) and run `gluon-dl demo`
# make test       -- set up .venv and run the whole test suite
# make test-slow  -- the long runs only (every lesson's --quick run, big ImageNet exports)
# make lessons    -- run every lesson example with --quick and refresh README's lessons table
# make bench-env  -- .venv-bench: MXNet and PyTorch side by side for benchmarks/
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
STAMP  := $(VENV)/.installed
HVD_STAMP := $(VENV)/.horovod
ARGS   ?=
PYTEST_ARGS ?=

BENCH_VENV := .venv-bench

.PHONY: setup demo test test-slow lessons system-data bench-env clean

setup: $(STAMP)

$(STAMP): setup.cfg constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade "pip>=23.2" "setuptools>=61" wheel
	$(VENV)/bin/python -m pip install -c constraints.txt -e ".[all,test]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/gluon-dl demo $(ARGS)

# Horovod compiles against the installed MXNet (CPU/Gloo, several minutes on 2 cores).
# A failed build is reported here and leaves the Horovod job test skipped.
$(HVD_STAMP): $(STAMP)
	HOROVOD_WITH_MXNET=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 \
	HOROVOD_WITHOUT_TENSORFLOW=1 HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_CPU_OPERATIONS=GLOO \
	MAKEFLAGS=-j2 $(VENV)/bin/python -m pip install --quiet --no-build-isolation \
		-c constraints.txt "horovod==0.28.1" \
	|| echo "WARNING: Horovod did not build; the Horovod job test will be skipped"
	touch $(HVD_STAMP)

# The full Fashion-MNIST comes from the Debian/Ubuntu package dataset-fashion-mnist
# (/usr/share/datasets/fashion-mnist). Installed where apt and root are at hand;
# elsewhere the tests that read it skip with the reason.
FASHION_MNIST := /usr/share/datasets/fashion-mnist

system-data:
	@if [ -d $(FASHION_MNIST) ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		{ timeout 600 apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		  timeout 600 apt-get install -y -qq dataset-fashion-mnist; } \
		|| echo "WARNING: dataset-fashion-mnist did not install; its tests will be skipped"; \
	else echo "WARNING: no apt-get or not root: the full Fashion-MNIST tests will be skipped"; fi

test: $(STAMP) $(HVD_STAMP) system-data
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

test-slow: $(STAMP) system-data
	$(VENV)/bin/python -m pytest -m slow $(PYTEST_ARGS)

lessons: $(STAMP)
	$(VENV)/bin/python tools/lessons.py $(ARGS)

# PyTorch comparisons get an environment of their own: GluonCV refuses to
# import next to torch >= 2, so torch never enters the library's .venv.
bench-env: $(BENCH_VENV)/.installed

$(BENCH_VENV)/.installed: setup.cfg constraints.txt pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade "pip>=23.2" "setuptools>=61" wheel
	$(BENCH_VENV)/bin/python -m pip install -c constraints.txt -e ".[cpu,train]" "torch==2.13.0"
	touch $@

clean:
	rm -rf $(VENV) $(BENCH_VENV) build *.egg-info
