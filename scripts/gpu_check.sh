#!/usr/bin/env bash
# scripts/gpu_check.py on a bare GPU machine, from a checkout that is not installed there.
#
#   bash scripts/gpu_check.sh --out "$OUT"          # all checks, ~3-5 min on an H100
#   bash scripts/gpu_check.sh --device cpu --quick   # the CPU code path
#
# Packages the machine lacks travel as wheels in .gpu_wheels/ (carry it; keep it out of git with
# `echo /.gpu_wheels/ >> .git/info/exclude`); they are installed under /tmp only when
# `import hydra, omegaconf, albumentations` fails. For the device image's Python 3.12, here:
#   P="--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64"
#   pip download -d .gpu_wheels --no-deps --only-binary=:all: --python-version 3.12 \
#     --implementation cp $P hydra-core==1.3.8 omegaconf==2.3.1 albumentations==2.0.8 \
#     albucore==0.0.24 pydantic==2.14.4 pydantic_core==2.50.5 annotated-types==0.8.0 \
#     typing-inspection==0.4.5 simsimd==6.5.16 stringzilla==5.3.2
#   pip wheel -w .gpu_wheels --no-deps antlr4-python3-runtime==4.9.3   # an sdist on PyPI
# The package runs from src/ when it is not installed. Other arguments go to gpu_check.py.
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
