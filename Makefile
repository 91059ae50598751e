# Targets a user types. Each is a thin layer over `python -m pipeline`; `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CONFIG ?= config/gallery.yaml
ARGS ?=
EXTRAS ?=# optional extras to install too, e.g. EXTRAS=s3 for an s3:// remote render cache
# TORCH=cpu: PyTorch's CPU-only wheels from TORCH_INDEX instead of PyPI's, which bring 4 GB of CUDA
# libraries (see tools/install_cpu.py). The venv remembers it (.venv/.torch).
TORCH ?= $(shell cat $(VENV)/.torch 2>/dev/null)
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
ifneq ($(filter-out cpu,$(TORCH)),)
$(error TORCH=$(TORCH): say TORCH=cpu for PyTorch's CPU-only wheels, or leave it out for the default)
endif
STAMP := $(VENV)/.installed$(if $(TORCH),-$(TORCH))
TEST_STAMP := $(VENV)/.installed-test$(if $(TORCH),-$(TORCH))
PORT ?= 8000
# A quick look without editing the manifest: make gallery SIZE=256 PRESET=draft (cached apart).
OVERRIDES = $(if $(SIZE),--size $(SIZE)) $(if $(PRESET),--preset $(PRESET))
# Said on make's command line, these would also reach every recipe's environment, and from there
# the makes a recipe starts (`make test ARGS=-q` handed -q to each `make add` the tests run).
unexport ARGS CONFIG SIZE PRESET STYLE CONTENT PORT EXTRAS TORCH TORCH_INDEX

.DEFAULT_GOAL := help
.PHONY: preview help install init add remove repin doctor validate gallery status render prune site serve test bench clean clean-all schema

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "  variables: CONFIG=$(CONFIG)  GALLERY_MIRROR=folder[:folder]  ARGS='extra CLI options'"
	@echo "             SIZE=256 PRESET=draft: a quick look at another size or schedule (status, render, gallery, site, serve)"
	@echo "             TORCH=cpu: install PyTorch's CPU-only wheels, without its 4 GB of CUDA libraries (make install TORCH=cpu)"

install: $(STAMP) ## create .venv and install the project with its pinned dependencies (TORCH=cpu: without the CUDA libraries)
ifneq ($(EXTRAS),)
	$(PY) -m pip install --progress-bar on -e '.[$(EXTRAS)]'
endif

# pip shows its progress (PyTorch is a large download: a silent minute looks like a hang). With
# TORCH=cpu the CPU builds come first; pip then keeps them (2.14.1+cpu satisfies torch==2.14.1).
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(if $(TORCH),$(PY) tools/install_cpu.py --index-url $(TORCH_INDEX))
	$(PY) -m pip install --progress-bar on -e .
	$(if $(TORCH),@echo $(TORCH) > $(VENV)/.torch)
	@touch $@

# The test extras (pytest, Playwright) only for `make test`.
$(TEST_STAMP): $(STAMP)
	$(PY) -m pip install --progress-bar on -e '.[test]'
	@touch $@

init: install ## start a gallery of your own: a commented manifest with no images yet (ARGS=--force replaces one, keeping it as .bak)
	$(PY) -m pipeline init --config "$(CONFIG)" $(ARGS)

# make add STYLE=path/or/https-url (or CONTENT=...; a folder adds each image), ARGS='--title ...'
add: install ## add an image: make add STYLE=file|folder|url or CONTENT=..., ARGS='--title "..." --credit "..."'
	@test -n "$(STYLE)$(CONTENT)" || { echo "make add: say which image: make add STYLE=path/to/painting.jpg (or CONTENT=photo.jpg, a folder, or an https:// url)" >&2; exit 2; }
	$(if $(CONTENT),$(PY) -m pipeline add content "$(CONTENT)" --config "$(CONFIG)" $(ARGS))
	$(if $(STYLE),$(PY) -m pipeline add style "$(STYLE)" --config "$(CONFIG)" $(ARGS))

remove: install ## take an image out: make remove CONTENT=id or STYLE=id (its renders stay until make prune)
	@test -n "$(STYLE)$(CONTENT)" || { echo "make remove: say which entry: make remove CONTENT=id (or STYLE=id); make status lists the ids" >&2; exit 2; }
	$(if $(CONTENT),$(PY) -m pipeline remove content "$(CONTENT)" --config "$(CONFIG)" $(ARGS))
	$(if $(STYLE),$(PY) -m pipeline remove style "$(STYLE)" --config "$(CONFIG)" $(ARGS))

repin: install ## you replaced your own image (no url): make repin CONTENT=id or STYLE=id pins the new file
	@test -n "$(STYLE)$(CONTENT)" || { echo "make repin: say which entry: make repin CONTENT=id (or STYLE=id)" >&2; exit 2; }
	$(if $(CONTENT),$(PY) -m pipeline repin content "$(CONTENT)" --config "$(CONFIG)" $(ARGS))
	$(if $(STYLE),$(PY) -m pipeline repin style "$(STYLE)" --config "$(CONFIG)" $(ARGS))

validate: install ## check the manifest (every problem, with line and entry) and fetch missing images
	$(PY) -m pipeline validate --config "$(CONFIG)" $(ARGS)

# One process runs the whole gallery (pipeline/runner.py); under `make -jN` it renders N cells at
# once (it reads -jN from MAKEFLAGS), each worker on cores/N threads.
gallery: install ## validate, render what is missing (make -jN: N cells at once), build site/
	$(PY) -m pipeline gallery --config "$(CONFIG)" $(OVERRIDES) $(ARGS)

preview: install ## every cell with the fast engine in seconds (cached apart), then build site/; make gallery later renders the full versions
	$(PY) -m pipeline gallery --preview --config "$(CONFIG)" $(OVERRIDES) $(ARGS)

status: install ## counts, the cells not cached and why, the time to render them, the site's size; ARGS=--all for every cell, --json for JSON
	@$(PY) -m pipeline status --config "$(CONFIG)" $(OVERRIDES) $(ARGS)

render: install ## render the missing cells and update the lock file (make -jN: N at once)
	$(PY) -m pipeline render --config "$(CONFIG)" $(OVERRIDES) $(ARGS)

prune: install ## list cached renders no cell uses and the site does not show; ARGS=--yes deletes them
	$(PY) -m pipeline prune --config "$(CONFIG)" $(ARGS)

site: install ## build site/ from the manifest and the render cache (never renders; a missing cell shows its cached preview, else a placeholder)
	$(PY) -m pipeline site --config "$(CONFIG)" $(OVERRIDES) $(ARGS)

serve: install ## build site/ and serve it on http://127.0.0.1:PORT/, rebuilding on changes (pages reload); ARGS=--open
	$(PY) -m pipeline serve --config "$(CONFIG)" --port "$(PORT)" $(OVERRIDES) $(ARGS)

doctor: install ## what the repository still lacks to publish on GitHub Pages, each with the command that fixes it
	$(PY) -m pipeline doctor --config "$(CONFIG)" $(ARGS)

bench: install ## benchmarks: the least time a gallery can take here, the renderer presets (512 px, and swept over 5 pairs at 256 px: the worst pair), init: fast and the fast engine, the no-op rebuild, a gallery growing to 1,000 cells
	$(PY) bench/bench_bound.py
	$(PY) bench/bench_render.py
	$(PY) bench/bench_sweep.py --presets standard,draft,quick
	$(PY) bench/bench_init.py
	$(PY) bench/bench_noop.py
	$(PY) bench/bench_growth.py

schema: install ## regenerate config/gallery.schema.json from the parameter table
	$(PY) -m pipeline schema --output config/gallery.schema.json

test: $(TEST_STAMP) ## install the test extras and run the test suite
	$(PY) -m pytest $(ARGS)

clean: ## remove build litter (__pycache__, .pytest_cache, build/, *.egg-info); keeps site/ and renders/
	rm -rf .pytest_cache build *.egg-info
	find . -name __pycache__ -type d -prune -not -path './.venv/*' -exec rm -rf {} +

clean-all: clean ## also remove site/ and the render cache renders/ (every render is lost)
	rm -rf site renders
