"""The whole smoke book on real-format data folders (no twin.json, no truth.csv).

1. A folder as ``acquire`` writes it, plus a prediction grid for Luxembourg made with
   ``python -m soilnet grid`` and acquired from the loopback servers of the acquisition tests:
   every chapter builds, twin-only content is absent and says why, and the map chapter predicts the
   grid into its COG.
2. A folder in the authors' export format (12 bands; climate with ``system:index``, the ID
   column ``POINT_ID`` and zeros written as -999), read through the options the book exposes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
import rasterio
from acquire import server as srv
from acquire.world import FAST
from realformat import acquire_format, authors_format
from test_runner import checksums

from soilnet.acquire import Sources, acquire, read_manifest
from soilnet.cli import main
from soilnet.runner import run_book
from soilnet.twin import TwinConfig, write_twin
from soilnet.workspace import CHAPTERS

pytestmark = pytest.mark.slow

VARS = ("pr", "swe", "tmmx")
#: Quick books: two variants, one seed, one epoch; the grid's climate variables.
FAST_BOOK = [
    "experiment.variants=[resnet18, resnet18_glam_lstm]",
    "experiment.spatial_variants=[resnet18_glam_lstm]",
    "experiment.seeds=[0]",
    "experiment.epochs=1",
    "experiment.epochs_lstm=1",
]
GRID_KM = 20


def _twin(root):
    twin = root / "twin"
    write_twin(twin, TwinConfig(n_points=240, patch_size_px=32, seed=11))
    return twin


def _luxembourg_grid(root):
    """grid.csv for Luxembourg at 20 km, acquired from a loopback world built around it."""
    import pandas as pd

    grid_csv = root / "grid.csv"
    assert (
        main(["grid", "--resolution-km", str(GRID_KM), "--countries", "LU", "--out", str(grid_csv)])
        == 0
    )
    cells = pd.read_csv(grid_csv)
    files = root / "loopback"
    items = [
        srv.write_scene(files, srv.SceneSpec(f"LU_{pid}", "2015-02-10", lon, lat), seed=k)
        for k, (pid, lon, lat) in enumerate(
            zip(cells["Point_ID"], cells["long"], cells["lat"], strict=True)
        )
    ]
    bounds = (5.5, 49.4, 6.2, 50.1)
    items.append(srv.write_dem(files, "DEM_LU", bounds, res_deg=1 / 1200, lat0=49.75))
    tc = srv.write_terraclimate(files / "tc", VARS, bounds)
    out = root / "grid-lu"
    with srv.LoopbackServer(files, items) as server:
        summary = acquire(
            grid_csv, out, variables=VARS, workers=2, retry=FAST, progress=False,
            sources=Sources(stac_url=server.stac_url, terraclimate_url=tc, signer="none"),
        )  # fmt: skip
    manifest = read_manifest(out / "manifest.csv")
    assert (manifest["status"] == "ok").all(), manifest[["Point_ID", "status", "reason"]]
    return out, len(cells), summary


def _errors(executed):
    found = {}
    for name in CHAPTERS.values():
        nb = nbformat.read(executed / f"{name}.ipynb", as_version=4)
        errors = [
            o for c in nb.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if o.output_type == "error"
        ]  # fmt: skip
        if errors:
            found[name] = errors[0].get("evalue")
    return found


def _text(html_path):
    """The visible text of a page, tags stripped."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html_path.read_text()))


@pytest.fixture(scope="module")
def acquire_book(tmp_path_factory, monkeypatch_module):
    root = tmp_path_factory.mktemp("real_book")
    data = acquire_format(_twin(root), root / "lucas-like")
    grid, n_cells, _ = _luxembourg_grid(root)
    before = checksums(data)
    timings = run_book(
        "smoke", data_dir=str(data), work_dir=str(root / "runs"), device="cpu",
        overrides=[*FAST_BOOK, f"store.climate_variables=[{', '.join(VARS)}]",
                   f"map.resolution_km={GRID_KM}"],
        grid_dir=str(grid), output_root=root,
    )  # fmt: skip
    return root, data, before, n_cells, timings


@pytest.fixture(scope="module")
def monkeypatch_module():
    """Loopback only: no proxy may intercept requests to 127.0.0.1."""
    mp = pytest.MonkeyPatch()
    for name in ("NO_PROXY", "no_proxy"):
        mp.setenv(name, "127.0.0.1,localhost")
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "GDAL_HTTP_PROXY"):
        mp.delenv(name, raising=False)
    yield mp
    mp.undo()


def test_the_book_builds_on_an_acquired_folder_and_maps_the_grid(acquire_book):
    root, data, before, n_cells, timings = acquire_book
    assert set(timings["chapters"]) == set(CHAPTERS.values())
    assert not _errors(root / "_build" / "book_src" / "notebooks")
    assert checksums(data) == before, "the book wrote into the data folder"
    html = root / "_build" / "html" / "notebooks"
    # Twin-only content is absent, and the pages say why.
    results = _text(html / "04_results.html")
    assert "Noise floor (twin)" not in results and "Random Forest (all covariates)" in results
    page = _text(html / "07_european_map.html")
    assert "Not drawn: this build’s data are real" in page.replace("'", "’")
    assert f"This map predicts the {n_cells} points of the grid folder" in page
    # Figure 7 (observed, SoilNet, RF), the error map and the grid's map: three images.
    assert (html / "07_european_map.html").read_text().count("<img") >= 3
    # The map chapter's COG holds one prediction per Luxembourg cell, nothing elsewhere.
    cogs = list((root / "runs" / "map").glob("*/soc_map.tif"))
    assert len(cogs) == 1
    with rasterio.open(cogs[0]) as src:
        values = src.read(1)
        assert src.crs.to_epsg() == 3035 and src.res == (GRID_KM * 1000.0, GRID_KM * 1000.0)
    assert np.isfinite(values).sum() == n_cells
    assert np.nanmin(values) >= 0
    # ... and its uncertainty layers the same cells.
    for layer in ("interval_width_90.tif", "dissimilarity.tif", "aoa.tif"):
        with rasterio.open(cogs[0].parent / layer) as src:
            assert np.isfinite(src.read(1)).sum() == n_cells, layer


def test_the_book_builds_on_the_authors_export_format(tmp_path_factory):
    root = tmp_path_factory.mktemp("authors_book")
    data = authors_format(_twin(root), root / "authors")
    run_book(
        "smoke", data_dir=str(data), work_dir=str(root / "runs"), device="cpu",
        overrides=[*FAST_BOOK, "store.optical_only=true", "store.climate_id_column=POINT_ID",
                   "store.missing_code_means=zero"],
        output_root=root,
    )  # fmt: skip
    assert not _errors(root / "_build" / "book_src" / "notebooks")
    record = json.loads((root / "runs" / "study.json").read_text())
    assert record["is_twin"] is False and record["twin"] is None
    meta = json.loads((Path(record["store"]) / "meta.json").read_text())
    assert len(meta["bands"]) == 12 and meta["climate_variables"]
    page = _text(root / "_build" / "html" / "notebooks" / "07_european_map.html")
    assert "there is no wall-to-wall map" in page
