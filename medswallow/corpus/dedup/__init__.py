"""Exact and near-duplicate removal: MinHash signatures per document, then memory-bounded LSH clustering."""
