"""Every method of Client and Dataset, every input kind of insert, against the real server."""

from __future__ import annotations

import gzip
import json
import sys
import types

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

import arbalest_client as ab
from arbalest_client import col

DIM = 8


def frame(n=200, start=0, dim=DIM, seed=0):
    rng = np.random.default_rng(seed + start)
    return pd.DataFrame({
        "id": np.arange(start, start + n),
        "vector": list(rng.standard_normal((n, dim)).astype(np.float32)),
        "tag": rng.choice(["a", "b", "c"], n),
        "price": rng.random(n) * 20,
    })


def ids(table) -> list:
    return table.column("id").to_pylist()


# -- creating and listing -------------------------------------------------------------------

def test_create_empty_dataset_with_settings_then_insert(db, name):
    ds = db.create_dataset(name, dim=DIM, metric="COSINE", element="float16",
                           index={"m": 8, "ef_construction": 64}, text_columns=["body"])
    assert name in db.datasets() and name in db
    schema = ds.schema()
    assert schema.field("vector").type == pa.list_(pa.float16(), DIM)
    assert schema.field("body").type == pa.string()
    stats = ds.stats()
    assert stats["rows"] == 0 and stats["dim"] == DIM
    assert stats["index"]["metric"] == "cosine" and stats["index"]["m"] == 8
    assert stats["text_index"]["columns"] == ["body"]
    rows = [{"id": i, "vector": np.full(DIM, i + 1.0), "body": f"word{i}"} for i in range(5)]
    assert ds.insert(rows) == 5
    assert ds.count() == len(ds) == 5
    assert ds.schema(refresh=True).field("vector").type == pa.list_(pa.float16(), DIM)


def test_create_modes(db, name):
    ds = db.create_dataset(name, dim=DIM)
    with pytest.raises(ab.AlreadyExists, match="already exists"):
        db.create_dataset(name, dim=DIM)
    assert db.create_dataset(name, dim=DIM, mode="exist_ok").name == name
    ds.insert(frame(10))
    db.create_dataset(name, dim=DIM, metric="dot_product", mode="overwrite")
    assert ds.count() == 0 and ds.stats()["index"]["metric"] == "dot_product"


def test_create_with_server_assigned_ids_and_a_bare_matrix(db, name):
    ds = db.create_dataset(name, dim=DIM, id_type=None)
    matrix = np.random.default_rng(1).standard_normal((50, DIM))  # float64: stored as float32
    assert ds.insert(matrix) == 50
    assert ds.stats()["ids_assigned"] is True
    assert sorted(ids(ds.scan(columns=["id"]))) == list(range(50))


def test_client_stats_and_snapshot(db, name):
    db.create_dataset(name, data=frame(20))
    stats = db.stats()
    assert name in [d if isinstance(d, str) else d.get("dataset", d.get("name"))
                    for d in stats["datasets"]]
    entries = db.snapshot()
    assert name in [e["dataset"] for e in entries]


# -- insert: every input kind -----------------------------------------------------------------

def _check_stored(ds, df):
    got = ds.scan().to_pandas().sort_values("id").reset_index(drop=True)
    assert got["id"].tolist() == df["id"].tolist()
    np.testing.assert_allclose(np.stack(got["vector"]), np.stack(df["vector"]), rtol=1e-6)
    assert got["tag"].tolist() == df["tag"].tolist()


def test_insert_pandas_list_and_ndarray_columns(db, name):
    df = frame(100)
    ds = db.dataset(name)
    assert ds.insert(df) == 100  # ndarray cells
    lists = frame(100, start=100)
    lists["vector"] = [list(map(float, v)) for v in lists["vector"]]  # python list cells
    assert ds.insert(lists) == 100
    _check_stored(ds, pd.concat([df, frame(100, start=100)], ignore_index=True))
    assert ds.schema().field("tag").type == pa.string()  # pandas' large_string cast


def test_insert_frame_whose_columns_are_chunked_differently(db, name):
    # pd.concat of small frames gives pandas' Arrow-backed string column one chunk per frame,
    # so the vector column (one chunk) is sliced into batches of the string column's chunks:
    # each slice must send its own rows, not the whole parent array.
    parts = [frame(1, start=i) for i in range(3)]
    df = pd.concat(parts)
    ds = db.dataset(name)
    assert ds.insert(df) == 3
    _check_stored(ds, pd.concat(parts, ignore_index=True))


def test_insert_slices_of_a_big_batch(db, name):
    table = pa.Table.from_pandas(frame(50), preserve_index=False)
    ds = db.dataset(name)
    assert ds.insert(table, batch_size=7) == 50
    _check_stored(ds, frame(50))


def test_insert_arrow_table_record_batch_and_reader(db, name):
    df = frame(90)
    table = pa.Table.from_pandas(df, preserve_index=False)
    ds = db.dataset(name)
    assert ds.insert(table.slice(0, 30)) == 30
    assert ds.insert(table.slice(30, 30).to_batches()[0]) == 30
    assert ds.insert(pa.RecordBatchReader.from_batches(
        table.schema, table.slice(60).to_batches())) == 30
    _check_stored(ds, df)


def test_insert_large_string_into_string_dataset(db, name):
    """The server refuses large_string for a string column (a trap of issue 16); the client
    casts to the stored type."""
    ds = db.create_dataset(name, data=pa.table({
        "id": [1], "vector": pa.array([[1.0] * DIM], pa.list_(pa.float32(), DIM)),
        "tag": pa.array(["x"], pa.string())}))
    more = pa.table({"id": [2], "vector": pa.array([[2.0] * DIM], pa.list_(pa.float64())),
                     "tag": pa.array(["y"], pa.large_string())})
    assert ds.insert(more) == 1 and ds.count() == 2


def test_insert_numpy_dict_and_list_of_dicts(db, name):
    rng = np.random.default_rng(3)
    ds = db.dataset(name)
    vectors = rng.standard_normal((40, DIM)).astype(np.float32)
    assert ds.insert({"id": np.arange(40), "vector": vectors, "tag": ["a"] * 40}) == 40
    rows = [{"id": 40 + i, "vector": vectors[i], "tag": "b"} for i in range(10)]
    assert ds.insert(rows) == 10
    got = ds.get([40, 0, 5])
    assert ids(got) == [40, 0, 5]
    np.testing.assert_array_equal(np.stack(got.column("vector").to_numpy(zero_copy_only=False)),
                                  vectors[[0, 0, 5]])


def test_insert_polars_like_frame(db, name):
    """polars is optional (not in the pinned venv): a DataFrame is recognized by its module and
    converted with .to_arrow(), which this stand-in provides."""
    table = pa.Table.from_pandas(frame(25), preserve_index=False)
    fake = types.new_class("DataFrame")
    fake.__module__ = "polars.dataframe.frame"
    fake.to_arrow = lambda self: table
    assert db.dataset(name).insert(fake()) == 25


def test_insert_files(db, name, tmp_path):
    df = frame(300)
    table = pa.Table.from_pandas(df, preserve_index=False)
    pq.write_table(table.slice(0, 100), tmp_path / "one.parquet")
    (tmp_path / "dir").mkdir()
    pq.write_table(table.slice(100, 50), tmp_path / "dir" / "a.parquet")
    pq.write_table(table.slice(150, 50), tmp_path / "dir" / "b.parquet")
    csv = table.slice(200, 50).to_pandas()
    csv["vector"] = [json.dumps([float(x) for x in v]) for v in csv["vector"]]
    csv.to_csv(tmp_path / "part.csv", index=False)
    with gzip.open(tmp_path / "part.jsonl.gz", "wt") as f:
        for row in table.slice(250, 50).to_pylist():
            f.write(json.dumps(row) + "\n")
    ds = db.dataset(name)
    assert ds.insert(tmp_path / "one.parquet") == 100
    assert ds.insert(str(tmp_path / "dir")) == 100
    assert ds.insert(tmp_path / "part.csv") == 50
    assert ds.insert(tmp_path / "part.jsonl.gz") == 50
    _check_stored(ds, df)


def test_insert_npy_file(db, name, tmp_path):
    matrix = np.random.default_rng(5).standard_normal((30, DIM)).astype(np.float32)
    np.save(tmp_path / "v.npy", matrix)
    ds = db.create_dataset(name, data=tmp_path / "v.npy")  # ids assigned by the server
    table = ds.scan()
    order = np.argsort(table.column("id").to_numpy())
    got = np.stack(table.column("vector").to_numpy(zero_copy_only=False))[order]
    np.testing.assert_array_equal(got, matrix)


def test_insert_batches_with_a_progress_bar(db, name, monkeypatch):
    """Batches of batch_size rows; the bar (tqdm, optional) counts every row. A stand-in tqdm
    module records what the client does with it."""
    events = []

    class Bar:
        def __init__(self, total=None, **kwargs):
            events.append(("total", total))

        def update(self, n):
            events.append(("update", n))

        def close(self):
            events.append(("close",))

    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(tqdm=Bar))
    assert db.dataset(name).insert(frame(1000), batch_size=300, progress=True) == 1000
    assert events == [("total", 1000), ("update", 300), ("update", 300), ("update", 300),
                      ("update", 100), ("close",)]
    events.clear()
    db.dataset(name).insert(frame(10, start=1000))  # small: no bar by default
    assert events == []


def test_insert_overwrite_keeps_settings(db, name):
    ds = db.create_dataset(name, data=frame(50), metric="cosine", text_columns=["tag"])
    assert ds.insert(frame(50)) == 50 and ds.count() == 100  # append: ids are not keys
    assert ds.insert(frame(20), mode="overwrite") == 20
    assert ds.count() == 20
    stats = ds.stats()
    assert stats["index"]["metric"] == "cosine" and stats["text_index"]["columns"] == ["tag"]
    with pytest.raises(ab.InvalidArgument, match="not created with unique ids"):
        ds.insert(frame(1), mode="upsert")
    with pytest.raises(ab.InvalidArgument, match="mode must be 'append', 'upsert'"):
        ds.insert(frame(1), mode="merge")


def test_insert_upsert_replaces_rows_by_id(db, name):
    ds = db.create_dataset(name, dim=DIM, unique_id=True, schema={"tag": pa.string(),
                                                                  "price": pa.float64()})
    assert ds.insert(frame(50)) == 50
    newer = frame(30, start=40, seed=9)
    assert ds.insert(newer, mode="upsert") == 30
    assert ds.count() == 70
    got = ds.get([45, 69, 10])
    assert ids(got) == [45, 69, 10]
    assert got.column("price").to_pylist()[:2] == newer["price"].tolist()[5:30:24]
    # A repeated id within one insert keeps its last row; overwrite keeps the option.
    twice = frame(2, start=3, seed=5)
    twice["id"] = [3, 3]
    ds.insert(twice, mode="upsert")
    assert ds.get([3]).column("price").to_pylist() == twice["price"].tolist()[1:]
    assert ds.count() == 70
    ds.insert(frame(5), mode="overwrite")
    ds.insert(frame(5), mode="upsert")
    assert ds.count() == 5
    # A missing dataset is created with unique ids.
    other = db.dataset(name + "_new")
    other.insert(frame(10), mode="upsert")
    other.insert(frame(10), mode="upsert")
    assert other.count() == 10


# -- reading ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shop(db):
    name = "shop"
    df = frame(500, seed=11)
    ds = db.create_dataset(name, data=df, metric="euclidean", text_columns=["tag"])
    ds.wait_ready()
    return ds, df


def test_scan_filter_columns_limit(shop):
    ds, df = shop
    got = ds.scan(where="price < 10 and tag in ('a', 'b')", columns=["id", "price"])
    want = df[(df.price < 10) & df.tag.isin(["a", "b"])]
    assert sorted(ids(got)) == want["id"].tolist()
    assert got.column_names == ["id", "price"]
    assert ds.scan(col("price") < 10, limit=7).num_rows == 7
    assert ds.scan(col("price") < 10, where="tag = 'c'").num_rows == \
        len(df[(df.price < 10) & (df.tag == "c")])
    assert ds.to_pandas(limit=3).shape[0] == 3


def test_get_in_the_order_asked(shop):
    ds, _ = shop
    assert ids(ds.get([7, 3, 12345, 499])) == [7, 3, 499]
    assert ds.get(np.array([5]), columns=["tag"]).column_names == ["id", "tag"]


def brute_force(df, q, k, mask=None):
    vectors = np.stack(df["vector"])
    d = ((vectors - q) ** 2).sum(1)
    if mask is not None:
        d = np.where(mask, d, np.inf)
    order = np.argsort(d)[:k]
    return df["id"].to_numpy()[order].tolist()


def test_search_single_numpy_vector_and_recall(shop):
    ds, df = shop
    rng = np.random.default_rng(2)
    hits = total = 0
    for q in rng.standard_normal((20, DIM)).astype(np.float32):
        got = ds.search(q, k=10, ef=64)
        assert got.column_names[:3] == ["id", "score", "distance"]
        hits += len(set(ids(got)) & set(brute_force(df, q, 10)))
        total += 10
    assert hits / total >= 0.95
    # numpy scalars in a list, float16 and int vectors all serialize
    q = [np.float32(x) for x in df["vector"][0]]
    assert ids(ds.search(q, k=1)) == [0]
    assert ds.search(np.asarray(df["vector"][0], np.float16), k=1).num_rows == 1
    assert ds.search(np.ones(DIM, np.int64), k=np.int64(3)).num_rows == 3


def test_search_filtered_against_brute_force(shop):
    ds, df = shop
    q = np.random.default_rng(4).standard_normal(DIM).astype(np.float32)
    mask = ((df.price < 10) & df.tag.isin(["a", "b"])).to_numpy()
    want = brute_force(df, q, 5, mask)
    for kwargs in ({"where": "price < 10 and tag in ('a', 'b')"},
                   {"filter": col("price") < 10 & col("tag").isin(["a", "b"])}):
        got = ds.search(q, k=5, columns=["tag", "price"], **kwargs)
        assert ids(got) == want
        assert got.column_names == ["id", "score", "distance", "tag", "price"]


def test_search_many_queries_in_one_call(shop):
    ds, df = shop
    queries = np.random.default_rng(6).standard_normal((12, DIM))
    got = ds.search(queries, k=4, where="tag != 'c'", columns=["tag"])
    assert got.column_names == ["query", "id", "score", "distance", "tag"]
    assert got.column("query").to_pylist() == [i for i in range(12) for _ in range(4)]
    mask = (df.tag != "c").to_numpy()
    for i, q in enumerate(queries):
        rows = got.filter(pa.compute.equal(got.column("query"), i))
        single = ds.search(q, k=4, where="tag != 'c'")
        assert ids(rows) == ids(single)
        assert len(set(ids(rows)) & set(brute_force(df, q, 4, mask))) >= 3


def test_hybrid_and_text_only_search(shop):
    ds, df = shop
    q = df["vector"][1]
    hybrid = ds.search(q, k=5, text="a", alpha=0.5)
    assert hybrid.num_rows == 5
    text_only = ds.search(None, k=5, text="b", alpha=0)
    assert set(text_only.column("tag").to_pylist()) == {"b"}
    many = ds.search(np.stack(df["vector"][:3]), k=3, text="a", alpha=0.5)
    assert many.column("query").to_pylist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_search_by_id(shop):
    ds, df = shop
    got = ds.search_by_id(3, k=5)
    assert 3 not in ids(got) and got.num_rows == 5
    assert ids(got) == [i for i in brute_force(df, df["vector"][3], 6) if i != 3][:5]


# -- deleting, readiness, snapshots, drop -----------------------------------------------------

def test_delete_by_ids_and_by_filter(db, name):
    df = frame(200)
    ds = db.create_dataset(name, data=df)
    assert ds.delete([1, 2, 3]) == 3
    assert ds.delete(np.int64(4)) == 1
    kept = ~df.id.isin([1, 2, 3, 4])
    assert ds.delete(where="tag = 'a'") == int((df.tag[kept] == "a").sum())
    assert ds.delete(filter=col("price") > 100) == 0
    left = df[kept & (df.tag != "a")]
    assert sorted(ids(ds.scan(columns=["id"]))) == left["id"].tolist()
    assert ds.stats()["deleted_rows"] == 200 - len(left)
    with pytest.raises(ab.InvalidArgument, match="needs ids"):
        ds.delete()


def test_wait_ready_snapshot_and_drop(db, name):
    ds = db.create_dataset(name, data=frame(300))
    reply = ds.wait_ready(timeout=60)
    assert reply["status"] == "READY" and ds.stats()["indexed_rows"] == 300
    entry = ds.snapshot()
    assert entry["dataset"] == name and entry["rows"] == 300
    assert ds.stats()["snapshot_lsn"] == entry["lsn"]
    ds.drop()
    assert name not in db.datasets() and not ds.exists()
    ds.drop(missing_ok=True)
    with pytest.raises(ab.DatasetNotFound):
        ds.drop()


# -- errors -----------------------------------------------------------------------------------

def test_unknown_dataset_is_dataset_not_found_with_the_servers_message(db):
    ds = db.dataset("no_such_dataset")
    for call in (ds.stats, ds.scan, lambda: ds.search(np.ones(DIM)), ds.wait_ready,
                 ds.snapshot, lambda: ds.delete([1]), ds.drop, ds.schema):
        with pytest.raises(ab.DatasetNotFound) as info:
            call()
        message = str(info.value)
        assert "no_such_dataset" in message and "not found" in message
        assert "gRPC" not in message and "Detail" not in message and "context" not in message


def test_bad_input_is_invalid_argument(db, shop, name):
    ds, _ = shop
    with pytest.raises(ab.InvalidArgument, match="query vector has width 3, dataset 'shop' has "
                       "width 8$"):
        ds.search(np.ones(3))
    with pytest.raises(ab.InvalidArgument, match="has width 5, the dataset has width 8"):
        ds.insert({"id": [1], "vector": np.ones((1, 5))})
    with pytest.raises(ab.WhereSyntaxError, match="position 8"):
        ds.scan(where="price < and")
    with pytest.raises(ab.InvalidArgument, match="filter field 'nope' does not exist"):
        ds.scan(where="nope = 1")
    with pytest.raises(ab.InvalidArgument, match="does not convert"):
        ds.scan(where="price = 'abc'")
    with pytest.raises(ab.InvalidArgument, match="NaN or infinite"):
        ds.search([float("nan")] * DIM)
    with pytest.raises(ab.InvalidArgument, match="cannot insert a set"):
        ds.insert({1, 2})
    with pytest.raises(ab.InvalidArgument, match="no vector column"):
        db.dataset(name).insert({"id": [1]})
    with pytest.raises(ab.InvalidArgument, match="different lengths"):
        db.dataset(name).insert({"id": [1], "vector": [[1.0] * DIM, [2.0] * DIM]})
    with pytest.raises(ab.InvalidArgument, match="metric"):
        db.create_dataset(name, dim=4, metric="hamming")
    with pytest.raises(ab.InvalidArgument, match="k"):
        ds.search(np.ones(DIM), k=0)


def test_error_mapping_from_pyarrow_statuses():
    import pyarrow.flight as flight
    from arbalest_client.errors import convert
    wrapped = pa.ArrowInvalid("bad thing. gRPC client debug context: INVALID_ARGUMENT:bad "
                              "thing. Client context: IOError: Server never sent a data message."
                              " Detail: Internal")
    assert type(convert(wrapped)) is ab.InvalidArgument and str(convert(wrapped)) == "bad thing"
    cases = [
        (flight.FlightUnavailableError("resource exhausted: --max-memory is full"),
         ab.ResourceExhausted),
        (flight.FlightUnavailableError("unavailable: the write-ahead log failed"),
         ab.Unavailable),
        (flight.FlightUnauthenticatedError("no token"), ab.Unauthenticated),
        (flight.FlightUnauthorizedError("no"), ab.PermissionDenied),
        (flight.FlightTimedOutError("late"), ab.Timeout),
        (flight.FlightCancelledError("stop"), ab.Cancelled),
        (pa.ArrowNotImplementedError("unknown action 'x'"), ab.Unimplemented),
        (flight.FlightInternalError("internal error in DoGet: x"), ab.InternalError),
        (pa.ArrowKeyError("dataset 'x' not found"), ab.DatasetNotFound),
        (pa.ArrowKeyError("id 7 not found"), ab.NotFound),
        (pa.ArrowInvalid("Received message larger than max (300 vs. 200)"),
         ab.ResourceExhausted),
    ]
    for error, kind in cases:
        assert type(convert(error)) is kind, (error, convert(error))
    assert issubclass(ab.ResourceExhausted, ab.Unavailable)


def test_resource_exhausted_from_a_full_server(start_server_small):
    db = ab.Client(f"grpc://127.0.0.1:{start_server_small.port}")
    with pytest.raises(ab.ResourceExhausted, match="^resource exhausted"):
        db.create_dataset("big", data=frame(20000, dim=64))


@pytest.fixture
def start_server_small(tmp_path):
    import signal
    from arbalest_util import ServerProcess
    srv = ServerProcess(tmp_path / "small", extra_args=["--max-memory", "2MiB"]).start()
    yield srv
    assert srv.stop(signal.SIGTERM) == 0


def test_token_is_sent_and_connect_accepts_host_port(server):
    db = ab.connect(f"127.0.0.1:{server.port}", token="secret", timeout=10)
    assert isinstance(db.datasets(), list)
    with ab.Client(f"grpc://127.0.0.1:{server.port}") as other:
        assert repr(other).startswith("Client(")
