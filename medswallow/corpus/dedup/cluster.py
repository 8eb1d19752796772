"""Duplicate clusters over a whole build: exact hashes and LSH band keys -> one representative per cluster.

Memory is bounded by one band at a time: a band's keys for all documents (8 bytes each) are sorted, each
group of equal keys is linked to its first member, and a vectorised union-find keeps one int64 parent per
document. One million documents need well under a gigabyte. The representative of a cluster is its
smallest index, i.e. the earliest document in recipe order, so results never depend on worker timing.

Band collisions are candidates, not verdicts: with many moderately similar documents (templated text),
random collisions would chain unrelated documents into one giant cluster through the union-find. A
``verify(u, v)`` callback (full-signature agreement) filters the candidate links before they are joined.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

Verify = Callable[[np.ndarray, np.ndarray], np.ndarray]


class ArrayUnionFind:
    """Union-find over ``0..n-1`` in numpy arrays; a parent is never larger than its child."""

    def __init__(self, n: int) -> None:
        self.parent = np.arange(n, dtype=np.int64)

    def find(self, x: np.ndarray) -> np.ndarray:
        r = self.parent[x]
        while True:
            nr = self.parent[r]
            if np.array_equal(nr, r):
                return r
            r = nr

    def compress(self) -> None:
        p = self.parent
        while True:
            q = p[p]
            if np.array_equal(q, p):
                break
            p = q
        self.parent = p

    def union(self, u: np.ndarray, v: np.ndarray) -> None:
        while len(u):
            ru, rv = self.find(u), self.find(v)
            differ = ru != rv
            if not differ.any():
                return
            u, v, ru, rv = u[differ], v[differ], ru[differ], rv[differ]
            # Roots point at the smaller root; competing links are retried until all pairs agree.
            np.minimum.at(self.parent, np.maximum(ru, rv), np.minimum(ru, rv))

    def link_equal_keys(self, keys: np.ndarray, members: np.ndarray, verify: Verify | None = None) -> None:
        """Join documents (global indices ``members``) whose ``keys`` are equal (and that ``verify`` accepts)."""
        if len(keys) < 2:
            return
        order = np.lexsort((members, keys))
        k, m = keys[order], members[order]
        start = np.empty(len(k), dtype=bool)
        start[0] = True
        np.not_equal(k[1:], k[:-1], out=start[1:])
        first = m[start][np.cumsum(start) - 1]
        dup = ~start
        if dup.any():
            u, v = m[dup], first[dup]
            if verify is not None:
                ok = verify(u, v)
                u, v = u[ok], v[ok]
            self.union(u, v)
        self.compress()

    def roots(self) -> np.ndarray:
        self.compress()
        return self.parent


def cluster(
    n: int,
    members: np.ndarray,
    exact: np.ndarray | None,
    bands: Iterable[np.ndarray],
    on_band: Callable[[], None] | None = None,
    verify: Verify | None = None,
) -> np.ndarray:
    """Representative index for each of ``n`` documents; only ``members`` take part.

    ``exact`` and each array of ``bands`` hold one key per member (same order as ``members``); ``bands`` may
    be a generator that reads one band from disk at a time. ``verify(u, v)`` says which band links to keep
    (exact-hash links are always kept).
    """
    uf = ArrayUnionFind(n)
    if exact is not None:
        uf.link_equal_keys(exact, members)
    for keys in bands:
        uf.link_equal_keys(keys, members, verify)
        if on_band:
            on_band()
    return uf.roots()
