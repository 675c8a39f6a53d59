# Two commands for a fresh machine (see README):
#   make book   set everything up, generate the embedded data, run every notebook, build the HTML book
#   make test   run the test suite
# Rerun and tweak:
#   make lab      register the `avlib` Jupyter kernel for .venv and open JupyterLab at the repository root
#   make kernel   register the kernel only (inside .venv: nothing outside the project changes)
# Options: SCALE=smoke|cpu|paper (default cpu), DATA_ROOT=path (real data or another data folder),
#          PYTHON=python3.11 (interpreter used to create .venv), LAB_ARGS="--no-browser --port 8899".
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SCALE ?= cpu
DATA_ROOT ?=
RUN_ARGS ?=
LAB_ARGS ?=
STAMP := $(VENV)/.installed
KERNEL_NAME := avlib
KERNEL_SPEC := $(VENV)/share/jupyter/kernels/$(KERNEL_NAME)/kernel.json

.PHONY: book notebooks html test install data clean-book bench kernel lab

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -e ".[book,test]"
	@touch $(STAMP)

data: $(STAMP)
	$(PY) -m avlib.data all --scale $(SCALE) $(if $(DATA_ROOT),--root $(DATA_ROOT),)

notebooks: $(STAMP)
	$(PY) -m avlib.run --scale $(SCALE) $(if $(DATA_ROOT),--data-root $(DATA_ROOT),) $(RUN_ARGS)

html: $(STAMP)
	$(VENV)/bin/jupyter-book build . --builder html -W --keep-going
	@echo "The book: $(CURDIR)/_build/html/index.html"

book: install data notebooks html

test: $(STAMP)
	$(PY) -m pytest -q

kernel: $(KERNEL_SPEC)

$(KERNEL_SPEC): $(STAMP)
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL_NAME) --display-name "Python ($(KERNEL_NAME))"
	$(PY) -c "from avlib.numerics import add_to_kernel_spec as a; print('floating-point path for the kernel:', sorted(a('$(KERNEL_SPEC)')))"

lab: $(KERNEL_SPEC)
	$(VENV)/bin/jupyter lab --notebook-dir=. $(LAB_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/run.py book-$(SCALE)

clean-book:
	rm -rf _build book/generated
