"""Start vLLM's OpenAI server with a server-wide default reasoning effort for harmony (gpt-oss) chat.

vLLM has no option for this: a chat request without ``reasoning_effort`` gets harmony's built-in default
(medium). ``medswallow serve --reasoning-effort`` runs the server through this module, which changes the
request model's default before the server starts; a request that sets ``reasoning_effort`` still wins.
Run as ``python -m medswallow.inference._vllm_entry VLLM-ARGS...`` with MEDSWALLOW_DEFAULT_REASONING_EFFORT set.
"""

from __future__ import annotations

import os
import sys

ENV_VAR = "MEDSWALLOW_DEFAULT_REASONING_EFFORT"


def set_default_reasoning_effort(effort: str) -> bool:
    """Make ``effort`` the default of ChatCompletionRequest.reasoning_effort; False if vLLM changed shape."""
    try:
        from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest
    except ImportError:
        return False
    field = ChatCompletionRequest.model_fields.get("reasoning_effort")
    if field is None:
        return False
    field.default = effort
    ChatCompletionRequest.model_rebuild(force=True)
    return True


if __name__ == "__main__":
    effort = os.environ.get(ENV_VAR)
    if effort and not set_default_reasoning_effort(effort):
        print("warning: this vLLM version does not allow a default reasoning effort; requests default to harmony's (medium)", file=sys.stderr)
    from vllm.entrypoints.launchers.api_server.entry import main

    main()
