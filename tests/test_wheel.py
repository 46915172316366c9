"""The wheel built from the repository is complete: MapLibre GL (gitignored, copied by make) and
``py.typed`` are in it, and the package installed from it serves the dashboard's map script.

The wheel goes into a fresh venv with ``--no-deps``; that venv sees the locked environment's
packages through a ``.pth`` line (appended after its own site-packages, and ``.pth`` files of
the locked environment, such as its editable ``src/`` path, are not processed), so
``import clusterscape`` there is the installed wheel, not the source tree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "src" / "clusterscape" / "web" / "static" / "vendor"
MAP_FILES = ("maplibre-gl.js", "maplibre-gl.css", "LICENSE.txt")
PIP = (sys.executable, "-m", "pip", "--no-input", "--isolated")  # no pip config

CHECK = r"""
import json, sys
from pathlib import Path
import clusterscape
from fastapi.testclient import TestClient
from clusterscape.web import create_app

pkg = Path(clusterscape.__file__).parent
client = TestClient(create_app(sys.argv[1]), base_url="http://127.0.0.1")
page = client.get("/")
js = client.get("/static/vendor/maplibre-gl.js")
css = client.get("/static/vendor/maplibre-gl.css")
print(json.dumps({
    "package": str(pkg),
    "py_typed": (pkg / "py.typed").is_file(),
    "page_status": page.status_code,
    "page_has_script": '<script src="/static/vendor/maplibre-gl.js">' in page.text,
    "js_status": js.status_code,
    "js_bytes": len(js.content),
    "css_status": css.status_code,
    "css_bytes": len(css.content),
}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    missing = [name for name in MAP_FILES if not (VENDOR / name).is_file()]
    assert not missing, f"run `make install` first: {VENDOR} lacks {missing}"
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            *PIP,
            "wheel",
            "-q",
            "--no-index",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    (whl,) = out.glob("clusterscape-*.whl")
    return whl


def test_wheel_holds_map_files_and_py_typed(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for name in MAP_FILES:
            member = f"clusterscape/web/static/vendor/{name}"
            assert member in names
            assert zf.read(member) == (VENDOR / name).read_bytes()
        assert "clusterscape/py.typed" in names
        # real context layers of the built-in study, each source with its licence notice
        for member in (
            "osm/ningbo_osm_commercial.geojson",
            "osm/ningbo_osm_hospitals.geojson",
            "osm/ningbo_osm_schools.geojson",
            "osm/NOTICE.md",
            "geonames/ningbo_geonames_places_cities1000.csv",
            "geonames/NOTICE.md",
            "creative_parks/ningbo_creative_parks.csv",
            "creative_parks/ningbo_creative_parks_osm.geojson",
            "creative_parks/NOTICE.md",
            # tables of the synthetic study, read when the package is imported
            "function_catalogue.csv",
            "planted_clusters.toml",
        ):
            assert f"clusterscape/datasets/data/{member}" in names, member
        assert "clusterscape/web/static/index.html" in names
        assert not any(n.endswith((".nbi", ".nbc", ".pyc")) for n in names)  # no caches


def test_installed_wheel_serves_the_map(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    py = env_dir / "bin" / "python"
    subprocess.run(
        [*PIP, "--python", str(py), "install", "-q", "--no-index", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
        text=True,
    )
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # the locked environment's packages (fastapi, numpy, ...), after the venv's own
    (Path(site) / "_locked_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    study = tmp_path / "study"
    study.mkdir()
    (study / "summary.json").write_text("{}")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    proc = subprocess.run(
        [str(py), "-c", CHECK, str(study)],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(got["package"]).is_relative_to(env_dir)  # the wheel, not the source tree
    assert got["py_typed"]
    assert got["page_status"] == 200 and got["page_has_script"]
    assert got["js_status"] == 200
    assert got["js_bytes"] == (VENDOR / "maplibre-gl.js").stat().st_size
    assert got["css_status"] == 200
    assert got["css_bytes"] == (VENDOR / "maplibre-gl.css").stat().st_size
