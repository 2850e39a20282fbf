"""The client: :class:`Client` (a server) and :class:`Dataset` (one named dataset)."""

from __future__ import annotations

import json
import math
import sys
import time
from typing import Any, Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as flight

from . import convert
from .errors import (AlreadyExists, DatasetNotFound, InvalidArgument, NotFound, Timeout,
                     translate)
from .filters import to_filter_json

__all__ = ["Client", "Dataset", "missing_nodes"]

# Where a cluster node names the members missing from a search result (docs/cluster.md).
MISSING_NODES_KEY = b"arbalest.missing_nodes"


def missing_nodes(result: pa.Table) -> list[dict]:
    """The cluster members whose rows are not in a search result, as
    ``[{"node": id, "reason": text}]``; empty when every member answered (and on a single
    server)."""
    return json.loads((result.schema.metadata or {}).get(MISSING_NODES_KEY, b"[]"))

METRICS = {"euclidean": "euclidean", "l2": "euclidean", "cosine": "cosine",
           "dot_product": "dot_product", "dot": "dot_product", "ip": "dot_product",
           "inner_product": "dot_product"}
INDEX_KEYS = ("m", "ef_construction", "quantization", "training_rows", "pq_m",
              "build_precision")
ID_TYPES = {"int64": pa.int64(), "uint64": pa.uint64(), "string": pa.string(),
            "utf8": pa.string()}
PROGRESS_MIN_ROWS = 50_000  # inputs at least this long get a progress bar (when tqdm is there)
EXCHANGE_BYTES = 8 << 20  # query vectors per DoExchange call


def _json_number_list(vector, what: str = "query vector") -> list[float]:
    array = np.asarray(vector)
    if array.ndim != 1:
        raise InvalidArgument(f"{what} must be 1-d, got shape {array.shape}")
    if array.dtype.kind not in "fiub":
        raise InvalidArgument(f"{what} must hold numbers, got dtype {array.dtype}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise InvalidArgument(f"{what} holds NaN or infinite values")
    return array.tolist()


def _plain_ids(ids) -> list:
    if isinstance(ids, (str, bytes, int, np.integer)):
        ids = [ids]
    if isinstance(ids, (pa.Array, pa.ChunkedArray)):
        ids = ids.to_pylist()
    out = []
    for i in (ids.tolist() if hasattr(ids, "tolist") else ids):
        if hasattr(i, "item"):
            i = i.item()
        if isinstance(i, bytes):
            i = i.decode()
        if not isinstance(i, (int, str)) or isinstance(i, bool):
            raise InvalidArgument(f"id {i!r} is not an integer or a string")
        out.append(i)
    return out


def _progress(total: int | None, progress, desc: str):
    """A tqdm bar when asked (True) or when the input is big (None), if tqdm is installed."""
    if progress is False or (progress is None and (total or 0) < PROGRESS_MIN_ROWS):
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit="rows", unit_scale=True, file=sys.stderr)


class Client:
    """A connection to an Arbalest server.

    ``url``: ``grpc://host:port`` (or ``host:port``), ``grpc+tls://`` for TLS. ``token`` is
    sent as ``authorization: Bearer <token>`` on every call (for a proxy in front of the
    server; the server itself has no authentication yet). ``timeout``: seconds per call.
    """

    def __init__(self, url: str = "grpc://127.0.0.1:3000", token: str | None = None,
                 timeout: float | None = None):
        if "://" not in url:
            url = "grpc://" + url
        self.url = url
        headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
        self._options = flight.FlightCallOptions(timeout=timeout, headers=headers)
        self._headers, self._timeout = headers, timeout
        with translate():
            self._flight = flight.connect(url)

    # -- plumbing --------------------------------------------------------------------------
    def _call_options(self, timeout: float | None = None) -> flight.FlightCallOptions:
        if timeout is None:
            return self._options
        return flight.FlightCallOptions(timeout=timeout, headers=self._headers)

    def _action(self, kind: str, body: dict | None = None, timeout: float | None = None,
                dataset: str | None = None) -> list:
        raw = json.dumps(body).encode() if body is not None else b""
        with translate(dataset):
            results = self._flight.do_action(flight.Action(kind, raw),
                                             options=self._call_options(timeout))
            return [json.loads(r.body.to_pybytes()) for r in results]

    def _get(self, ticket: dict, dataset: str | None = None) -> pa.Table:
        with translate(dataset):
            reader = self._flight.do_get(flight.Ticket(json.dumps(ticket).encode()),
                                         options=self._options)
            return reader.read_all()

    def close(self) -> None:
        self._flight.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    # -- datasets --------------------------------------------------------------------------
    def datasets(self) -> list[str]:
        """The names of the datasets, sorted."""
        with translate():
            flights = list(self._flight.list_flights(options=self._options))
        return sorted(f.descriptor.path[0].decode() for f in flights)

    def dataset(self, name: str) -> "Dataset":
        """The dataset `name` (not checked: a call on a missing one raises DatasetNotFound,
        and ``insert`` creates it)."""
        return Dataset(self, name)

    def __getitem__(self, name: str) -> "Dataset":
        return self.dataset(name)

    def __contains__(self, name: str) -> bool:
        return self.dataset(name).exists()

    def stats(self) -> dict:
        """Server-wide stats: datasets, total rows and bytes, memory used and its limit."""
        return self._action("stats", {})[0]

    def cluster_status(self) -> dict:
        """The cluster this server belongs to: ``mode`` ("cluster" or "single"), ``members``,
        ``degraded``, ... (docs/cluster.md)."""
        return self._action("cluster-status")[0]

    def snapshot(self, timeout: float | None = None) -> list[dict]:
        """Snapshots every changed dataset; returns one entry per dataset."""
        body = {} if timeout is None else {"timeout": timeout}
        return self._action("snapshot", body)[0]["snapshot"]

    def create_dataset(self, name: str, dim: int | None = None, *, data: Any = None,
                       metric: str = "euclidean", element: str = "float32",
                       index: dict | str | None = None,
                       text_columns: Sequence[str] | None = None,
                       schema: pa.Schema | dict | None = None, id_type: str | None = "int64",
                       vector_column: str = "vector", unique_id: bool = False,
                       mode: str = "create",
                       batch_size: int = 10_000, progress: bool | None = None,
                       format: str | None = None) -> "Dataset":
        """Creates a dataset and returns it.

        Either from ``data`` (anything :meth:`Dataset.insert` takes; its first batch creates
        the dataset with its columns) or empty, from ``dim`` (plus ``schema``: more columns,
        a pyarrow Schema or ``{name: type}``; ``id_type`` ``"int64"``, ``"uint64"``,
        ``"string"`` or None for ids the server assigns 0, 1, 2, ...).

        ``metric``: ``"euclidean"`` (l2), ``"cosine"`` or ``"dot_product"`` (ip).
        ``element``: the stored vector type: float32, float16, int8, uint8 (an empty dataset;
        with ``data`` the data's type is kept, float64 becoming float32).
        ``index``: HNSW settings ``{"m", "ef_construction", "quantization", "training_rows",
        "pq_m", "build_precision"}``, or ``"sq8"`` / ``"pq"`` for quantized traversal.
        ``text_columns``: string columns for full-text (hybrid) search; default: every string
        column; ``[]`` for none. Missing ones are added as nullable strings on an empty
        dataset. ``unique_id``: ids are unique keys: a put replaces the rows whose ids it
        carries (an upsert; ids repeated within one batch keep their last row); needs an
        ``id`` column (``id_type`` not None). ``mode``: ``"create"`` (AlreadyExists if the
        name is taken),
        ``"exist_ok"`` (return the existing one) or ``"overwrite"`` (drop it first).
        """
        if mode not in ("create", "exist_ok", "overwrite"):
            raise InvalidArgument(f"mode must be 'create', 'exist_ok' or 'overwrite', got "
                                  f"{mode!r}")
        ds = Dataset(self, name)
        if ds.exists():
            if mode == "exist_ok":
                return ds
            if mode == "create":
                raise AlreadyExists(f"dataset {name!r} already exists (pass "
                                    "mode='overwrite' to replace it or 'exist_ok' to open it)")
            ds.drop(missing_ok=True)
        metadata = _dataset_metadata(metric, index, text_columns, unique_id)
        if data is not None:
            ds._put(data, creating=metadata, element=element if element != "float32" else None,
                    dim=dim, vector_column=vector_column, batch_size=batch_size,
                    progress=progress, file_format=format)
            return ds
        if dim is None or int(dim) <= 0:
            raise InvalidArgument("create_dataset needs dim (the vector width) or data")
        fields = []
        if id_type is not None:
            if id_type not in ID_TYPES:
                raise InvalidArgument(f"id_type must be one of {', '.join(ID_TYPES)} or None")
            fields.append(pa.field("id", ID_TYPES[id_type], nullable=False))
        fields.append(pa.field(vector_column,
                               pa.list_(convert.element_type(element), int(dim)),
                               nullable=False))
        if schema is not None:
            extra = schema if isinstance(schema, pa.Schema) else pa.schema(
                [pa.field(k, v) for k, v in schema.items()])
            fields += [f for f in extra if f.name not in ("id", vector_column)]
        for column in text_columns or ():
            if column not in [f.name for f in fields]:
                fields.append(pa.field(column, pa.string()))
        empty = pa.schema(fields, metadata=metadata)
        with translate(name):
            writer, reader = self._flight.do_put(flight.FlightDescriptor.for_path(name), empty,
                                                 options=self._options)
            writer.done_writing()
            writer.close()
        return ds


UNIQUE_ID_KEY = "longbow.unique_id"


def _dataset_metadata(metric, index, text_columns, unique_id=False) -> dict:
    key = str(metric).lower()
    if key not in METRICS:
        raise InvalidArgument(f"metric {metric!r} is not one of euclidean, cosine, dot_product")
    metadata = {"longbow.metric": METRICS[key]}
    if isinstance(index, str):
        index = {"quantization": index}
    for k, v in (index or {}).items():
        if k not in INDEX_KEYS:
            raise InvalidArgument(f"index setting {k!r} is not one of {', '.join(INDEX_KEYS)}")
        metadata[f"longbow.index.{k}"] = str(v)
    if text_columns is not None:
        if isinstance(text_columns, str):
            text_columns = [text_columns]
        metadata["longbow.text.columns"] = ",".join(text_columns)
    if unique_id:
        metadata[UNIQUE_ID_KEY] = "true"
    return metadata


class Dataset:
    """One dataset of a server. Cheap to make; nothing is checked until a call."""

    def __init__(self, client: Client, name: str):
        self.client, self.name = client, name
        self._schema: pa.Schema | None = None

    def __repr__(self) -> str:
        return f"Dataset({self.name!r})"

    # -- reading the catalog ---------------------------------------------------------------
    def exists(self) -> bool:
        try:
            self.schema(refresh=True)
            return True
        except NotFound:
            return False

    def schema(self, refresh: bool = False) -> pa.Schema:
        """The stored schema (with the dataset's settings in its metadata)."""
        if self._schema is None or refresh:
            with translate(self.name):
                try:
                    result = self.client._flight.get_schema(
                        flight.FlightDescriptor.for_path(self.name), options=self.client._options)
                except pa.ArrowKeyError as e:
                    raise DatasetNotFound(f"dataset {self.name!r} not found") from None
                self._schema = result.schema
        return self._schema

    def stats(self) -> dict:
        """The server's stats of this dataset: rows (live), deleted_rows, dim, bytes,
        indexed_rows, index settings, text index, ..."""
        return self.client._action("stats", {"dataset": self.name}, dataset=self.name)[0]

    def count(self) -> int:
        """Live rows."""
        return int(self.stats()["rows"])

    def __len__(self) -> int:
        return self.count()

    # -- writing ---------------------------------------------------------------------------
    def insert(self, data: Any, *, mode: str = "append", batch_size: int = 10_000,
               progress: bool | None = None, format: str | None = None) -> int:
        """Stores rows; returns how many were acked.

        ``data``: a pyarrow Table, RecordBatch or RecordBatchReader; a pandas or polars
        DataFrame; a dict of columns (numpy arrays, lists; a 2-d array is a vector column);
        a 2-d numpy array (the ``vector`` column alone, for datasets with server-assigned
        ids); a list of dicts; or the path of a Parquet file or directory, CSV, JSON lines
        (``.jsonl``, ``.jsonl.gz``), ``.npy`` or Arrow IPC file (``format=`` overrides the
        extension). Vector columns (``vector`` or ``embedding``) may be list, fixed-size list
        or numpy columns; they are converted to the dataset's type.

        Sent in batches of ``batch_size`` rows (fewer for wide rows) over one stream; a
        progress bar (tqdm, when installed) shows on inputs of 50,000 rows or more, or when
        ``progress=True``.

        ``mode``: ``"append"`` (creates the dataset if missing), ``"upsert"`` (rows replace
        those with the same id: the dataset must have been created with ``unique_id=True``;
        a missing one is created so), or ``"overwrite"`` (drops it and creates it again with
        the same settings: metric, index, text columns, unique ids). In a dataset created
        without ``unique_id`` ids are not keys: appending a row whose id exists stores a
        second row. In one created with it, every put replaces (append and upsert agree).
        """
        if mode not in ("append", "upsert", "overwrite"):
            raise InvalidArgument(f"mode must be 'append', 'upsert' or 'overwrite', got "
                                  f"{mode!r}")
        creating = None
        if mode == "upsert":
            try:
                metadata = self.schema(refresh=True).metadata or {}
            except NotFound:
                creating = {UNIQUE_ID_KEY: "true"}
            else:
                if metadata.get(UNIQUE_ID_KEY.encode(), b"").lower() != b"true":
                    raise InvalidArgument(
                        f"dataset {self.name!r} was not created with unique ids: upsert needs "
                        "a dataset created with create_dataset(..., unique_id=True)")
        if mode == "overwrite":
            try:
                creating = dict((k.decode(), v.decode()) for k, v in
                                (self.schema(refresh=True).metadata or {}).items())
            except NotFound:
                creating = {}
            self.drop(missing_ok=True)
        return self._put(data, creating=creating, batch_size=batch_size, progress=progress,
                         file_format=format)

    add = insert

    def _put(self, data, *, creating: dict | None, element=None, dim=None,
             vector_column=None, batch_size=10_000, progress=None, file_format=None) -> int:
        if batch_size <= 0:
            raise InvalidArgument("batch_size must be positive")
        stored = None
        if creating is None:  # append: to the stored schema, or create with defaults
            try:
                stored = self.schema(refresh=True)
            except NotFound:
                creating = {}
            else:
                vector_column = vector_column or convert.find_vector_column(stored)
        src = convert.source(data, file_format=file_format, vector_column=vector_column,
                             batch_rows=batch_size)
        bar = _progress(src.total_rows, progress, f"insert {self.name}")
        sent = acked = 0
        writer = reader = None
        schema = None

        def finish():
            nonlocal acked, writer
            if writer is None:
                return
            writer.done_writing()
            while True:
                buf = reader.read()
                if buf is None:
                    break
                acked += int(json.loads(buf.to_pybytes()).get("rows", 0))
            writer.close()
            writer = None

        try:
            with translate(self.name):
                for batch in src:
                    if batch.num_rows == 0:
                        continue
                    batch = convert.normalize(batch, stored=stored, element=element, dim=dim,
                                              vector_column=vector_column)
                    step = convert.rows_per_batch(batch, batch_size)
                    for start in range(0, batch.num_rows, step):
                        part = batch.slice(start, step)
                        if schema is not None and not part.schema.equals(schema):
                            try:
                                part = part.cast(schema)
                            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
                                finish()  # another shape: a new stream
                        if writer is None:
                            schema = part.schema
                            if stored is None and creating is not None:
                                schema = schema.with_metadata(creating)
                                part = part.replace_schema_metadata(creating)
                            writer, reader = self.client._flight.do_put(
                                flight.FlightDescriptor.for_path(self.name), schema,
                                options=self.client._options)
                        writer.write_batch(part)
                        sent += part.num_rows
                        if bar is not None:
                            bar.update(part.num_rows)
                    if stored is None:  # the first batch created the dataset
                        stored = schema.remove_metadata()
                finish()
        finally:
            if writer is not None:
                try:
                    writer.close()
                except Exception:
                    pass
            if bar is not None:
                bar.close()
            self._schema = None
        if sent == 0:
            raise InvalidArgument("no rows to insert")
        return acked

    def delete(self, ids=None, *, filter=None, where: str | None = None) -> int:
        """Deletes the rows carrying ``ids`` (one id or a list), or the rows matching
        ``filter`` / ``where``; returns how many rows were deleted. A filtered delete scans
        the matching ids and deletes them: rows inserted meanwhile are not deleted."""
        if ids is None:
            filters = to_filter_json(filter, where)
            if filters is None:
                raise InvalidArgument("delete needs ids, filter= or where= (to delete every "
                                      "row, drop the dataset)")
            ids = self.scan(filter=filters, columns=["id"]).column("id").to_pylist()
        elif filter is not None or where is not None:
            raise InvalidArgument("delete takes ids or a filter, not both")
        ids = _plain_ids(ids)
        deleted = 0
        for start in range(0, len(ids), 100_000):
            result = self.client._action(
                "delete", {"dataset": self.name, "ids": ids[start:start + 100_000]},
                dataset=self.name)
            deleted += int(result[0]["deleted"])
        return deleted

    def drop(self, missing_ok: bool = False) -> None:
        """Deletes the dataset with its rows and index."""
        try:
            self.client._action("delete-dataset", {"dataset": self.name}, dataset=self.name)
        except NotFound:
            if not missing_ok:
                raise
        self._schema = None

    def compact(self) -> dict:
        """Drops deleted rows now (it also happens in the background)."""
        return self.client._action("compact", {"dataset": self.name}, dataset=self.name)[0]

    def snapshot(self, timeout: float | None = None) -> dict:
        """Writes a snapshot of the dataset (rows and graph) and returns its entry: lsn, rows,
        bytes, seconds."""
        body = {"dataset": self.name}
        if timeout is not None:
            body["timeout"] = timeout
        return self.client._action("snapshot", body, dataset=self.name)[0]["snapshot"][0]

    def wait_ready(self, timeout: float = 300.0) -> dict:
        """Waits until every row is in the vector index; returns the readiness reply.
        Raises Timeout after ``timeout`` seconds, DatasetNotFound for a missing dataset."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            wait = max(0.0, min(left, 30.0))
            reply = self.client._action(
                "check_readiness", {"dataset": self.name, "wait": wait},
                timeout=wait + 30.0, dataset=self.name)[0]
            status = reply.get("status")
            if status == "READY":
                return reply
            if status == "NOT_FOUND":
                raise DatasetNotFound(f"dataset {self.name!r} not found")
            if time.monotonic() >= deadline:
                raise Timeout(f"dataset {self.name!r} not ready after {timeout} s: {reply}")

    # -- reading ---------------------------------------------------------------------------
    def scan(self, filter=None, columns: Sequence[str] | None = None,
             limit: int | None = None, *, where: str | None = None) -> pa.Table:
        """Rows matching ``filter`` (a ``col(...)`` expression or a where string) and
        ``where``, in stored order; ``columns`` to return (default all); at most ``limit``."""
        ticket: dict = {"dataset": self.name}
        filters = to_filter_json(filter, where)
        if filters is not None:
            ticket["filters"] = filters
        if columns is not None:
            ticket["columns"] = list(columns)
        if limit is not None:
            ticket["limit"] = int(limit)
        return self.client._get(ticket, self.name)

    def to_pandas(self, **kwargs):
        return self.scan(**kwargs).to_pandas()

    def get(self, ids, columns: Sequence[str] | None = None) -> pa.Table:
        """The rows carrying ``ids``, in the order of ``ids`` (missing ids left out)."""
        ids = _plain_ids(ids)
        if not ids:
            raise InvalidArgument("get needs at least one id")
        if columns is not None and "id" not in columns:
            columns = ["id", *columns]
        table = self.scan(filter={"field": "id", "op": "in", "value": ids}, columns=columns)
        if table.num_rows <= 1:
            return table
        wanted = pa.array(ids, type=table.schema.field("id").type)
        position = pc.index_in(table.column("id"), value_set=wanted)
        return table.take(pc.sort_indices(position))

    def search(self, vector=None, k: int = 10, *, filter=None, where: str | None = None,
               text: str | None = None, alpha: float | None = None, ef: int | None = None,
               columns: Sequence[str] | None = None, include_vectors: bool = False,
               local_only: bool = False, require_all: bool = False,
               timeout_ms: int | None = None) -> pa.Table:
        """The ``k`` nearest rows to ``vector``, best first: ``id``, ``score`` (higher is
        better), ``distance``, then the stored columns (or ``columns``).

        ``vector``: a list, a numpy vector (any numeric dtype), or a 2-d array of query
        vectors: then all are searched in one DoExchange call and the result has a leading
        ``query`` column (0-based row of the matrix). ``filter`` / ``where``: see
        :func:`arbalest_client.col` and :func:`arbalest_client.parse_where`. ``text``: a
        hybrid search fusing BM25 over the text columns (``alpha``: 1 dense only, 0 text only
        (``vector`` may be None), default 0.5; below 0: chosen from the query's length).
        ``ef``: HNSW candidate list size (recall vs speed). On a cluster node: ``local_only``
        searches that node's rows alone, ``require_all`` raises Unavailable instead of answering
        without a member, ``timeout_ms`` bounds the wait for the members; the members missing
        from the result: :func:`missing_nodes`.
        """
        if vector is None and text is None:
            raise InvalidArgument("search needs a vector, or text= (with alpha=0 for "
                                  "text-only search)")
        k = int(k)
        keys: dict = {"dataset": self.name, "k": k}
        filters = to_filter_json(filter, where)
        if filters is not None:
            keys["filters"] = filters
        if ef is not None:
            keys["ef"] = int(ef)
        if text is not None:
            keys["text_query"] = str(text)
        if alpha is not None:
            keys["alpha"] = float(alpha)
        for key, value in (("local_only", local_only), ("require_all", require_all)):
            if value:
                keys[key] = True
        if timeout_ms is not None:
            keys["timeout_ms"] = int(timeout_ms)
        matrix = None if vector is None else np.asarray(vector)
        if matrix is not None and matrix.ndim == 2:
            if include_vectors:
                raise InvalidArgument("include_vectors works with one query vector at a time")
            return self._search_many(matrix, keys, columns)
        if matrix is not None:
            keys["vector"] = _json_number_list(matrix)
        if columns is not None:
            keys["columns"] = [c for c in columns if c != "id"]
        if include_vectors:
            keys["include_vectors"] = True
        return self.client._get({"search": keys}, self.name)

    def _search_many(self, matrix: np.ndarray, keys: dict, columns) -> pa.Table:
        if matrix.dtype.kind not in "fiu":
            raise InvalidArgument(f"query vectors must be numeric, got dtype {matrix.dtype}")
        if matrix.shape[0] == 0:
            raise InvalidArgument("no query vectors")
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        if not np.isfinite(matrix).all():
            raise InvalidArgument("query vectors hold NaN or infinite values")
        n, dim = matrix.shape
        per_call = max(1, EXCHANGE_BYTES // max(1, dim * 4))
        tables = []
        missing: list[dict] = []  # members missing from any query's answer
        for start in range(0, n, per_call):
            part = matrix[start:start + per_call]
            m = part.shape[0]
            cols = {"dataset": pa.array([self.name] * m, pa.string()),
                    "query_vector": pa.FixedSizeListArray.from_arrays(
                        pa.array(part.reshape(-1)), dim),
                    "k": pa.array([keys["k"]] * m, pa.int32())}
            if "ef" in keys:
                cols["ef"] = pa.array([keys["ef"]] * m, pa.int32())
            if "text_query" in keys:
                cols["text_query"] = pa.array([keys["text_query"]] * m, pa.string())
            if "alpha" in keys:
                cols["alpha"] = pa.array([keys["alpha"]] * m, pa.float64())
            if "filters" in keys:
                cols["filters"] = pa.array([json.dumps(keys["filters"])] * m, pa.string())
            for key in ("local_only", "require_all"):
                if key in keys:
                    cols[key] = pa.array([True] * m, pa.bool_())
            if "timeout_ms" in keys:
                cols["timeout_ms"] = pa.array([keys["timeout_ms"]] * m, pa.int64())
            batch = pa.record_batch(cols)
            with translate(self.name):
                writer, reader = self.client._flight.do_exchange(
                    flight.FlightDescriptor.for_command(b"VectorSearch"),
                    options=self.client._options)
                with writer:
                    writer.begin(batch.schema)
                    writer.write_batch(batch)
                    writer.done_writing()
                    while True:
                        try:
                            chunk = reader.read_chunk()
                        except StopIteration:
                            break
                        meta = json.loads(chunk.app_metadata.to_pybytes())
                        for node in meta.get("missing_nodes", []):
                            if node not in missing:
                                missing.append(node)
                        result = pa.Table.from_batches([chunk.data])
                        query = pa.array(np.full(result.num_rows, start + int(meta["query"]),
                                                 np.int32))
                        tables.append(result.add_column(0, "query", query))
        table = pa.concat_tables(tables, promote_options="permissive")
        if columns is not None:
            keep = ["query", "id", "score", "distance"] + [c for c in columns
                                                           if c not in ("id", "score",
                                                                        "distance")]
            missing = [c for c in keep if c not in table.column_names]
            if missing and table.num_rows:
                raise InvalidArgument(f"unknown columns {missing} (dataset columns: "
                                      f"{', '.join(self.schema().names)})")
            table = table.select([c for c in keep if c in table.column_names])
        if missing:
            table = table.replace_schema_metadata({MISSING_NODES_KEY: json.dumps(missing)})
        return table

    def search_by_id(self, id, k: int = 10, *, ef: int | None = None, filter=None,
                     where: str | None = None) -> pa.Table:
        """The k nearest rows to the row carrying ``id`` (itself left out): id, score."""
        body = {"dataset": self.name, "id": _plain_ids([id])[0], "k": int(k)}
        if ef is not None:
            body["ef"] = int(ef)
        filters = to_filter_json(filter, where)
        if filters is not None:
            body["filters"] = filters
        reply = self.client._action("VectorSearchByID", body, dataset=self.name)[0]
        return pa.table({"id": reply["ids"], "score": pa.array(reply["scores"], pa.float32())})
