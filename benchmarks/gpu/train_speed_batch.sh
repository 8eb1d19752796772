#!/usr/bin/env bash
# One GPU call (one H200, 10 minutes): `medswallow train` with no performance flags and with
# plan.device_memory_gib: 80, next to TRL's public gpt-oss-20b LoRA recipe, 20 optimizer steps each on the same
# rows and seed (benchmarks/train_vs_trl.py); then, as far as the time allows, the 32K-token row and the bf16
# gradient check. Results are copied to $OUT as they come (a run cut by the time limit keeps what finished).
#
# From the repository root on the GPU machine, with .devcarry/ carried: whl/ (trl, datasets, peft,
# transformers 5.19, pydantic, oss-harmony for GRPO's rewards, ... as py3/cp312 wheels) and tok.tar.gz (the o200k_harmony tokenizer files,
# built offline with medswallow.models.tokenizer.build_hf_tokenizer); optionally inductor.tgz, the compiled-kernel
# cache an earlier call wrote to $OUT. Results go to $OUT (default out/gpu). ONLY_VS=1 stops after the
# side-by-side run.
set -u -o pipefail
OUT=${OUT:-out/gpu}
mkdir -p "$OUT"
source benchmarks/gpu/train_setup.sh || exit 1
# Recompilations are logged (one line each): a run that recompiles after its first steps shows it here.
export TORCH_LOGS=${TORCH_LOGS:-recompiles}
# A compiled-kernel cache written by an earlier run (optional): the first step then skips most compiling.
[ -f .devcarry/inductor.tgz ] && mkdir -p "$TORCHINDUCTOR_CACHE_DIR" && tar xzf .devcarry/inductor.tgz -C "$TORCHINDUCTOR_CACHE_DIR"
{ date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; python3 -c 'import torch; print(torch.__version__)'; } > "$OUT/machine.txt"
quiet() { grep --line-buffered -v -E 'it/s\]|examples/s\]|Warning|warn\(|━━' | while IFS= read -r line; do printf '%s %s\n' "$(date -u +%T)" "$line"; done; }
# Copy the partial results while the runs go on.
( while sleep 10; do
    cp /tmp/vs/results.json "$OUT/vs_trl.json" 2>/dev/null
    cp /tmp/ctx32768/results.json "$OUT/ctx32768.json" 2>/dev/null
  done ) &
COPIER=$!
trap 'kill $COPIER 2>/dev/null' EXIT
python3 benchmarks/train_vs_trl.py --out /tmp/vs --tokenizer-dir /tmp/tok --steps "${STEPS:-20}" --stop-on-failure \
    --variants "${VARIANTS:-medswallow,trl-recipe,medswallow-80g,medswallow-fold}" 2>&1 | quiet > "$OUT/vs_trl.log"
cp /tmp/vs/results.json "$OUT/vs_trl.json"
tar czf "$OUT/inductor.tgz" -C "$TORCHINDUCTOR_CACHE_DIR" . 2>/dev/null
[ -n "${ONLY_VS:-}" ] && { tail -8 "$OUT/vs_trl.log"; exit 0; }
python3 benchmarks/train_vs_trl.py --out /tmp/ctx32768 --tokenizer-dir /tmp/tok --variants medswallow \
    --seq 32768 --batch 1 --accum 1 --steps "${CTX_STEPS:-5}" 2>&1 | quiet > "$OUT/ctx32768.log"
cp /tmp/ctx32768/results.json "$OUT/ctx32768.json"
python3 benchmarks/train_throughput.py --check-grads 2>&1 | quiet > "$OUT/check_grads.log"
tail -6 "$OUT/vs_trl.log"; tail -3 "$OUT/ctx32768.log"; tail -6 "$OUT/check_grads.log"
