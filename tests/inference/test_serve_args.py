"""`medswallow serve` argument errors: one clear message, exit 2, nothing started."""

from __future__ import annotations


def test_serve_refuses_bad_arguments_before_starting_anything(cli):
    bad_effort = cli("serve", "some/model", "--reasoning-effort", "hgh")
    assert bad_effort.returncode == 2 and "did you mean 'high'" in bad_effort.stderr
    missing = cli("serve", "./no-such-model")
    assert missing.returncode == 2 and "model folder ./no-such-model not found" in missing.stderr
