#!/usr/bin/env bash
# Install recneg with everything the book and the tests need (idempotent).
#   bash tools/install.sh            # torch CPU wheel, recneg[book,spark,ml,dev], MathJax
# Set RECNEG_SKIP_INSTALL=1 to use the current environment as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${RECNEG_SKIP_INSTALL:-0}" == "1" ]]; then
  exit 0
fi
PIP="python -m pip"
# torch first, pinned: an unpinned install pulls a multi-GB CUDA build. This machine
# serves the CPU wheel of 2.13.0 locally; elsewhere add
# --extra-index-url https://download.pytorch.org/whl/cpu to get the CPU build.
if ! python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null; then
  $PIP install --quiet "torch==2.13.0"
fi
$PIP install --quiet -e ".[book,spark,ml,dev]"
