"""Python client for Arbalest, the Arrow Flight vector database.

    import arbalest_client as ab
    db = ab.Client("grpc://127.0.0.1:3000")
    docs = db.create_dataset("docs", data=df, metric="cosine")
    docs.search(query, k=5, where="category = 'paper'").to_pandas()
"""

from .client import Client, Dataset, missing_nodes
from .errors import (AlreadyExists, ArbalestError, Cancelled, DatasetNotFound, InternalError,
                     InvalidArgument, NotFound, PermissionDenied, ResourceExhausted, Timeout,
                     Unauthenticated, Unavailable, Unimplemented, WhereSyntaxError)
from .filters import Expr, col, parse_where, to_filter_json

__version__ = "0.1.0"

__all__ = [
    "Client", "Dataset", "missing_nodes", "col", "parse_where", "to_filter_json", "Expr", "connect",
    "ArbalestError", "InvalidArgument", "WhereSyntaxError", "NotFound", "DatasetNotFound",
    "AlreadyExists", "Unavailable", "ResourceExhausted", "Unauthenticated", "PermissionDenied",
    "Timeout", "Cancelled", "Unimplemented", "InternalError", "__version__",
]


def connect(url: str = "grpc://127.0.0.1:3000", token: str | None = None,
            timeout: float | None = None) -> Client:
    """Same as ``Client(url, token, timeout)``."""
    return Client(url, token=token, timeout=timeout)
