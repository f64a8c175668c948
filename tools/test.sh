#!/usr/bin/env bash
# Install, then run the whole test suite: unit tests, notebooks (papermill + nbval),
# the strict book build and the student build, and the browser test of the built site.
# Extra arguments go to pytest, e.g. `bash tools/test.sh -x -k samplers`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
export RECNEG_DATA_DIR="${RECNEG_DATA_DIR:-$(pwd)/../shared/data}"
# test_book.py builds the book once per session; test_site.py browses that build, so
# they run in one pytest process, in this order (pytest collects files alphabetically).
python -m pytest -q "$@"
