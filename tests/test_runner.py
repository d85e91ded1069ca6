"""soilnet.runner, the book: every chapter executes under papermill with the smoke profile, the HTML builds with
-W, a chapter run alone fails naming what is missing, and the built pages hold the results table
and the map image when a reader opens them in headless Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from checks import error_outputs

from soilnet.errors import ConfigConflictError, MissingOutputError
from soilnet.runner import ChapterFailed, execute_chapter, run_book
from soilnet.workspace import CHAPTERS, Study

#: An override given to the whole smoke book: chapter 1 records it, every run must use it.
SMOKE_OVERRIDES = ["train.lr=0.002"]

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--hide-scrollbars",
]


def checksums(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (CI runs as root: read-only modes prove nothing)."""
    import hashlib

    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory):
    """Run the whole smoke book into a temporary output root; return (root, timings).

    The twin is generated first, so the book finds a complete data folder; its checksums
    before the book are kept in ``root / "data_checksums.json"``.
    """
    from soilnet.config import PROFILES
    from soilnet.twin import write_twin

    root = tmp_path_factory.mktemp("book")
    write_twin(root / "twin-smoke", PROFILES["smoke"].twin)
    (root / "data_checksums.json").write_text(json.dumps(checksums(root / "twin-smoke")))
    timings = run_book(
        "smoke",
        data_dir=str(root / "twin-smoke"),
        work_dir=str(root / "runs"),
        device="cpu",
        overrides=SMOKE_OVERRIDES,
        output_root=root,
    )
    return root, timings


@pytest.mark.slow
def test_the_book_only_reads_the_data_folder(smoke_book):
    root, _ = smoke_book
    before = json.loads((root / "data_checksums.json").read_text())
    after = checksums(root / "twin-smoke")
    assert sorted(set(after) - set(before)) == [], "files were added to the data folder"
    changed = [k for k in before if before[k] != after.get(k)]
    assert changed == [], f"data files changed or vanished: {changed[:5]}"
    for derived in ("stores", "splits", "runs"):
        assert any((root / "runs" / derived).iterdir()), derived


@pytest.mark.slow
def test_chapter_1_configuration_reaches_every_run(smoke_book):
    root, _ = smoke_book
    study = Study.open("smoke", work_dir=str(root / "runs"))
    assert study.config.train.lr == 0.002
    runs = [json.loads(p.read_text()) for p in (root / "runs" / "runs").glob("*/run.json")]
    networks = [r for r in runs if "train_config" in r]
    expected = (
        len(study.config.experiment.variants) * len(study.config.experiment.seeds)
        + len(study.config.experiment.spatial_variants)
        * len(study.config.experiment.seeds)
        * study.config.split.k_folds
    )
    assert len(networks) == expected
    assert {r["train_config"]["lr"] for r in networks} == {0.002}
    # The same override again is accepted; a conflicting one is refused by every later chapter.
    Study.open("smoke", work_dir=str(root / "runs"), overrides=SMOKE_OVERRIDES)
    with pytest.raises(ConfigConflictError, match=r"train\.lr: recorded 0\.002, given 0\.01"):
        Study.open("smoke", work_dir=str(root / "runs"), overrides=["train.lr=0.01"])
    params = {"profile": "smoke", "work_dir": str(root / "runs"), "device": "cpu",
              "overrides": ["train.lr=0.01"]}  # fmt: skip
    with pytest.raises(ChapterFailed, match="ConfigConflictError.*train.lr"):
        execute_chapter(4, params, output_dir=root / "conflict")


@pytest.mark.slow
def test_every_chapter_executes_and_the_book_builds(smoke_book):
    root, timings = smoke_book
    executed = root / "_build" / "book_src" / "notebooks"
    for name in CHAPTERS.values():
        assert not error_outputs(executed / f"{name}.ipynb"), f"{name} has error outputs"
        nb = nbformat.read(executed / f"{name}.ipynb", as_version=4)
        params = [
            c
            for c in nb.cells
            if "parameters" in c.metadata.get("tags", [])
            or "injected-parameters" in c.metadata.get("tags", [])
        ]
        assert params and all("remove-cell" in c.metadata["tags"] for c in params), (
            f"{name}: parameter cells not hidden"
        )
        injected = [c for c in params if "injected-parameters" in c.metadata["tags"]]
        assert injected and 'profile = "smoke"' in injected[0].source
    html = root / "_build" / "html"
    for name in CHAPTERS.values():
        assert (html / "notebooks" / f"{name}.html").is_file()
    assert set(timings["chapters"]) == set(CHAPTERS.values())
    # The smoke book must stay a quick check (issue: at most 5 minutes on 2 cores).
    assert timings["total_seconds"] < 600, timings


@pytest.mark.slow
def test_results_page_holds_the_table_with_the_noise_floor(smoke_book):
    root, _ = smoke_book
    page = (root / "_build" / "html" / "notebooks" / "04_results.html").read_text()
    assert "<table" in page
    for text in (
        "Noise floor (twin)",
        "Observable reference (twin)",
        "Random Forest (paper",
        "ResNet-18-GLAM+LSTM",
        "RMSE above noise floor",
        "ResNet-101-GLAM+LSTM",
    ):
        assert text in page, text
    # The parameters cell is removed from the rendered page.
    assert 'profile = "smoke"' not in page


@pytest.mark.slow
def test_map_chapter_writes_a_cloud_optimized_geotiff(smoke_book):
    import rasterio

    root, _ = smoke_book
    (cog,) = (root / "runs" / "map").glob("*/soc_map.tif")
    with rasterio.open(cog) as src:
        assert src.crs.to_epsg() == 3035
        assert src.overviews(1), "a COG carries overviews"
        data = src.read(1)
    import numpy as np

    finite = np.isfinite(data)
    assert finite.sum() > 100 and (~finite).sum() > 0  # land cells predicted, sea left empty
    assert np.nanmin(data) >= 0


def test_a_chapter_alone_fails_naming_the_missing_output(tmp_path):
    with pytest.raises(MissingOutputError, match="chapter 1 \\(01_data_preparation.ipynb\\)"):
        Study.open("smoke", str(tmp_path / "twin-smoke"), str(tmp_path / "empty"))
    params = {
        "profile": "smoke",
        "data_dir": str(tmp_path / "twin-smoke"),
        "work_dir": str(tmp_path / "empty"),
        "device": "cpu",
    }
    with pytest.raises(ChapterFailed, match="MissingOutputError.*01_data_preparation"):
        execute_chapter(4, params, output_dir=tmp_path / "out")


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("page", "must_hold"),
    [
        ("04_results", ("<table", "RMSE above noise floor")),
        ("07_european_map", ("<img", "Predicted SOC")),
    ],
)
def test_pages_as_a_reader_sees_them(smoke_book, page, must_hold, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip(
            "chromium is not installed and could not be installed here (python3.11 run.py test tries apt-get)"
        )
    root, _ = smoke_book
    url = (root / "_build" / "html" / "notebooks" / f"{page}.html").as_uri()
    shots = root / "screenshots"
    shots.mkdir(exist_ok=True)
    png = shots / f"{page}.png"
    subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--screenshot={png}", "--window-size=1400,2400", url],
        check=True,
        capture_output=True,
        timeout=120,
    )
    dom = subprocess.run(
        [browser, *CHROMIUM_FLAGS, "--dump-dom", url],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    for text in must_hold:
        assert text in dom, f"{page}: {text!r} not in the rendered page"
    if page == "07_european_map":
        images = [line for line in dom.split("<img")[1:] if ".png" in line.split(">")[0]]
        assert images, "the map page shows no figure"
    assert png.stat().st_size > 20_000, "the screenshot is (nearly) blank"
    # Keep a copy for people to look at: _build/screenshots in the output root.
    (root / "screenshots.json").write_text(json.dumps({"dir": str(shots)}))
    print(f"screenshot: {png}")


def test_paper_profile_is_the_papers_settings():
    from soilnet.config import PROFILES

    p = PROFILES["paper"]
    assert p.store.patch_size_px == 64 and p.twin.patch_size_px == 64
    assert p.experiment.epochs == 50 and p.experiment.epochs_lstm == 30
    assert p.experiment.variants == ("resnet101", "resnet101_glam", "resnet101_glam_lstm")
    assert len(p.experiment.seeds) >= 5 and p.train.lr == 1e-4 and p.train.batch_size == 32
    assert p.train.schedule == "step" and p.train.stem_maxpool and p.map.resolution_km == 1.0


def test_colab_cell_is_guarded_and_first():
    for name in CHAPTERS.values():
        nb = nbformat.read(Path(__file__).parents[1] / "notebooks" / f"{name}.ipynb", as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert "google.colab" in code[0].source and "colab-install" in code[0].metadata["tags"]
        assert "parameters" in code[1].metadata["tags"]
        assert not any(c.get("outputs") for c in code), f"{name} is committed with outputs"
        assert all("def " not in c.source and "class " not in c.source for c in code[1:]), (
            f"{name} defines code in a cell"
        )


def test_papermill_sees_every_parameter():
    import papermill as pm

    expected = {"profile", "data_dir", "work_dir", "device", "overrides"}
    for name in CHAPTERS.values():
        found = set(
            pm.inspect_notebook(str(Path(__file__).parents[1] / "notebooks" / f"{name}.ipynb"))
        )
        assert expected <= found, f"{name}: papermill parsed only {sorted(found)}"


def test_papermill_string_parameters_select_one_variant(tmp_path):
    # `papermill -p variants '["resnet18_glam_lstm"]' -p overrides '["train.lr=3e-4"]'` passes
    # strings; the configuration parses them in one place.
    from soilnet.config import parse_list, parse_overrides, resolve

    assert parse_list('["resnet18_glam_lstm"]') == ["resnet18_glam_lstm"]
    assert parse_list("[3, 4]") == [3, 4]
    config = resolve("default", '["train.lr=3e-4", "experiment.seeds=[3, 4]"]')
    assert config.train.lr == 3e-4 and config.experiment.seeds == (3, 4)
    # untouched settings keep the profile's values
    assert config.experiment.epochs == resolve("default").experiment.epochs
    assert parse_overrides({"train": {"lr": 1e-3}}) == {"train.lr": 1e-3}


@pytest.mark.slow
def test_results_command_prints_both_tables(smoke_book, capsys):
    from soilnet.cli import main

    root, _ = smoke_book
    assert main(["results", "--profile", "smoke", "--work-dir", str(root / "runs")]) == 0
    out = capsys.readouterr().out
    assert "Random 70/10/20 split" in out and "Spatial block cross-validation" in out
    # The comparative sentences, written by the rule of soilnet.comparison, for both protocols.
    from soilnet.comparison import RULE

    assert out.count(RULE) == 2 and out.count("- ResNet-18-GLAM+LSTM ") >= 2
    assert out.count("| Noise floor (twin)") == 2
