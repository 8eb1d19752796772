from __future__ import annotations

import numpy as np

from medswallow.corpus.dedup.cluster import cluster
from medswallow.corpus.dedup.minhash import MinHasher, jaccard_threshold

BASE = (
    "患者は七十八歳の男性で、冷房のない自室で倒れているところを発見され救急搬送された。来院時の深部体温は四十度を超え、"
    "血清CK値は著明に上昇しており横紋筋融解症と診断した。直ちに冷却と大量輸液を開始し、第五病日にCK値は正常化した。"
)


def keys(text: str, lang: str = "ja"):
    return MinHasher(14, 8, 1, 5, 9).keys(text, lang)


def shared_bands(a: str, b: str) -> int:
    return int((keys(a)[1] == keys(b)[1]).sum())


def test_exact_key_ignores_formatting_only():
    assert keys(BASE)[0] == keys(BASE.replace("、", "，").replace("。", "。 "))[0]
    assert keys(BASE)[0] != keys(BASE.replace("七十八", "六十八"))[0]


def test_near_duplicates_share_a_band_and_unrelated_texts_do_not():
    revised = BASE.replace("直ちに冷却", "直ちに体表冷却").replace("正常化した", "正常化していた")
    other = "高血圧の治療では減塩と運動療法を中心とした生活習慣の修正が基本であり、効果が不十分な場合に降圧薬を開始する。" * 2
    assert shared_bands(BASE, revised) >= 1
    assert shared_bands(BASE, other) == 0


def test_dakuten_are_not_stripped_in_shingles():
    a = "ガイドラインでは" * 20
    b = "カイトラインては" * 20  # what stripping voiced marks would make of it
    assert shared_bands(a, b) == 0


def test_threshold_of_default_bands():
    assert abs(jaccard_threshold(14, 8) - 0.719) < 0.01


def test_cluster_keeps_earliest_and_follows_chains():
    n = 6
    members = np.arange(n)
    exact = np.array([1, 2, 3, 4, 5, 2], dtype=np.uint64)  # 5 is an exact copy of 1
    band0 = np.array([10, 11, 12, 10, 14, 15], dtype=np.uint64)  # 0 ~ 3
    band1 = np.array([20, 21, 22, 23, 23, 25], dtype=np.uint64)  # 3 ~ 4: chain 0 ~ 3 ~ 4
    roots = cluster(n, members, exact, [band0, band1])
    assert roots.tolist() == [0, 1, 2, 0, 0, 1]


def test_cluster_scales_to_a_million_documents_in_bounded_memory():
    rng = np.random.default_rng(0)
    n = 1_000_000
    bands = (rng.integers(0, 2**63, n, dtype=np.uint64) for _ in range(3))
    exact = rng.integers(0, n // 2, n).astype(np.uint64)  # many exact collisions
    roots = cluster(n, np.arange(n), exact, bands)
    assert roots.shape == (n,) and (roots <= np.arange(n)).all()
    assert (roots == np.arange(n)).sum() == len(np.unique(exact))


def test_band_collisions_are_verified_before_they_chain_documents():
    members = np.arange(4)
    band = np.array([7, 7, 7, 9], dtype=np.uint64)  # 0, 1 and 2 collide in one band
    similar = {(1, 0)}  # only 1 ~ 0 holds up on the full signature

    def verify(u, v):
        return np.array([(int(a), int(b)) in similar for a, b in zip(u, v, strict=True)])

    assert cluster(4, members, None, [band], verify=verify).tolist() == [0, 0, 2, 3]
    assert cluster(4, members, None, [band]).tolist() == [0, 0, 0, 3]  # unverified: 2 would be chained in


def test_templated_documents_are_not_chained_into_one_cluster(tmp_path):
    """Many documents from the same templates share bands by chance; verification keeps them apart."""
    import random

    from medswallow.corpus.layout import Layout
    from medswallow.corpus.select import SignatureStore

    rng = random.Random(0)
    parts = ["高血圧の治療では", "減塩と運動が基本であり", "家庭血圧を測定する", "薬物療法を考慮する", "腎機能を評価する", "転倒に注意する"]
    texts = ["、".join(rng.sample(parts, 4)) + f"。症例{i}は{rng.randint(20, 90)}歳であった。" for i in range(400)]
    h = MinHasher(14, 8, 1, 5, 9)
    keys = [h.keys(t, "ja") for t in texts]
    layout = Layout(tmp_path)
    (tmp_path / ".work" / "process").mkdir(parents=True)
    layout.process_signatures(0).write_bytes(np.stack([k[2] for k in keys]).astype("<u4").tobytes())
    store = SignatureStore(layout, np.array([0, len(texts)]), 112)
    bands = [np.array([k[1][j] for k in keys], dtype=np.uint64) for j in range(14)]
    loose = cluster(len(texts), np.arange(len(texts)), None, bands)
    strict = cluster(len(texts), np.arange(len(texts)), None, bands, verify=store.verifier(0.7))
    largest = lambda roots: np.bincount(roots).max()  # noqa: E731
    assert largest(strict) < largest(loose)
    u = np.flatnonzero(strict != np.arange(len(texts)))
    if len(u):  # whatever was joined is really similar to its representative
        assert (store.similarity(u, strict[u]) >= 0.5).all()
