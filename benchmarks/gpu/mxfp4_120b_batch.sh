#!/usr/bin/env bash
# The one-H200 batch behind the MXFP4/120B rows of benchmarks/RESULTS.md (about 6-8 minutes):
#   bash benchmarks/gpu/mxfp4_120b_batch.sh OUT
# It needs the GPU image's python3 (torch 2.11 cu130, triton) and, as wheels in .devcarry/mxfp4/
# (py3 / cp312 manylinux; pip download them where a registry is reachable), what the image lacks:
#   transformers==5.19.0 peft==0.21.2 pydantic==2.14.4 pydantic_core==2.50.5 annotated-types typing-inspection
# Runs, in order of value, each in its own process (its own peak memory), until BUDGET_S seconds are spent:
#   dequant           one 120B layer's experts: torch vs Triton dequantization, FP4 error on 2880x5760 shapes
#   120b-mxfp4        120B, experts MXFP4, LoRA r=16 attention + experts, 2048 tokens x 8 x 2 accumulation
#   20b-mxfp4/-bf16   the 20b with MXFP4 experts next to its bf16 run, same recipe
#   write/load-1layer a one-layer 120B-shaped bf16 checkpoint (8.7 GB) streamed into MXFP4: time, host RSS
#   120b-mxfp4:16x1   micro-batch 16, no accumulation
set -uo pipefail
OUT=${1:-${OUT:-benchmarks/out/mxfp4-120b}}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
  .devcarry/mxfp4/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
{ date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv;
  python3 -c 'import torch, transformers, peft, triton; print("torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__, "triton", triton.__version__)'; } 2>&1 | tee "$OUT/log.txt"
python3 benchmarks/train_120b_mxfp4.py --out "$OUT" --budget-s "${BUDGET_S:-450}" \
  --runs "${RUNS:-dequant,120b-mxfp4,20b-mxfp4,20b-bf16,write-1layer,load-1layer,120b-mxfp4:16x1}" 2>&1 | tee -a "$OUT/log.txt"
