"""Turning what users hold (pyarrow, pandas, polars, numpy, lists of dicts, files) into the
record batches the server stores: vectors as FixedSizeList<element, dim>, columns cast to the
stored types where that is safe, no pandas metadata."""

from __future__ import annotations

import gzip
import io
import json
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pyarrow as pa

from .errors import InvalidArgument

VECTOR_NAMES = ("vector", "embedding")
ELEMENTS = {
    "float32": pa.float32(), "float16": pa.float16(), "float64": pa.float64(),
    "int8": pa.int8(), "uint8": pa.uint8(),
}
FILE_FORMATS = ("parquet", "csv", "jsonl", "npy", "arrow")


class Source:
    """An iterator of tables or batches with the total row count when known."""

    def __init__(self, chunks: Iterable, total_rows: int | None):
        self.chunks = chunks
        self.total_rows = total_rows

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        for chunk in self.chunks:
            if isinstance(chunk, pa.Table):
                yield from chunk.to_batches()
            else:
                yield chunk


def element_type(name) -> pa.DataType:
    if isinstance(name, pa.DataType):
        return name
    key = str(np.dtype(name)) if not isinstance(name, str) else name.lower()
    if key not in ELEMENTS:
        raise InvalidArgument(f"element {name!r} is not one of {', '.join(ELEMENTS)}")
    return ELEMENTS[key]


def _vector_array(matrix: np.ndarray, what: str) -> pa.FixedSizeListArray:
    if matrix.ndim != 2:
        raise InvalidArgument(f"{what}: expected a 2-d array of vectors, got shape "
                              f"{matrix.shape}")
    if matrix.dtype.kind not in "fiu":
        raise InvalidArgument(f"{what}: vectors must be numeric, got dtype {matrix.dtype}")
    flat = pa.array(np.ascontiguousarray(matrix).reshape(-1))
    return pa.FixedSizeListArray.from_arrays(flat, matrix.shape[1])


def _column(name: str, values) -> pa.Array | pa.ChunkedArray:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values
    if hasattr(values, "to_arrow") and not isinstance(values, np.ndarray):  # polars Series
        return values.to_arrow()
    if hasattr(values, "to_numpy") and hasattr(values, "dtype") and \
            not isinstance(values, np.ndarray):  # pandas Series
        if values.dtype == object:
            values = list(values)
        else:
            return pa.Array.from_pandas(values)
    if isinstance(values, np.ndarray):
        if values.ndim == 2:
            return _vector_array(values, f"column {name!r}")
        if values.ndim != 1:
            raise InvalidArgument(f"column {name!r}: arrays must be 1-d (values) or 2-d "
                                  f"(vectors), got shape {values.shape}")
        if values.dtype != object:
            return pa.array(values)
        values = list(values)
    values = list(values)
    first = next((v for v in values if v is not None), None)
    if isinstance(first, (np.ndarray, list, tuple)) and name in VECTOR_NAMES:
        try:
            matrix = np.stack([np.asarray(v) for v in values])
        except ValueError as e:
            raise InvalidArgument(f"column {name!r}: vectors of different lengths ({e})") \
                from None
        return _vector_array(matrix, f"column {name!r}")
    try:
        return pa.array(values)
    except (pa.ArrowException, TypeError, ValueError) as e:
        raise InvalidArgument(f"column {name!r}: {e}") from None


def table_from_columns(columns: dict) -> pa.Table:
    arrays = {str(k): _column(str(k), v) for k, v in columns.items()}
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise InvalidArgument(f"columns have different lengths: {lengths}")
    return pa.table(arrays)


def _is_pandas(data) -> bool:
    return type(data).__module__.startswith("pandas") and hasattr(data, "columns")


def _is_polars(data) -> bool:
    return type(data).__module__.startswith("polars") and hasattr(data, "to_arrow")


def source(data: Any, *, file_format: str | None = None, vector_column: str | None = None,
           batch_rows: int = 10_000) -> Source:
    """A :class:`Source` for any supported input."""
    if isinstance(data, pa.Table):
        return Source([data], data.num_rows)
    if isinstance(data, pa.RecordBatch):
        return Source([data], data.num_rows)
    if isinstance(data, pa.RecordBatchReader):
        return Source(data, None)
    if isinstance(data, (str, os.PathLike)):
        return file_source(data, file_format=file_format, vector_column=vector_column,
                           batch_rows=batch_rows)
    if _is_pandas(data):
        if any(data[c].dtype == object for c in data.columns):
            return Source([table_from_columns({c: data[c] for c in data.columns})], len(data))
        return Source([pa.Table.from_pandas(data, preserve_index=False)], len(data))
    if _is_polars(data):
        table = data.to_arrow()
        return Source([table], table.num_rows)
    if isinstance(data, dict):
        table = table_from_columns(data)
        return Source([table], table.num_rows)
    if isinstance(data, np.ndarray):
        table = table_from_columns({vector_column or "vector": data})
        return Source([table], table.num_rows)
    if isinstance(data, (list, tuple)):
        if not data:
            raise InvalidArgument("no rows to insert")
        if all(isinstance(r, dict) for r in data):
            keys: dict = {}
            for row in data:
                for key in row:
                    keys.setdefault(key, None)
            table = table_from_columns({k: [r.get(k) for r in data] for k in keys})
            return Source([table], table.num_rows)
        if all(isinstance(b, (pa.RecordBatch, pa.Table)) for b in data):
            return Source(list(data), sum(b.num_rows for b in data))
    raise InvalidArgument(
        f"cannot insert a {type(data).__name__}: pass a pyarrow Table or RecordBatch, a pandas "
        "or polars DataFrame, a dict of columns (numpy arrays or lists), a 2-d numpy array of "
        "vectors, a list of dicts, or the path of a Parquet, CSV, JSON lines, .npy or Arrow "
        "file (or a directory of Parquet files)")


def detect_format(path: Path) -> str:
    if path.is_dir():
        return "parquet"
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    for ext, fmt in ((".parquet", "parquet"), (".pq", "parquet"), (".csv", "csv"),
                     (".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "jsonl"),
                     (".npy", "npy"), (".arrow", "arrow"), (".feather", "arrow"),
                     (".ipc", "arrow")):
        if name.endswith(ext):
            return fmt
    raise InvalidArgument(f"cannot tell the format of {path.name!r} from its name; pass "
                          f"format= one of {', '.join(FILE_FORMATS)}")


def file_source(path, *, file_format: str | None = None, vector_column: str | None = None,
                batch_rows: int = 10_000) -> Source:
    path = Path(path)
    if not path.exists():
        raise InvalidArgument(f"no such file or directory: {str(path)!r}")
    fmt = file_format or detect_format(path)
    if fmt == "parquet":
        import pyarrow.dataset as pads
        dataset = pads.dataset(str(path), format="parquet")
        return Source(dataset.to_batches(batch_size=batch_rows), dataset.count_rows())
    if fmt == "arrow":
        import pyarrow.feather as feather
        table = feather.read_table(str(path))
        return Source([table], table.num_rows)
    if fmt == "npy":
        matrix = np.load(str(path), mmap_mode="r")
        if matrix.ndim != 2:
            raise InvalidArgument(f"{path.name}: expected a 2-d array of vectors, got shape "
                                  f"{matrix.shape}")
        name = vector_column or "vector"

        def chunks():
            for start in range(0, matrix.shape[0], batch_rows):
                part = np.asarray(matrix[start:start + batch_rows])
                yield pa.record_batch({name: _vector_array(part, path.name)})
        return Source(chunks(), matrix.shape[0])
    if fmt == "csv":
        import pyarrow.csv as pacsv
        table = pacsv.read_csv(str(path))
        return Source([_parse_text_vectors(table, vector_column)], table.num_rows)
    if fmt == "jsonl":
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as f:
            rows = []
            for number, line in enumerate(f, 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as e:
                        raise InvalidArgument(f"{path.name} line {number}: {e}") from None
        return source(rows, vector_column=vector_column)
    raise InvalidArgument(f"unknown format {fmt!r}; use one of {', '.join(FILE_FORMATS)}")


def _parse_text_vectors(table: pa.Table, vector_column: str | None) -> pa.Table:
    """CSV cells hold vectors as text ("[0.1, 0.2]" or "0.1 0.2"): parse them."""
    names = [vector_column] if vector_column else list(VECTOR_NAMES)
    for name in names:
        if name in table.column_names and pa.types.is_string(table.schema.field(name).type):
            cells = table.column(name).to_pylist()
            try:
                matrix = np.stack([np.array(json.loads(c) if c.lstrip().startswith("[")
                                            else c.split(), dtype=np.float64) for c in cells])
            except (ValueError, AttributeError) as e:
                raise InvalidArgument(f"column {name!r}: cannot read vectors ({e})") from None
            index = table.column_names.index(name)
            table = table.set_column(index, name, _vector_array(matrix, f"column {name!r}"))
    return table


# -- normalizing batches to what the dataset stores -----------------------------------------

def find_vector_column(schema: pa.Schema, preferred: str | None = None) -> str | None:
    for name in ([preferred] if preferred else []) + list(VECTOR_NAMES):
        if name in schema.names:
            return name
    return None


def _to_fixed_vectors(array: pa.Array, name: str, element: pa.DataType | None,
                      dim: int | None) -> pa.FixedSizeListArray:
    kind = array.type
    if pa.types.is_fixed_size_list(kind):
        width = kind.list_size
        # flatten(), not .values: a slice of a batch (a misaligned chunk, a part of a big
        # batch) shares its parent's child array, which .values returns whole.
        values = array.flatten()
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
        if array.null_count:
            raise InvalidArgument(f"vector column {name!r} has {array.null_count} null rows")
        import pyarrow.compute as pc
        lengths = pc.list_value_length(array)
        low, high = pc.min_max(lengths).values() if len(array) else (None, None)
        low, high = (low.as_py(), high.as_py()) if len(array) else (0, 0)
        if low != high:
            raise InvalidArgument(f"vector column {name!r}: rows have {low} to {high} elements; "
                                  "every vector must have the same width")
        width = low if low is not None else (dim or 0)
        values = array.flatten()
    else:
        raise InvalidArgument(f"vector column {name!r} has type {kind}; expected lists of "
                              "numbers (a list column, a 2-d numpy array, or fixed-size lists)")
    if dim is not None and width != dim:
        raise InvalidArgument(f"vector column {name!r} has width {width}, the dataset has "
                              f"width {dim}")
    value_type = values.type
    if not (pa.types.is_floating(value_type) or pa.types.is_integer(value_type)):
        raise InvalidArgument(f"vector column {name!r} holds {value_type}, not numbers")
    if element is None:
        element = value_type if value_type in (pa.float16(), pa.int8(), pa.uint8()) \
            else pa.float32()
    if value_type != element:
        try:
            values = values.cast(element, safe=not pa.types.is_floating(element))
        except pa.ArrowInvalid as e:
            raise InvalidArgument(f"vector column {name!r}: values do not fit {element}: {e}") \
                from None
    return pa.FixedSizeListArray.from_arrays(values, width)


def _cast_column(array: pa.Array, target: pa.DataType) -> pa.Array:
    if array.type == target:
        return array
    try:
        return array.cast(target, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return array  # the server names what does not fit


def normalize(batch: pa.RecordBatch, *, stored: pa.Schema | None, element=None, dim=None,
              vector_column: str | None = None) -> pa.RecordBatch:
    """The batch as the dataset stores it. `stored` is the dataset's schema (None when this
    batch creates it); `element` and `dim` apply when creating."""
    name = find_vector_column(stored, vector_column) if stored is not None else None
    name = name or find_vector_column(batch.schema, vector_column)
    if name is None or name not in batch.schema.names:
        want = name or vector_column or "'vector' or 'embedding'"
        raise InvalidArgument(f"no vector column {want} in the data (columns: "
                              f"{', '.join(batch.schema.names)})")
    arrays, fields = [], []
    for field, array in zip(batch.schema, batch.columns):
        if field.name == name:
            if stored is not None:
                target = stored.field(name).type
                array = _to_fixed_vectors(array, name, target.value_type, target.list_size)
            else:
                array = _to_fixed_vectors(array, name, element_type(element) if element
                                          else None, dim)
        elif stored is not None and field.name in stored.names:
            array = _cast_column(array, stored.field(field.name).type)
        elif pa.types.is_large_string(array.type):
            array = _cast_column(array, pa.string())
        elif pa.types.is_dictionary(array.type) and pa.types.is_string(array.type.value_type):
            array = _cast_column(array, pa.string())
        nullable = field.nullable
        if stored is not None and field.name not in stored.names:
            nullable = True  # columns a later put adds must be nullable
        arrays.append(array)
        fields.append(pa.field(field.name, array.type, nullable=nullable))
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def rows_per_batch(batch: pa.RecordBatch, requested: int, max_bytes: int = 32 << 20) -> int:
    if batch.num_rows == 0:
        return requested
    row_bytes = max(1, batch.nbytes // batch.num_rows)
    return max(1, min(requested, max_bytes // row_bytes))


def read_jsonl_texts(path) -> list[dict]:  # used by examples and the CLI
    opener = gzip.open if str(path).endswith(".gz") else io.open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
