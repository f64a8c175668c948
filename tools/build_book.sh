#!/usr/bin/env bash
# Build the book: install, execute every notebook at published scale (measured, and
# cached for the build), then the strict build `jupyter-book build . -n -W --keep-going`.
# The HTML is in _build/html. Pass --student for the solution-hidden version.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
export RECNEG_DATA_DIR="${RECNEG_DATA_DIR:-$(pwd)/../shared/data}"
start=$(date +%s)
python tools/book_pipeline.py "$@"
echo "book build took $(( $(date +%s) - start )) s"
