# The two commands a newcomer needs:
#   make course   set up, execute every chapter in quick mode, build the book
#   make test     set up, run the test suite (unit tests, every chapter in quick mode, book, browser)
# Everything else is a building block. Full mode: make course-full (tens of minutes).

PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements/base.txt requirements/nodeps.txt pyproject.toml | sha1sum | cut -c1-12)

.PHONY: setup course course-full book test test-all doctor clean

setup: $(STAMP)

# The stamp's name is a hash of the pins, so it needs no file-time prerequisites: a fresh clone
# beside an existing, matching .venv installs nothing; changed pins give a new name and reinstall.
$(STAMP):
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11): set PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/base.txt
	$(PY) -m pip install --quiet --no-deps -r requirements/nodeps.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-*
	touch $@

course: setup
	$(PY) -m tinyml_utils run --quick
	$(PY) -m tinyml_utils book --quick

course-full: setup
	$(PY) -m tinyml_utils run
	$(PY) -m tinyml_utils book

book: setup
	$(PY) -m tinyml_utils book --quick

doctor: setup
	$(PY) -m tinyml_utils doctor

test: setup
	$(PY) -m pytest -q

test-all: setup
	$(PY) -m pytest -q --runslow

clean:
	rm -rf build book/_build
