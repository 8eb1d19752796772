from __future__ import annotations

import pytest

from medswallow.errors import UserError
from tests.corpus.helpers import read_all, reader


def test_local_dataset_folder_in_shards(tmp_path):
    import datasets

    ds = datasets.Dataset.from_dict({"id": [str(i) for i in range(10)], "text": [f"記事{i}" for i in range(10)]})
    ds.save_to_disk(str(tmp_path / "ds"))
    r = reader("hf", tmp_path, dataset="ds", shards=3, fields={"id": "id"})
    units = r.units()
    assert [u.part for u in units] == [0, 1, 2]
    docs, rej = read_all("hf", tmp_path, dataset="ds", shards=3, fields={"id": "id"})
    assert rej == [] and [d.text for d in docs] == [f"記事{i}" for i in range(10)]
    assert docs[4].meta["row"] == 4


def test_data_file_and_missing_dataset(tmp_path):
    (tmp_path / "x.jsonl").write_text('{"text": "hello there"}\n', encoding="utf-8")
    docs, _ = read_all("hf", tmp_path, dataset="x.jsonl")
    assert [d.text for d in docs] == ["hello there"]
    with pytest.raises(UserError, match="local cache only"):
        read_all("hf", tmp_path, dataset="nobody/no-such-dataset-xyz")
