"""Talking to the model: an OpenAI-compatible client (async, bounded, retried, cached), the vLLM launcher,
and offline backends with the same interface.

    from medswallow.inference import InferenceClient, SamplingParams
    client = InferenceClient("http://127.0.0.1:8000/v1", model="tiny-gptoss", cache_dir="cache/")
    results = client.chat_many([[{"role": "user", "content": "..."}]], SamplingParams(max_tokens=256))

Importing this package pulls in no HTTP or ML library; aiohttp, vLLM and transformers load on first use.
"""

from medswallow.inference.client import ChatDelta, ClientStats, InferenceClient, run_sync
from medswallow.inference.types import (
    ChatChoice,
    ChatResult,
    CompletionChoice,
    CompletionResult,
    SamplingParams,
    TokenLogprob,
    Usage,
)

__all__ = [
    "ChatChoice",
    "ChatDelta",
    "ChatResult",
    "ClientStats",
    "CompletionChoice",
    "CompletionResult",
    "InferenceClient",
    "SamplingParams",
    "TokenLogprob",
    "Usage",
    "run_sync",
]
