"""MinHash signatures over character shingles, and their LSH band keys.

Shingles are character n-grams of the matching key (NFKC, case-folded, no whitespace or punctuation;
dakuten kept), so Japanese needs no word tokeniser. Permutations are ``(a*x + b) >> 32`` over 64-bit
shingle hashes (multiply-shift), evaluated in numpy in bounded chunks.
"""

from __future__ import annotations

import numpy as np
import xxhash

from medswallow.corpus.ngrams import char_ngram_hashes, mix64
from medswallow.corpus.normalize import match_key

CHUNK = 4096  # shingles per numpy block: bounds memory for very long documents
_SHIFT = np.uint64(32)
_BAND_PRIME = np.uint64(0x9E3779B97F4A7C15)


class MinHasher:
    """Signatures of ``bands * rows`` 32-bit minima and one 64-bit key per band."""

    def __init__(self, bands: int, rows: int, seed: int, ngram_ja: int, ngram_other: int) -> None:
        self.bands = bands
        self.rows = rows
        self.ngram_ja = ngram_ja
        self.ngram_other = ngram_other
        rng = np.random.default_rng(seed)
        num = bands * rows
        self.a = rng.integers(1, 2**63, size=num, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        self.b = rng.integers(0, 2**63, size=num, dtype=np.uint64)

    def shingles(self, key: str, lang: str) -> np.ndarray:
        """Shingle hashes; repeats are harmless to a minimum, so no (sorting) de-duplication is done."""
        n = self.ngram_ja if lang in ("ja", "mixed") else self.ngram_other
        return char_ngram_hashes(key, n)

    def signature(self, shingles: np.ndarray) -> np.ndarray:
        sig = np.full(self.a.shape, np.iinfo(np.uint64).max, dtype=np.uint64)
        if len(shingles) == 0:
            return sig.astype(np.uint32)
        with np.errstate(over="ignore"):
            for start in range(0, len(shingles), CHUNK):
                block = shingles[start : start + CHUNK, None]
                values = (block * self.a[None, :] + self.b[None, :]) >> _SHIFT
                np.minimum(sig, values.min(axis=0), out=sig)
        return sig.astype(np.uint32)

    def band_keys(self, sig: np.ndarray) -> np.ndarray:
        """One 64-bit key per band: documents sharing any key are near-duplicate candidates."""
        rows = sig.reshape(self.bands, self.rows).astype(np.uint64)
        h = np.arange(1, self.bands + 1, dtype=np.uint64)  # band index salts the key
        with np.errstate(over="ignore"):
            for r in range(self.rows):
                h = (h ^ rows[:, r]) * _BAND_PRIME
        return mix64(h)

    def keys(self, text: str, lang: str) -> tuple[int, np.ndarray, np.ndarray]:
        """``(exact_hash, band_keys, signature)`` of a document."""
        key = match_key(text)
        exact = xxhash.xxh3_64_intdigest(key.encode("utf-8"))
        sig = self.signature(self.shingles(key, lang))
        return exact, self.band_keys(sig), sig


def jaccard_threshold(bands: int, rows: int) -> float:
    """Similarity at which a pair becomes a candidate with probability about 1/2."""
    return float((1 / bands) ** (1 / rows))
