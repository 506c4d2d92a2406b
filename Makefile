# make demo  -- set up .venv (pinned stack) and run `gluon-dl demo`
# make test  -- set up .venv and run the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
STAMP  := $(VENV)/.installed
ARGS   ?=
PYTEST_ARGS ?=

.PHONY: setup demo test clean

setup: $(STAMP)

$(STAMP): setup.cfg constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade "pip>=23.2" "setuptools>=61" wheel
	$(VENV)/bin/python -m pip install -c constraints.txt -e ".[all,test]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/gluon-dl demo $(ARGS)

test: $(STAMP)
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
