"""Tests for soilnet.io.folder: points, patches and climate rows checked against each other.

Every mismatch raises an error naming the file and the Point_IDs, or, with
``on_missing="drop"``, excludes the points, lists them in the report and warns. Never silently.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import rasterio

from soilnet.bands import CLIMATE_VARIABLES
from soilnet.errors import (
    DataFormatError,
    DatasetNotFoundError,
    DuplicateRowsWarning,
    InconsistentDataError,
    PatchNotFoundError,
    SoilNetError,
)
from soilnet.io.folder import ValidationReport, open_folder

PR = ("pr",)  # one variable keeps the corrupted-copy tests quick


def points_of(root) -> pd.DataFrame:
    return pd.read_csv(root / "points.csv", encoding="utf-8-sig")


def save_points(root, table: pd.DataFrame) -> None:
    table.to_csv(root / "points.csv", index=False, encoding="utf-8-sig")


def patch_of(root, pid: int):
    (path,) = (root / "patches").glob(f"{pid}_*.tif")
    return path


def test_open_clean_twin(twin_dir):
    folder = open_folder(twin_dir)
    n = len(points_of(twin_dir))
    assert len(folder.points) == n == 48
    assert folder.report.issues.empty and folder.report.excluded_ids == set()
    assert folder.has_target
    assert folder.climate.variables == CLIMATE_VARIABLES
    assert folder.climate.values.shape == (n, 61, 14)
    assert folder.climate.months == tuple(sorted(folder.climate.months))
    np.testing.assert_array_equal(folder.climate.point_ids, folder.points["Point_ID"])
    assert set(folder.patch_paths) == set(folder.points["Point_ID"])
    assert all(p.name.startswith(f"{pid}_") for pid, p in folder.patch_paths.items())
    assert open_folder(twin_dir, variables=None).climate is None  # CNN-only studies


def test_missing_folder_and_patch_dir(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"nowhere does not exist"):
        open_folder(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError, match=r"patches does not exist"):
        open_folder(tmp_path / "empty")
    with pytest.raises(ValueError, match="on_missing must be one of"):
        open_folder(tmp_path / "empty", on_missing="ignore")


def test_point_without_patch(copy_twin):
    pid = int(points_of(copy_twin)["Point_ID"].iloc[5])
    patch_of(copy_twin, pid).unlink()
    with pytest.raises(
        PatchNotFoundError, match=rf"1 point has no patch \({pid}\).*on_missing='drop'"
    ) as info:
        open_folder(copy_twin, variables=PR)
    assert str(copy_twin) in str(info.value)
    with pytest.warns(UserWarning, match=r"excluding 1 point\(s\).*point has no patch: 1"):
        folder = open_folder(copy_twin, variables=PR, on_missing="drop")
    assert pid not in set(folder.points["Point_ID"]) and len(folder.points) == 47
    assert folder.report.excluded_ids == {pid}
    row = folder.report.issues.iloc[0]
    assert row["problem"] == "point has no patch" and row["point_id"] == pid
    assert row["file"].endswith("points.csv")
    # The climate table is realigned with the remaining points.
    np.testing.assert_array_equal(folder.climate.point_ids, folder.points["Point_ID"])


def test_patch_without_point(copy_twin):
    src = next((copy_twin / "patches").glob("*.tif"))
    shutil.copy(src, copy_twin / "patches" / "99999999_150107.tif")
    with pytest.raises(
        InconsistentDataError, match=r"1 patch has no point in points\.csv \(.*99999999_150107\.tif"
    ):
        open_folder(copy_twin, variables=PR)
    with pytest.warns(UserWarning, match="patch has no point in points.csv: 1"):
        folder = open_folder(copy_twin, variables=PR, on_missing="drop")
    assert len(folder.points) == 48  # an orphan patch costs no point
    assert folder.report.issues["file"].str.endswith("99999999_150107.tif").any()
    assert 99999999 not in folder.patch_paths


def test_badly_named_patch_is_reported(copy_twin):
    src = next((copy_twin / "patches").glob("*.tif"))
    shutil.copy(src, copy_twin / "patches" / "scene_LC08.tif")
    with pytest.raises(
        InconsistentDataError, match=r"not <Point_ID>_<YYMMDD>\.tif \(.*scene_LC08\.tif"
    ):
        open_folder(copy_twin, variables=PR)


def test_point_without_climate_row(copy_twin):
    path = copy_twin / "climate" / "pr.csv"
    climate = pd.read_csv(path)
    pid = int(climate["Point_ID"].iloc[7])
    climate.drop(index=7).to_csv(path, index=False)
    with pytest.raises(InconsistentDataError, match=rf"1 point has no climate row \({pid}\)"):
        open_folder(copy_twin, variables=PR)
    with pytest.warns(UserWarning, match=r"excluding 1 point\(s\).*no climate row: 1"):
        folder = open_folder(copy_twin, variables=PR, on_missing="drop")
    assert folder.report.excluded_ids == {pid}
    assert len(folder.points) == 47 and pid not in set(folder.points["Point_ID"])
    np.testing.assert_array_equal(folder.climate.point_ids, folder.points["Point_ID"])


def test_climate_row_without_point(copy_twin):
    path = copy_twin / "climate" / "pr.csv"
    climate = pd.read_csv(path)
    extra = climate.iloc[[0]].copy()
    extra["Point_ID"] = 12345678
    pd.concat([climate, extra]).to_csv(path, index=False)
    with pytest.raises(
        InconsistentDataError,
        match=r"climate row has no point in points\.csv \(12345678; rows of .*pr\.csv\)",
    ):
        open_folder(copy_twin, variables=PR)
    with pytest.warns(UserWarning, match="climate row has no point"):
        folder = open_folder(copy_twin, variables=PR, on_missing="drop")
    assert len(folder.points) == 48 and len(folder.climate.point_ids) == 48
    row = folder.report.issues.iloc[0]  # the ID is reported, and nothing is excluded
    assert row["point_id"] == 12345678 and row["action"] == "ignored"
    assert folder.report.excluded_ids == set()


def test_climate_series_entirely_missing(copy_twin):
    path = copy_twin / "climate" / "pr.csv"
    climate = pd.read_csv(path)
    pid = int(climate["Point_ID"].iloc[2])
    months = [c for c in climate.columns if c != "Point_ID"]
    climate.loc[2, months] = -999
    climate.to_csv(path, index=False)
    with (
        pytest.warns(UserWarning, match="61 of"),
        pytest.raises(InconsistentDataError, match=rf"entirely missing.*\({pid}\)"),
    ):
        open_folder(copy_twin, variables=PR)
    with pytest.warns(UserWarning):
        folder = open_folder(copy_twin, variables=PR, on_missing="drop")
    assert folder.report.excluded_ids == {pid}
    assert not np.isnan(folder.climate.values).all(axis=1).any()


def test_duplicate_point_ids_always_raise(copy_twin):
    table = points_of(copy_twin)
    dup = int(table["Point_ID"].iloc[0])
    save_points(copy_twin, pd.concat([table, table.iloc[[0]]]))
    for on_missing in ("raise", "drop"):  # ambiguous: which row is right cannot be guessed
        with pytest.raises(
            InconsistentDataError, match=rf"points\.csv: 1 duplicate Point_ID\(s\) \({dup}\)"
        ):
            open_folder(copy_twin, variables=PR, on_missing=on_missing)


def test_missing_oc_column(copy_twin):
    save_points(copy_twin, points_of(copy_twin).drop(columns="OC"))
    with pytest.raises(DataFormatError, match=r"points\.csv: missing column\(s\) OC"):
        open_folder(copy_twin, variables=PR)
    grid = open_folder(copy_twin, variables=PR, require_target=False)  # a prediction grid
    assert not grid.has_target and len(grid.points) == 48


def test_negative_oc_names_point(copy_twin):
    table = points_of(copy_twin)
    table.loc[4, "OC"] = -3.0
    save_points(copy_twin, table)
    with pytest.raises(DataFormatError, match=rf"Point_ID {table.loc[4, 'Point_ID']}"):
        open_folder(copy_twin, variables=PR, on_missing="drop")


def test_several_problems_are_all_reported(copy_twin):
    ids = points_of(copy_twin)["Point_ID"].to_numpy()
    patch_of(copy_twin, ids[0]).unlink()
    patch_of(copy_twin, ids[1]).unlink()
    path = copy_twin / "climate" / "pr.csv"
    climate = pd.read_csv(path)
    climate[climate["Point_ID"] != ids[2]].to_csv(path, index=False)
    with pytest.raises(
        SoilNetError,
        match=rf"2 kinds of problem: 2 point has no patch \({ids[0]}, {ids[1]}\); "
        rf"1 point has no climate row \({ids[2]}\)",
    ):
        open_folder(copy_twin, variables=PR)
    with pytest.warns(UserWarning, match=r"excluding 3 point\(s\)"):
        folder = open_folder(copy_twin, variables=PR, on_missing="drop")
    assert folder.report.excluded_ids == {int(i) for i in ids[:3]}
    summary = dict(zip(*folder.report.summary().to_dict("list").values(), strict=True))
    assert summary == {"point has no climate row": 1, "point has no patch": 2}


def test_validation_report_csv(tmp_path):
    report = ValidationReport()
    assert report.summary().empty
    report.add("point has no patch", point_ids=[1, 2], files=["a.csv", "a.csv"])
    report.add("nothing", point_ids=[])  # no-op
    report.add("patch has no point", files=["patches/9_150101.tif"])
    report.to_csv(tmp_path / "report.csv")
    back = pd.read_csv(tmp_path / "report.csv")
    assert len(back) == 3 and set(back["problem"]) == {"point has no patch", "patch has no point"}
    assert report.excluded_ids == {1, 2}


# ---------------------------------------------------------------- hostile input


def test_swapped_long_lat_is_reported_by_id(copy_twin):
    table = points_of(copy_twin)
    swapped = table.copy()
    swapped[["long", "lat"]] = table[["lat", "long"]].to_numpy()
    save_points(copy_twin, swapped)
    with pytest.raises(InconsistentDataError) as info:
        open_folder(copy_twin, variables=None)
    message = str(info.value)
    assert str(copy_twin) in message
    assert f"48 patch centre far from the point's long/lat ({table['Point_ID'].iat[0]}" in message
    assert "(48 in all)" in message and "48 of them match with long and lat swapped" in message
    assert "tolerance 0.24 km (half the patch width)" in message  # 16 px of 30 m
    assert "check the order of the long and lat columns" in message

    # One point swapped: dropped by ID, with the reason in the report.
    one = table.copy()
    one.loc[3, ["long", "lat"]] = table.loc[3, ["lat", "long"]].to_numpy()
    save_points(copy_twin, one)
    pid = int(table["Point_ID"].iat[3])
    with pytest.warns(UserWarning, match=r"excluding 1 point\(s\).*far from the point's long/lat"):
        folder = open_folder(copy_twin, variables=None, on_missing="drop")
    assert folder.report.excluded_ids == {pid} and len(folder.points) == 47
    (row,) = folder.report.issues.itertuples()
    assert row.problem == "patch centre far from the point's long/lat"
    assert row.file.endswith(patch_of(copy_twin, pid).name) and row.action == "excluded"
    assert "matches with long and lat swapped" in row.detail and "tolerance" in row.detail


def test_every_kind_of_problem_is_reported_with_every_id(copy_twin, tmp_path):
    ids = points_of(copy_twin)["Point_ID"].to_numpy()
    for pid in ids[:7]:  # more than the five a message lists
        patch_of(copy_twin, pid).unlink()
    path = copy_twin / "climate" / "pr.csv"
    climate = pd.read_csv(path)
    climate[climate["Point_ID"] != ids[10]].to_csv(path, index=False)
    report_path = tmp_path / "report.csv"
    with pytest.raises(PatchNotFoundError) as info:
        open_folder(copy_twin, variables=PR, report_path=report_path)
    message = str(info.value)
    assert message.startswith(f"{copy_twin}: 2 kinds of problem: 7 point has no patch (")
    assert "(7 in all)" in message and f"1 point has no climate row ({ids[10]})" in message
    assert f"Every affected point and file is listed in {report_path}" in message
    assert "on_missing='drop' (CLI: --on-missing drop)" in message
    report = pd.read_csv(report_path)
    assert sorted(report["point_id"]) == sorted([*ids[:7], ids[10]])
    assert set(report["problem"]) == {"point has no patch", "point has no climate row"}


def test_no_usable_point_left_is_an_error(copy_twin, tmp_path):
    for path in (copy_twin / "patches").glob("*.tif"):
        path.unlink()
    report_path = tmp_path / "report.csv"
    with pytest.raises(InconsistentDataError) as info:
        open_folder(copy_twin, variables=PR, on_missing="drop", report_path=report_path)
    message = str(info.value)
    assert message.startswith(f"{copy_twin}: no usable point is left: every one of the 48 points")
    assert "48 point has no patch" in message and "(48 in all)" in message
    assert f"all are listed in {report_path}" in message and "cannot help" in message
    assert len(pd.read_csv(report_path)) == 48


def test_points_table_problems_are_written_to_the_report(copy_twin, tmp_path):
    table = points_of(copy_twin)
    table.loc[[1, 2, 3, 4, 5, 6], "lat"] = 95.0
    table.loc[7, "long"] = -200.0
    save_points(copy_twin, table)
    report_path = tmp_path / "report.csv"
    with pytest.raises(DataFormatError) as info:
        open_folder(copy_twin, variables=PR, on_missing="drop", report_path=report_path)
    message = str(info.value)
    assert message.startswith(f"{copy_twin / 'points.csv'}: 2 kinds of problem.")
    assert "6 point(s) have lat outside" in message and "(6 in all)" in message
    assert f"long outside [-180, 180] or not a number (Point_ID {table['Point_ID'][7]})" in message
    assert f"Every affected row is listed in {report_path}" in message
    report = pd.read_csv(report_path)
    assert report["point_id"].tolist() == table["Point_ID"][[7, 1, 2, 3, 4, 5, 6]].tolist()
    assert set(report["action"]) == {"refused"} and report["detail"].iat[0] == "line 9"


def test_repeated_climate_rows_are_merged_with_a_report_line(copy_twin):
    path = copy_twin / "climate" / "pr.csv"
    climate = pd.read_csv(path)
    pd.concat([climate, climate.iloc[[4, 9]]]).to_csv(path, index=False)
    ids = climate["Point_ID"].iloc[[4, 9]].tolist()
    with pytest.warns(DuplicateRowsWarning, match=rf"pr\.csv: 2 ID\(s\).*\({ids[0]}, {ids[1]}\)"):
        folder = open_folder(copy_twin, variables=PR)  # no problem: nothing raised or excluded
    assert len(folder.points) == 48 and folder.report.excluded_ids == set()
    issues = folder.report.issues
    assert issues["point_id"].tolist() == ids and set(issues["action"]) == {"merged"}
    assert issues["file"].eq(str(path)).all() and folder.report.problems.empty


def test_patch_without_crs_cannot_be_located_and_says_so(copy_twin):
    pid = int(points_of(copy_twin)["Point_ID"].iat[2])
    path = patch_of(copy_twin, pid)
    with rasterio.open(path) as src:
        profile, data, names = src.profile, src.read(), src.descriptions
    path.unlink()
    with rasterio.open(path, "w", **(profile | {"crs": None})) as dst:  # not georeferenced
        dst.write(data)
        for i, name in enumerate(names, start=1):
            dst.set_band_description(i, name)
    with pytest.warns(UserWarning, match=rf"1 patch\(es\) have no CRS.*\(Point_ID {pid}\)"):
        folder = open_folder(copy_twin, variables=None)
    assert len(folder.points) == 48 and folder.report.issues.empty  # nothing dropped
