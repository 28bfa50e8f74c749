#!/usr/bin/env bash
# scripts/gpu_check.py on a bare GPU machine, from a checkout that is not installed there.
#
#   bash scripts/gpu_check.sh --out "$OUT"          # all checks, ~3-5 min on an H100
#   bash scripts/gpu_check.sh --device cpu --quick   # the CPU code path
#
# Packages the machine lacks travel as wheels in .gpu_wheels/ (git-ignored via .git/info/exclude;
# hydra-core, omegaconf, antlr4-python3-runtime, albumentations and their needs, for its Python);
# they are installed under /tmp only when `import hydra, omegaconf, albumentations` fails. The
# package runs from src/ when it is not installed. Other arguments go to gpu_check.py.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 NO_ALBUMENTATIONS_UPDATE=1 WANDB_MODE=disabled
if ! python3 -c "import hydra, omegaconf, albumentations" 2>/dev/null; then
  if ! compgen -G ".gpu_wheels/*.whl" >/dev/null; then
    echo "gpu_check.sh: hydra / omegaconf / albumentations missing and no .gpu_wheels/*.whl" >&2
    exit 2
  fi
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/gpu_check_site .gpu_wheels/*.whl
  export PYTHONPATH="/tmp/gpu_check_site${PYTHONPATH:+:$PYTHONPATH}"
fi
if ! python3 -c "import siamlightning" 2>/dev/null; then
  export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
fi
exec python3 scripts/gpu_check.py "$@"
