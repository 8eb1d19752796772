"""Regenerate the PII dev set and its held-out split from templates (spans are computed, never hand-counted).

    python data/pii/make_devset.py   # writes data/pii/dev.jsonl, heldout.jsonl and blind.jsonl

The documents are invented (data.pii.devset.synth and synth_templates); both files are committed, and
this script reproduces them byte for byte (fixed seeds).
"""

from __future__ import annotations

import json
from pathlib import Path

from data.pii.devset.synth import generate

HERE = Path(__file__).resolve().parent
SPLITS = {"dev": (224, 1), "heldout": (136, 2), "blind": (104, 3)}
"""split -> (documents, seed): every template is used 8 times."""


def main() -> None:
    for split, (n_docs, seed) in SPLITS.items():
        path = HERE / f"{split}.jsonl"
        docs = generate(split, n_docs, seed)
        with path.open("w", encoding="utf-8") as fh:
            for doc in docs:
                fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
        n_spans = sum(len(d["spans"]) for d in docs)
        print(f"{path}: {len(docs)} documents, {n_spans} labelled spans")


if __name__ == "__main__":
    main()
