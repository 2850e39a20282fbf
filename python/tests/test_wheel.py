"""pyproject.toml builds a wheel offline (its in-tree backend needs nothing installed), and the
wheel installs with a working console script."""

import os
import subprocess
import sys
import sysconfig
import zipfile

from conftest import PYTHON_DIR


def test_wheel_builds_and_installs(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--no-index", "-q", "-w", str(tmp_path / "dist"), str(PYTHON_DIR)],
                   check=True, capture_output=True)
    [wheel] = list((tmp_path / "dist").glob("arbalest_client-*-py3-none-any.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "arbalest_client/client.py" in names and "arbalest_client/cli.py" in names
    assert not any("tests/" in n for n in names)
    target = tmp_path / "site"
    env = dict(os.environ, PIP_NO_INDEX="1")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(target), str(wheel)], check=True, capture_output=True, env=env)
    meta = next(target.glob("arbalest_client-*.dist-info"))
    assert "arbalest-cli = arbalest_client.cli:main" in (meta / "entry_points.txt").read_text()
    assert "Requires-Dist: pyarrow" in (meta / "METADATA").read_text()
    script = target / "bin" / "arbalest-cli"
    assert script.exists()
    # Run the installed copy, not this checkout's: only the target directory and the venv's
    # site-packages (pyarrow, numpy) on the path.
    env = dict(os.environ, PYTHONPATH=f"{target}{os.pathsep}{sysconfig.get_paths()['purelib']}")
    result = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                            text=True, cwd=tmp_path, env=env, check=True)
    assert "usage: arbalest-cli" in result.stdout
    where = subprocess.run([sys.executable, "-c", "import arbalest_client; "
                            "print(arbalest_client.__file__)"], capture_output=True, text=True,
                           cwd=tmp_path, env=env, check=True).stdout
    assert where.startswith(str(target))
