#!/usr/bin/env bash
# One GPU call (one H200, ~8 min): the bf16 gradient check of the levers, `medswallow train` (no flags) at
# 8K and 32K tokens per sequence (32,768 tokens per optimizer step, as the 2K row of train_speed_batch.sh),
# SFT (harmony, assistant-only loss) and DPO on the gpt-oss-20b architecture, and GRPO steps/s with
# transformers generation. Same setup as benchmarks/gpu/train_speed_batch.sh (.devcarry/ carried).
set -u -o pipefail
OUT=${OUT:-out/gpu}
mkdir -p "$OUT"
source benchmarks/gpu/train_setup.sh || exit 1
quiet() { grep -v -E 'it/s\]|examples/s\]|Warning|warn\(' ; }
LOG="$OUT/batch.log"
date -u > "$LOG"
python3 benchmarks/train_throughput.py --check-grads 2>&1 | quiet > "$OUT/check_grads.log"
for seq in ${CONTEXTS:-8192 32768}; do
  python3 benchmarks/train_vs_trl.py --out /tmp/ctx$seq --tokenizer-dir /tmp/tok --variants medswallow \
      --seq $seq --batch $((32768 / seq)) --accum 1 --steps ${CTX_STEPS:-8} 2>&1 | quiet >> "$LOG"
  cp /tmp/ctx$seq/results.json "$OUT/ctx$seq.json"
done
python3 benchmarks/train_kinds.py --out /tmp/kinds --tokenizer-dir /tmp/tok --steps ${KIND_STEPS:-5} 2>&1 | quiet >> "$LOG"
cp /tmp/kinds/results.json "$OUT/kinds.json"
python3 benchmarks/grpo_bench.py --paths medswallow --tokenizer-dir /tmp/tok --steps 3 --warmup-steps 1 \
    --max-completion-length ${GRPO_TOKENS:-256} --out /tmp/grpo 2>&1 | quiet >> "$LOG"
cp /tmp/grpo/*.json "$OUT/" 2>/dev/null
tail -30 "$LOG"; tail -8 "$OUT/check_grads.log"
