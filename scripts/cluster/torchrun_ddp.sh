#!/bin/bash
# torchrun launch (one node, 4 GPUs): Lightning detects torchelastic and uses its ranks.
set -euo pipefail
torchrun --standalone --nproc_per_node=4 -m siamlightning.cli.train \
    trainer=ddp trainer.devices=4 hydra.run.dir=outputs/siamfc/torchrun "$@"
