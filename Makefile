# Targets a user types. Each is a thin layer over `python -m pipeline`; `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CONFIG ?= config/gallery.yaml
ARGS ?=
STAMP := $(VENV)/.installed
PORT ?= 8000

.DEFAULT_GOAL := help
.PHONY: help install validate gallery status render site serve test bench clean schema

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "  variables: CONFIG=$(CONFIG)  GALLERY_MIRROR=folder[:folder]  ARGS='extra CLI options'"

install: $(STAMP) ## create .venv and install the project with its pinned dependencies

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

validate: install ## check the manifest (every problem, with line and entry) and fetch missing images
	$(PY) -m pipeline validate --config $(CONFIG) $(ARGS)

gallery: validate ## validate, render what is missing, build site/
	@echo "gallery: manifest valid and images in place (render and site come with their stages)"

schema: install ## regenerate config/gallery.schema.json from the parameter table
	$(PY) -m pipeline schema --output config/gallery.schema.json

test: install ## run the test suite
	$(PY) -m pytest $(ARGS)

clean: ## remove generated output (site/, renders/ are kept: use `make clean-all`)
	rm -rf .pytest_cache build *.egg-info
	find . -name __pycache__ -type d -prune -not -path './.venv/*' -exec rm -rf {} +
