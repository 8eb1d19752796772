from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from tests.corpus.helpers import read_all


def test_rows_in_batches_with_field_map(tmp_path):
    n = 2500  # more than one read batch
    table = pa.table({"id": [f"d{i}" for i in range(n)], "body": [f"本文{i}" if i % 1000 else None for i in range(n)]})
    pq.write_table(table, tmp_path / "a.parquet", row_group_size=700)
    docs, rej = read_all("parquet", tmp_path, paths=["a.parquet"], fields={"text": "body", "id": "id"})
    assert len(docs) == n - 3 and docs[0].id == "src:d1" and docs[0].text == "本文1"
    assert [r.id for r in rej] == ["src:d0", "src:d1000", "src:d2000"]
    assert {r.reason for r in rej} == {"missing_field:body"}


def test_damaged_parquet_is_quarantined(tmp_path):
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really parquet PAR1")
    (tmp_path / "empty.parquet").write_bytes(b"")
    docs, rej = read_all("parquet", tmp_path, paths=["*.parquet"])
    assert docs == [] and sorted(r.reason for r in rej) == ["empty_file", "not_parquet"]
