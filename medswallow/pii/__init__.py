"""PII/PHI detection and redaction for Japanese and English clinical text (Presidio + Sudachi/GiNZA/spaCy).

``PIIEngine`` is the one entry point used by ``build-corpus`` and ``medswallow pii``. Importing this package
is cheap: Presidio, Sudachi and spaCy load on the engine's first call.
"""

from medswallow.pii.engine import MODES, PIIEngine, count_labels
from medswallow.pii.labels import LABELS

__all__ = ["LABELS", "MODES", "PIIEngine", "count_labels"]
