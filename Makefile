# The two commands a newcomer needs:
#   make course   set up, execute every chapter in quick mode, build the book
#   make test     set up, run the test suite (unit tests, every chapter in quick mode, book, browser)
# Everything else is a building block. Full mode: make course-full (tens of minutes).

PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
# CMSIS-DSP's C sources (chapter 12 compiles its MFCC for a Cortex-M4): the sdist of the pinned cmsisdsp
CMSISDSP_PIN := $(shell grep -m1 '^cmsisdsp==' requirements/base.txt)
STAMP  := $(VENV)/.installed-$(shell cat requirements/base.txt requirements/nodeps.txt pyproject.toml | sha1sum | cut -c1-12)

.PHONY: setup course course-full book test test-all doctor clean kernel lab wheelhouse install-offline reproduce nbval-refs

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
	$(PY) -m pip download --quiet --no-binary cmsisdsp --no-deps --dest $(VENV)/share/sdist $(CMSISDSP_PIN)
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

# ---- Working through the chapters interactively ------------------------------------------------
# `make lab` registers the course kernel ("tinyml") and opens JupyterLab on notebooks/.
# Headless (a server, a test): make lab LAB_HEADLESS=1 LAB_PORT=8899 LAB_TOKEN=secret
KERNEL_NAME   ?= tinyml
KERNEL_PREFIX ?= --sys-prefix
LAB_IP        ?= 127.0.0.1
LAB_PORT      ?= 8888
LAB_TOKEN     ?=
LAB_HEADLESS  ?=
LAB_ARGS      ?=
LAB_ROOT      := $(if $(filter 0,$(shell id -u)),--allow-root,)

# PYTHONPATH pins this checkout: beside another clone's venv (whose editable install points there),
# the kernel still imports this checkout's tinyml_utils and writes this checkout's results/ (doctor checks it)
kernel: setup
	$(PY) -m ipykernel install $(KERNEL_PREFIX) --name $(KERNEL_NAME) --display-name "Python 3.11 (tinyml)" \
	  --env PYTHONPATH "$(CURDIR)"

lab: kernel
	$(PY) -m jupyter lab --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/notebooks \
	  --ServerApp.ip=$(LAB_IP) --ServerApp.port=$(LAB_PORT) --ServerApp.port_retries=0 \
	  $(if $(LAB_TOKEN),--IdentityProvider.token=$(LAB_TOKEN),) $(if $(LAB_HEADLESS),--no-browser,) \
	  $(LAB_ROOT) $(LAB_ARGS)

# ---- Workshop kit: the pinned environment as files, to install in a room without internet ----------
# `make wheelhouse` (with network) downloads every pinned wheel into wheelhouse/ (git-ignored, ~1.1 GB);
# `make install-offline` builds $(VENV) from it with no index at all. Copy the repository and
# wheelhouse/ to each machine (USB stick, file share), then run `make install-offline`.
WHEELHOUSE ?= wheelhouse
PIP_DOWNLOAD_ARGS ?=

wheelhouse:
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11): set PYTHON=/path/to/python3.11"; exit 1; }
	mkdir -p $(WHEELHOUSE)
	$(PYTHON) -m pip download --dest $(WHEELHOUSE) $(PIP_DOWNLOAD_ARGS) -r requirements/base.txt pip setuptools wheel
	$(PYTHON) -m pip download --dest $(WHEELHOUSE) $(PIP_DOWNLOAD_ARGS) --no-deps -r requirements/nodeps.txt
	$(PYTHON) -m pip download --dest $(WHEELHOUSE) $(PIP_DOWNLOAD_ARGS) --no-binary cmsisdsp --no-deps $(CMSISDSP_PIN)
	for s in $(WHEELHOUSE)/*.tar.gz; do if test -e "$$s"; then $(PYTHON) -m pip wheel --no-deps --wheel-dir $(WHEELHOUSE) "$$s" || exit 1; fi; done
	@ls $(WHEELHOUSE) | wc -l | xargs echo "files in $(WHEELHOUSE):"; du -sh $(WHEELHOUSE)

install-offline:
	@test -d $(WHEELHOUSE) || { echo "no $(WHEELHOUSE)/: run make wheelhouse on a machine with network first"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-index --find-links $(WHEELHOUSE) --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet --no-index --find-links $(WHEELHOUSE) -r requirements/base.txt
	$(PY) -m pip install --quiet --no-index --find-links $(WHEELHOUSE) --no-deps -r requirements/nodeps.txt
	$(PY) -m pip install --quiet --no-index --no-deps --no-build-isolation -e .
	mkdir -p $(VENV)/share/sdist && cp $(WHEELHOUSE)/$(subst ==,-,$(CMSISDSP_PIN)).tar.gz $(VENV)/share/sdist/
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

# ---- Reproduction report: re-run full mode into build/reproduce/ and compare with results/ -------
reproduce: setup
	$(PY) -m tinyml_utils reproduce $(CHAPTERS)

# nbval reference executions (tests/nbval/, checked by `pytest --runslow tests/test_nbval.py`):
# regenerate after changing chapters 00-01 or the package.
nbval-refs: setup
	$(PY) scripts/nbval_refs.py

clean:
	rm -rf build book/_build
