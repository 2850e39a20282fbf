"""Every filter form, as a where string and as a builder expression, run by the server and
checked against pandas on the same rows."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from arbalest_client import col

N = 400


@pytest.fixture(scope="module")
def data(db):
    rng = np.random.default_rng(21)
    tags = np.array(["apple", "apricot", "banana", "cherry", None], dtype=object)
    df = pd.DataFrame({
        "id": np.arange(N),
        "vector": list(rng.standard_normal((N, 4)).astype(np.float32)),
        "n": rng.integers(-50, 50, N),
        "price": rng.random(N) * 20,
        "flag": rng.random(N) < 0.5,
        "tag": tags[rng.integers(0, 5, N)],
    })
    table = pa.table({"id": pa.array(df.id, pa.int64()),
                      "vector": pa.array(list(df.vector), pa.list_(pa.float32(), 4)),
                      "n": pa.array(df.n, pa.int32()), "price": df.price,
                      "flag": df.flag, "tag": pa.array(df.tag, pa.string(), from_pandas=True)})
    return db.create_dataset("filters", data=table, text_columns=[]), df


t = lambda df: df.tag.fillna("")  # noqa: E731
CASES = [
    ("n = 3", col("n") == 3, lambda d: d.n == 3),
    ("n != 3", col("n") != 3, lambda d: d.n != 3),
    ("n < 0", col("n") < 0, lambda d: d.n < 0),
    ("n <= 0", col("n") <= 0, lambda d: d.n <= 0),
    ("n > 10", col("n") > 10, lambda d: d.n > 10),
    ("n >= 10", col("n") >= 10, lambda d: d.n >= 10),
    ("price < 2.5", col("price") < 2.5, lambda d: d.price < 2.5),
    ("flag = true", col("flag") == True, lambda d: d.flag),  # noqa: E712
    ("tag = 'apple'", col("tag") == "apple", lambda d: d.tag == "apple"),
    ("tag != 'apple'", col("tag") != "apple", lambda d: d.tag.notna() & (d.tag != "apple")),
    ("tag in ('apple', 'cherry')", col("tag").isin(["apple", "cherry"]),
     lambda d: d.tag.isin(["apple", "cherry"])),
    ("tag not in ('apple', 'cherry')", col("tag").not_in(["apple", "cherry"]),
     lambda d: d.tag.notna() & ~d.tag.isin(["apple", "cherry"])),
    ("n in (1, 2, 3)", col("n").isin(np.array([1, 2, 3])), lambda d: d.n.isin([1, 2, 3])),
    ("tag like 'ap%'", col("tag").startswith("ap"), lambda d: t(d).str.startswith("ap")),
    ("tag startswith 'ap'", col("tag").startswith("ap"), lambda d: t(d).str.startswith("ap")),
    ("tag like '%an%'", col("tag").contains("an"), lambda d: t(d).str.contains("an")),
    ("tag contains 'an'", col("tag").contains("an"), lambda d: t(d).str.contains("an")),
    ("tag is null", col("tag").is_null(), lambda d: d.tag.isna()),
    ("tag is not null", col("tag").is_not_null(), lambda d: d.tag.notna()),
    ("n between -5 and 5", col("n").between(-5, 5), lambda d: (d.n >= -5) & (d.n <= 5)),
    ("price < 10 and tag in ('apple', 'banana')",
     col("price") < 10 & col("tag").isin(["apple", "banana"]),
     lambda d: (d.price < 10) & d.tag.isin(["apple", "banana"])),
    ("n < -40 or n > 40", (col("n") < -40) | (col("n") > 40),
     lambda d: (d.n < -40) | (d.n > 40)),
    ("not (n < 0) and (flag or tag = 'cherry')".replace("flag or", "flag = true or"),
     ~(col("n") < 0) & ((col("flag") == True) | (col("tag") == "cherry")),  # noqa: E712
     lambda d: (d.n >= 0) & (d.flag | (d.tag == "cherry"))),
    ("not tag like 'ap%'", ~col("tag").startswith("ap"),
     lambda d: d.tag.notna() & ~t(d).str.startswith("ap")),
]


@pytest.mark.parametrize("where, expr, predicate", CASES, ids=[c[0] for c in CASES])
def test_filter_forms_match_pandas(data, where, expr, predicate):
    ds, df = data
    want = df.id[predicate(df).fillna(False).astype(bool)].tolist()
    assert want, "the case should match some rows"
    assert sorted(ds.scan(where=where, columns=["id"]).column("id").to_pylist()) == want
    assert sorted(ds.scan(expr, columns=["id"]).column("id").to_pylist()) == want
    # the same filter inside a search: k covers every row, so all matching rows come back
    got = ds.search(np.zeros(4, np.float32), k=N, where=where, columns=[])
    assert sorted(got.column("id").to_pylist()) == want
