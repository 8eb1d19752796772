"""The static component that asks the server to set or remove the session cookie (see medswallow.review.web)."""

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent
