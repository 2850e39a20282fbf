"""Makes this fixture: a data directory written by a server built before each segment had its
own deleted-rows file (snapshot format version 4: each segment's rows, vectors and graph files,
and one tombstones.roaring in dataset numbering), for test_segment_deletes.py's upgrade test.
It is made exactly as snapshot_v3 is (its make.py, run with this directory as the output; see
there what the datasets hold). Run from the repository root with such a build:

    ARBALEST_BIN=<old build>/arbalest .venv/bin/python \
        tests/integration/data/snapshot_v4/make.py
"""

import importlib.util
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main():
    spec = importlib.util.spec_from_file_location("make_v3", HERE.parent / "snapshot_v3" / "make.py")
    make_v3 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_v3)
    make_v3.HERE = HERE  # where keep() writes data/ and expected.json
    make_v3.main()


if __name__ == "__main__":
    main()
