"""Tests for soilnet.acquire.outdir: an output folder holding something else is refused before
any request (offline)."""

from __future__ import annotations

import pytest

from soilnet.acquire import acquire
from soilnet.errors import AcquisitionError

from .world import FAST, sources


def test_output_folder_holding_another_dataset_is_refused(world, server, tmp_path):
    points = world.points_csv(tmp_path / "p.csv", ("winter",))
    kw = dict(sources=sources(server, world), retry=FAST, progress=False, variables=())

    twin = tmp_path / "twin"
    twin.mkdir()
    (twin / "twin.json").write_text("{}")
    with pytest.raises(AcquisitionError, match="twin.json"):
        acquire(points, twin, **kw)

    other = tmp_path / "other"
    other.mkdir()
    (other / "points.csv").write_text("Point_ID,long,lat\n12345678,1.0,45.0\n")
    with pytest.raises(AcquisitionError, match="12345678"):
        acquire(points, other, **kw)

    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "points.csv").write_text("Point_ID,long,lat\n90000001,1.0,45.0\n")
    with pytest.raises(AcquisitionError, match="other coordinates"):
        acquire(points, moved, **kw)

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.docx").write_text("x")
    with pytest.raises(AcquisitionError, match="not empty"):
        acquire(points, busy, **kw)

    # a store or splits folder is derived data of another workspace, not part of a data folder
    for name in ("store", "splits"):
        derived = tmp_path / f"derived_{name}"
        (derived / name).mkdir(parents=True)
        with pytest.raises(AcquisitionError, match=f"not empty \\({name}\\)"):
            acquire(points, derived, **kw)
    assert not server.log  # refused before any request
