"""medswallow: build the medical mixture, train, evaluate and safety-review Medical-GPT-OSS-Swallow.

Importing the package is cheap on purpose: heavy libraries (torch, vLLM, spaCy, Presidio) are imported
inside the functions that need them.
"""

__version__ = "0.1.0"

BASE_MODEL_ID = "tokyotech-llm/GPT-OSS-Swallow-120B-RL-v0.1"
"""The RL checkpoint that domain-adaptive training starts from."""
