"""Converts Debian's dataset-fashion-mnist (the ann-benchmarks set: 60k train images as the
base, 10k test images as queries, 784-d) into .fbin files for bench/index_bench:
int32 rows, int32 dim, then rows x dim float32, little-endian (the big-ann-benchmarks layout).

    sudo apt-get install dataset-fashion-mnist
    .venv/bin/python bench/data/fashion_mnist.py --out data/fashion-mnist
    build/bench/bench/index_bench --base data/fashion-mnist/base.fbin \
        --query-file data/fashion-mnist/queries.fbin --queries 1000 --threads 2 --m 16 --efc 100
"""

from __future__ import annotations

import argparse
import gzip
import pathlib
import struct

import numpy as np

SOURCE = pathlib.Path("/usr/share/datasets/fashion-mnist")


def read_images(path: pathlib.Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        magic, count, rows, cols = struct.unpack(">IIII", f.read(16))
        if magic != 2051:
            raise SystemExit(f"{path}: not an idx3 image file (magic {magic})")
        pixels = np.frombuffer(f.read(count * rows * cols), dtype=np.uint8)
    return pixels.reshape(count, rows * cols).astype(np.float32)


def write_fbin(path: pathlib.Path, vectors: np.ndarray) -> None:
    with open(path, "wb") as f:
        f.write(struct.pack("<ii", *vectors.shape))
        f.write(np.ascontiguousarray(vectors, dtype="<f4").tobytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=pathlib.Path, default=SOURCE)
    parser.add_argument("--out", type=pathlib.Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, out in (("train-images-idx3-ubyte.gz", "base.fbin"),
                      ("t10k-images-idx3-ubyte.gz", "queries.fbin")):
        vectors = read_images(args.source / name)
        write_fbin(args.out / out, vectors)
        print(f"{args.out / out}: {vectors.shape[0]} x {vectors.shape[1]}")


if __name__ == "__main__":
    main()
