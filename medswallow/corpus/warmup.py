"""Loaded once into the forkserver of the local workers, so every worker starts with the heavy parts ready.

Worker processes are forked from datatrove's forkserver; importing this module there (through
``set_forkserver_preload``) loads the PII engine, the o200k_harmony encoding and the language-ID model
once, instead of once per worker at the same time (the PII engine alone takes seconds to load). It reads
``MEDSWALLOW_CORPUS_WARM`` ("fast,thorough" or "fast" ..., and "+pseudo") set by the pipeline. Nothing else
imports it.
"""

from __future__ import annotations

import os

ENV = "MEDSWALLOW_CORPUS_WARM"


def warm(spec: str) -> None:
    from medswallow.corpus.langid import _fasttext
    from medswallow.models.tokenizer import get_encoding

    get_encoding()
    _fasttext()
    pseudonymize = "+pseudo" in spec
    for mode in spec.replace("+pseudo", "").split(","):
        if mode in ("fast", "thorough"):
            from medswallow.corpus.redact import engine

            eng = engine(mode, pseudonymize)
            eng.redact_batch(["山田太郎、03-1234-5678", "John Smith, 555-0134"], ["ja", "en"])


if os.environ.get(ENV):
    try:
        warm(os.environ[ENV])
    except Exception:  # noqa: S110 - a worker loading for itself reports any failure with a clear message
        pass
