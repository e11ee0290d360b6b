# Everything runs inside .venv, created on first use.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test install models ship-models benchmarks clean-cache notebooks lab

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e ".[notebooks]"
	touch $(STAMP)

install: $(STAMP)

## Find the embedded CLIP and VLM (shipped, or built and cached) and run the main job: every notebook, headless.
demo: $(STAMP) models
	$(PY) -m mmft_kit batch notebooks/*.ipynb --name demo
	@echo "summary: runs/demo/summary.md"

## The embedded models: the shipped ones while their recipe hash matches the code, else built into the cache.
models: $(STAMP)
	$(PY) -m mmft_kit.zoo

## Rebuild the shipped embedded models from the code alone and refresh mmft_kit/embedded/shipped/ (commit it).
ship-models: $(STAMP)
	$(PY) -m mmft_kit.zoo --ship

## Sync each notebook pair (.ipynb <-> py:percent .py, the newer one wins) and strip outputs; run after editing.
notebooks: $(STAMP)
	$(VENV)/bin/jupytext --sync notebooks/*.ipynb
	$(VENV)/bin/jupyter nbconvert --clear-output --inplace --log-level=WARN notebooks/*.ipynb

## JupyterLab on the notebooks (saving strips outputs: see jupyter_server_config.py); runs go to runs/.
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --config=jupyter_server_config.py

## The whole test suite.
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

benchmarks: $(STAMP) models
	$(PY) -m benchmarks.few_shot
	$(PY) -m benchmarks.pare

clean-cache:
	rm -rf "$${MMFT_KIT_CACHE:-$$HOME/.cache/mmft_kit}"
