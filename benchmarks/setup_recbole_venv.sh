#!/usr/bin/env bash
# Create the separate virtual environment in which benchmarks/bench_samplers.py runs
# RecBole 1.2.1 for comparison. RecBole 1.2.1 needs numpy < 2 (it uses np.float_), so it
# cannot share recneg's environment.
#
# Usage: bash benchmarks/setup_recbole_venv.sh [VENV_DIR]     (default /work/.venv-recbole,
#        or $RECBOLE_VENV). The benchmark looks in the same place.
set -euo pipefail

VENV="${1:-${RECBOLE_VENV:-/work/.venv-recbole}}"
PYTHON="${PYTHON:-python3}"

"$PYTHON" -m venv --clear "$VENV"
PIP=("$VENV/bin/pip" install --quiet --disable-pip-version-check)

# Torch first and pinned: an unpinned torch would pull a multi-gigabyte CUDA build.
"${PIP[@]}" "torch==2.13.0"
# RecBole without its optional heavy dependencies (ray, plotly are only needed for
# hyper-parameter tuning and plots; the sampler does not import them).
"${PIP[@]}" --no-deps "recbole==1.2.1"
"${PIP[@]}" "numpy<2" "pandas<2.3" "setuptools<81" "scipy<1.16" "scikit-learn<1.7" \
    "colorlog==4.7.2" "colorama==0.4.4" pyyaml tqdm tensorboard thop tabulate texttable psutil "torch==2.13.0"

"$VENV/bin/python" -c "import recbole, numpy; from recbole.sampler import Sampler; from recbole.data import create_dataset; print('RecBole', recbole.__version__, 'numpy', numpy.__version__, 'ready in', '$VENV')"
