"""benchmarks/train_throughput.py --tiny --device cpu: both paths train through TRL's SFTTrainer and agree.

The GPU measurement is this same script without --tiny; this keeps it runnable between GPU sessions.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_tiny_cpu_run_trains_both_paths_alike(tmp_path: Path) -> None:
    out = tmp_path / "tp"
    cmd = [
        sys.executable, str(REPO / "benchmarks" / "train_throughput.py"), "--tiny", "--device", "cpu",
        "--steps", "2", "--seq", "24", "--vocab", "2048", "--out", str(out),
    ]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    # The levers really ran in the medswallow path, and not in the trl path.
    assert results["installed"]["medswallow"]["medswallow_experts_layers"] == 2
    assert results["installed"]["medswallow"]["checkpointed_regions"] == 2  # selective: the 2 MoE blocks
    assert not results["installed"]["medswallow"]["hf_gradient_checkpointing"]
    assert results["installed"]["trl"]["hf_gradient_checkpointing"]
    # Same data, seed and recipe: the loss curves agree to float32 rounding.
    assert results["max_loss_diff"] < 1e-4
    assert all(len(s["loss"]) == 2 for s in results["summary"].values())
    assert (out / "loss.png").stat().st_size > 0
