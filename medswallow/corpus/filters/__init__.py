"""Per-document filters (language, quality) on the :class:`~medswallow.corpus.filters.base.Filter` hook."""
