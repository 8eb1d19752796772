"""Record -> document mapping shared by the tabular readers (JSONL, CSV, Parquet, HF datasets).

A field map names the text field, or a template over several fields; a record that lacks a field the map
needs is quarantined with ``missing_field:<name>``, never filled with an empty string.
"""

from __future__ import annotations

import string
from typing import Any

from medswallow.corpus.sources.base import Item, SourceReader, Unit
from medswallow.errors import UserError

_FORMATTER = string.Formatter()


def template_fields(template: str) -> list[str]:
    """Plain field names used by a template; attribute access and indexing are refused."""
    names = []
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise UserError(f"template {template!r}: {exc}") from None
    for _, name, spec, conv in parsed:
        if name is None:
            continue
        if not name or not name.replace("_", "a").replace("-", "a").isalnum():
            raise UserError(f"template {template!r}: use plain field names like {{title}}, not {{{name}}}")
        if spec or conv:
            raise UserError(f"template {template!r}: format specs are not supported ({{{name}}})")
        names.append(name)
    return names


def as_text(value: Any) -> str | None:
    """A field value as text: lists are joined by lines; None and empty values count as missing."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return None
    if isinstance(value, list | tuple):
        parts = [as_text(v) for v in value]
        joined = "\n".join(p for p in parts if p)
        return joined or None
    if isinstance(value, float) and value != value:  # NaN from pandas-written files
        return None
    text = str(value)
    return text if text.strip() else None


def render(template: str, record: dict[str, Any]) -> tuple[str | None, str | None]:
    """``(text, None)`` or ``(None, missing_field)``."""
    values = {}
    for name in template_fields(template):
        value = as_text(record.get(name))
        if value is None:
            return None, name
        values[name] = value
    return template.format(**values), None


def record_to_item(reader: SourceReader, record: Any, local_id: str, unit: Unit, fields: Any, **meta: Any) -> Item:
    """One record (already parsed) -> a Document, or a quarantined Rejected with the reason."""
    if not isinstance(record, dict):
        return reader.quarantine(local_id, "not_an_object", unit, detail=f"expected a JSON object, got {type(record).__name__}", **meta)
    if fields.id:
        rid = as_text(record.get(fields.id))
        if rid is None:
            return reader.quarantine(local_id, f"missing_field:{fields.id}", unit, **meta)
        local_id = rid
    if fields.template:
        text, missing = render(fields.template, record)
        if text is None:
            return reader.quarantine(local_id, f"missing_field:{missing}", unit, **meta)
    else:
        field = fields.text or "text"
        value = record.get(field)
        if value is not None and not isinstance(value, str):
            return reader.quarantine(local_id, f"wrong_type:{field}", unit, detail=f"expected text, got {type(value).__name__}", **meta)
        text = as_text(value)
        if text is None:
            return reader.quarantine(local_id, f"missing_field:{field}", unit, **meta)
    extra = {k: _jsonable(record.get(k)) for k in fields.meta if k in record}
    if fields.lang and record.get(fields.lang) is not None:
        extra["declared_lang"] = str(record.get(fields.lang))
    return reader.document(local_id, text, unit, **meta, **extra)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)
