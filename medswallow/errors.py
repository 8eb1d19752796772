"""Errors that reach users as one clear message (never a traceback)."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix: bad input, a wrong recipe field, a missing extra.

    The CLI prints the message and exits with status 2; nothing else is shown.
    """


class MissingExtraError(UserError):
    """An optional dependency group is not installed."""

    def __init__(self, extra: str, module: str) -> None:
        super().__init__(
            f"this command needs '{module}', which comes with the [{extra}] extra: "
            f"pip install 'medswallow[{extra}]'"
        )


def require(module: str, extra: str):  # type: ignore[no-untyped-def]
    """Import ``module`` or raise a MissingExtraError naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError(extra, module) from exc


def did_you_mean(word: str, choices: list[str] | tuple[str, ...] | set[str]) -> str:
    """Return ' — did you mean 'x'?' for the closest choice, or a list of valid choices."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if close:
        return f" — did you mean '{close[0]}'?"
    shown = ", ".join(sorted(choices)[:12])
    return f" (valid: {shown})" if shown else ""
