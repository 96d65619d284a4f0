# Two entry points: `make demo` and `make test`. Each creates .venv when it is missing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
AL_FC := tests/data/Al_phonopy/phonopy.yaml
export OMP_NUM_THREADS ?= 1
export OPENBLAS_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1
export NUMBA_NUM_THREADS ?= 1  # dynasor's numba kernels: 15x slower with 2 threads on 2 loaded cores

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[all,dev]'
	touch $(STAMP)

demo: $(STAMP)
	mkdir -p demo_output
	$(BIN)/inslib run CreateSQETemplate Instrument=ARCS Ei=80 ChopperPackage=ARCS-100-1.5-AST \
	    ChopperFrequency=420 QBinning=0,0.05,12 EBinning=-20,0.5,78 \
	    OutputWorkspace=demo_output/ARCS_Ei80_template.nxs --plot demo_output/ARCS_Ei80_template.png
	$(BIN)/inslib run CreateSQETemplate \
	    InputWorkspace=tests/data/Al-iqe.h5 Instrument=ARCS Ei=80 Temperature=300 \
	    OutputWorkspace=demo_output/Al_ARCS_grid.nxs --plot demo_output/Al_ARCS_grid.png
	$(BIN)/inslib run SimulatePowderSQE \
	    ForceConstantsFile=$(AL_FC) InputWorkspace=tests/data/Al-iqe.h5 \
	    Instrument=ARCS Ei=80 Temperature=300 \
	    OutputWorkspace=demo_output/Al_ARCS_simulated.nxs --plot demo_output/Al_ARCS_simulated.png
	$(BIN)/inslib compare demo_output/Al_ARCS_simulated.nxs tests/data/Al-iqe.h5 \
	    --plot demo_output/Al_ARCS_model_vs_measured.png

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_template.py
	$(BIN)/python benchmarks/bench_forward_model.py
	$(BIN)/python benchmarks/bench_fold.py
	$(BIN)/python benchmarks/parameter_tables.py
	$(BIN)/python benchmarks/bench_inversion.py
	$(BIN)/python benchmarks/bench_live_inversion.py
	$(BIN)/python benchmarks/inversion_figures.py
	$(BIN)/python benchmarks/bench_amortized.py
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/bench_datagen.py --end-to-end 10000 --workers 2

clean:
	rm -rf $(VENV) demo_output
