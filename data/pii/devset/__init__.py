"""Generator of the invented PII dev/held-out/blind sets in data/pii (tooling, not part of the runtime package)."""
