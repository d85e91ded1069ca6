"""Tests for soilnet.io.tables: the LUCAS point table and TerraClimate per-variable CSVs."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

from soilnet.errors import (
    DataFormatError,
    DatasetNotFoundError,
    DuplicateRowsWarning,
    FileEncodingWarning,
    InconsistentDataError,
    MissingValuesWarning,
)
from soilnet.io.tables import (
    ClimateTable,
    check_points,
    read_climate,
    read_points,
    write_climate,
)

#: The 24 columns of LUCAS_2015_all.csv, in file order.
LUCAS_COLUMNS = (
    "OID_", "Point_ID", "long", "lat", "Clay", "Sand", "Silt", "pH_CaCl2", "pH_H20", "EC", "OC",
    "CaCO3", "P", "N", "K", "LC", "LU", "NUTS_0", "NUTS_1", "NUTS_2", "NUTS_3", "LC0_Desc",
    "LC1_Desc", "LU1_Desc",
)  # fmt: skip

#: 61 months 2010-01 .. 2015-01 as YYYYMMDD, ascending.
MONTHS = tuple(pd.date_range("2010-01", periods=61, freq="MS").strftime("%Y%m%d"))


def lucas_table(n=5, seed=0) -> pd.DataFrame:
    """A LUCAS-2015-shaped table (24 columns) with plausible values."""
    rng = np.random.default_rng(seed)
    t = pd.DataFrame({c: 0 for c in LUCAS_COLUMNS}, index=range(n))
    t["OID_"] = np.arange(n) + 10612
    t["Point_ID"] = 44042412 + np.arange(n) * 1001
    t["long"] = rng.uniform(-10, 34, n)
    t["lat"] = rng.uniform(35, 70, n)
    t["OC"] = np.round(rng.lognormal(3.0, 0.8, n), 1)
    t["pH_CaCl2"] = 7.2
    t["LC"], t["LU"] = "B82", "U111"
    t["NUTS_0"], t["NUTS_1"], t["NUTS_2"], t["NUTS_3"] = "IT", "ITH", "ITH5", "ITH54"
    t["LC0_Desc"], t["LC1_Desc"] = "Cropland", "Vineyards"
    t["LU1_Desc"] = "Agriculture (excluding fallow land and kitchen gardens)"
    return t


def write_csv(table: pd.DataFrame, path, bom=True):
    table.to_csv(path, index=False, encoding="utf-8-sig" if bom else "utf-8")
    return path


# ---------------------------------------------------------------- points


def test_read_points_bom_24_columns(tmp_path):
    table = lucas_table()
    path = write_csv(table, tmp_path / "LUCAS_2015_all.csv")
    assert path.read_bytes()[:3] == b"\xef\xbb\xbf"  # the real file starts with a BOM
    points = read_points(path)
    assert list(points.columns) == list(LUCAS_COLUMNS)  # no "\ufeffOID_"
    assert points["Point_ID"].dtype == np.int64
    assert points["long"].dtype == np.float64 and points["OC"].dtype == np.float64
    np.testing.assert_array_equal(points["Point_ID"], table["Point_ID"])
    np.testing.assert_allclose(points["OC"], table["OC"])
    assert (points["LC0_Desc"] == "Cropland").all()


def test_read_points_without_bom_and_map_grid(tmp_path):
    table = lucas_table()[["Point_ID", "long", "lat"]]
    path = write_csv(table, tmp_path / "grid.csv", bom=False)
    grid = read_points(path, require_oc=False)
    assert "OC" not in grid.columns and len(grid) == 5


def test_read_points_id_column(tmp_path):
    table = lucas_table().rename(columns={"Point_ID": "POINTID"})
    points = read_points(write_csv(table, tmp_path / "p.csv"), id_column="POINTID")
    assert "Point_ID" in points.columns and "POINTID" not in points.columns


@pytest.mark.parametrize("dropped", ["OC", "lat", "Point_ID"])
def test_missing_columns_name_file_and_column(tmp_path, dropped):
    path = write_csv(lucas_table().drop(columns=dropped), tmp_path / "points.csv")
    with pytest.raises(DataFormatError, match=rf"points\.csv: missing column\(s\) {dropped}"):
        read_points(path)


def test_duplicate_point_ids(tmp_path):
    table = lucas_table()
    table.loc[3, "Point_ID"] = table.loc[1, "Point_ID"]
    path = write_csv(table, tmp_path / "points.csv")
    with pytest.raises(
        InconsistentDataError,
        match=rf"points\.csv: 1 duplicate Point_ID\(s\) \({table.loc[1, 'Point_ID']}\)",
    ):
        read_points(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -1.5, "n/a"])
def test_non_finite_or_negative_oc_names_ids(tmp_path, bad):
    table = lucas_table().astype({"OC": object})
    table.loc[2, "OC"] = bad
    pid = table.loc[2, "Point_ID"]
    path = write_csv(table, tmp_path / "points.csv")
    with pytest.raises(
        DataFormatError, match=rf"points\.csv: 1 point\(s\) have OC.*Point_ID {pid}"
    ):
        read_points(path)
    assert len(read_points(path, require_oc=False)) == 5  # a map grid does not need OC


def test_non_integer_point_ids_and_bad_coordinates(tmp_path):
    table = lucas_table().astype({"Point_ID": object})
    table.loc[0, "Point_ID"] = "A12"
    with pytest.raises(DataFormatError, match=r"not integers \(A12\)"):
        read_points(write_csv(table, tmp_path / "a.csv"))
    table = lucas_table()
    table.loc[4, "lat"] = 6_500_000.0  # metres, not degrees
    with pytest.raises(
        DataFormatError, match=rf"lat outside.*Point_ID {table.loc[4, 'Point_ID']}.*EPSG:4326"
    ):
        read_points(write_csv(table, tmp_path / "b.csv"))


def test_missing_point_table(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"nothing\.csv does not exist"):
        read_points(tmp_path / "nothing.csv")


# ---------------------------------------------------------------- climate


def climate_csv(
    path, ids, values, months=MONTHS, id_column="Point_ID", shuffle_seed=None, extra=True
):
    """Write one TerraClimate-style CSV: months in any order, RaCA-like metadata columns."""
    order = np.arange(len(months))
    if shuffle_seed is not None:
        order = np.random.default_rng(shuffle_seed).permutation(order)
    df = pd.DataFrame(np.asarray(values)[:, order], columns=[months[i] for i in order])
    if extra:  # as in the RaCA exports: after the months
        df["system:index"] = [f"{i:020d}" for i in range(len(ids))]
        df["SOCstock100"] = 100.1
    df[id_column] = ids
    df.to_csv(path, index=False)
    return path


def test_unordered_months_are_sorted_and_metadata_ignored(tmp_path):
    ids = ["A0108P92", "A0116P90", "A0116X97"]
    values = np.arange(3 * 61, dtype=float).reshape(3, 61)  # ascending in time per row
    climate_csv(tmp_path / "tmmx.csv", ids, values, id_column="rcasiteid", shuffle_seed=4)
    header = (tmp_path / "tmmx.csv").read_text().splitlines()[0].split(",")
    assert header[:61] != sorted(header[:61])  # really unordered on disk
    table = read_climate(tmp_path, ["tmmx"], id_column="rcasiteid")
    assert table.months == MONTHS
    assert table.values.shape == (3, 61, 1) and table.values.dtype == np.float32
    np.testing.assert_array_equal(table.values[:, :, 0], values)
    assert list(table.point_ids) == ids
    assert table.variables == ("tmmx",)


def test_integer_ids_and_variable_order(tmp_path):
    ids = [101, 102]
    climate_csv(tmp_path / "pr.csv", ids, np.full((2, 61), 1.0), shuffle_seed=1)
    climate_csv(tmp_path / "aet.csv", ids, np.full((2, 61), 2.0), shuffle_seed=2)
    table = read_climate(tmp_path, ["pr", "aet"])
    assert table.point_ids.dtype == np.int64 and list(table.point_ids) == ids
    assert (table.values[..., 0] == 1).all() and (table.values[..., 1] == 2).all()


def test_minus_999_is_missing_with_a_count(tmp_path):
    values = np.ones((2, 61))
    values[0, [3, 7]] = -999
    values[1, 60] = -999
    climate_csv(tmp_path / "swe.csv", [1, 2], values, shuffle_seed=0)
    with pytest.warns(MissingValuesWarning, match=r"swe\.csv: 3 of 122 values are -999"):
        table = read_climate(tmp_path, ["swe"])
    assert table.missing_count() == {"swe": 3}
    assert np.isnan(table.values[0, [3, 7], 0]).all() and np.isnan(table.values[1, 60, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning: the user said what -999 means
        zero = read_climate(tmp_path, ["swe"], missing_code_means="zero")
    assert zero.missing_count() == {"swe": 0}
    assert zero.values[0, 3, 0] == 0.0 and zero.values[0, 4, 0] == 1.0
    with pytest.raises(ValueError, match="missing_code_means"):
        read_climate(tmp_path, ["swe"], missing_code_means="nan")


def test_empty_or_text_cells_warn_with_a_count(tmp_path):
    path = climate_csv(tmp_path / "pr.csv", [1, 2], np.ones((2, 61)))
    df = pd.read_csv(path, dtype=str)
    df.loc[0, MONTHS[5]] = ""
    df.loc[1, MONTHS[6]] = "n/a"
    df.to_csv(path, index=False)
    with pytest.warns(
        MissingValuesWarning, match=r"pr\.csv: 2 of 122 values are empty or not numbers"
    ):
        table = read_climate(tmp_path, ["pr"])
    assert table.missing_count() == {"pr": 2}


@pytest.mark.parametrize("bad", ["2010013", "20101301", "2010-02-01", "20100230"])
def test_unparsable_month_column(tmp_path, bad):
    months = MONTHS[:-1] + (bad,)
    climate_csv(tmp_path / "pet.csv", [1], np.ones((1, 61)), months=months)
    with pytest.raises(
        DataFormatError, match=rf"pet\.csv: column '{bad}' is not a month of the form YYYYMMDD"
    ):
        read_climate(tmp_path, ["pet"])


def test_different_month_sets_across_files(tmp_path):
    climate_csv(tmp_path / "pr.csv", [1, 2], np.ones((2, 61)))
    climate_csv(tmp_path / "tmmn.csv", [1, 2], np.ones((2, 60)), months=MONTHS[:-1])
    with pytest.raises(
        InconsistentDataError,
        match=r"pr\.csv and tmmn\.csv have different months \(only in pr: 20150101",
    ):
        read_climate(tmp_path, ["pr", "tmmn"])
    common = read_climate(tmp_path, ["pr", "tmmn"], months=MONTHS[:-1])  # the fix it suggests
    assert common.values.shape == (2, 60, 2)
    with pytest.raises(
        InconsistentDataError, match=r"tmmn\.csv: requested month\(s\) 20150101 are absent"
    ):
        read_climate(tmp_path, ["pr", "tmmn"], months=MONTHS)


def test_files_cover_different_points(tmp_path):
    climate_csv(tmp_path / "pr.csv", [1, 2, 3], np.ones((3, 61)))
    climate_csv(tmp_path / "vs.csv", [1, 2, 4], np.ones((3, 61)))
    with pytest.raises(
        InconsistentDataError, match=r"cover different points \(1 only in pr: 3; 1 only in vs: 4\)"
    ):
        read_climate(tmp_path, ["pr", "vs"])


def test_duplicate_ids_missing_id_column_and_missing_file(tmp_path):
    climate_csv(tmp_path / "pr.csv", [1, 2, 2], np.arange(3 * 61.0).reshape(3, 61))
    with pytest.raises(
        InconsistentDataError, match=r"pr\.csv: 1 duplicate ID\(s\) \(2\) whose rows differ"
    ):
        read_climate(tmp_path, ["pr"])
    climate_csv(tmp_path / "ro.csv", [1, 2], np.ones((2, 61)), id_column="site")
    with pytest.raises(DataFormatError, match=r"ro\.csv: no ID column 'Point_ID'.*id_column="):
        read_climate(tmp_path, ["ro"])
    with pytest.raises(DatasetNotFoundError, match=r"srad\.csv does not exist \(found: pr, ro\)"):
        read_climate(tmp_path, ["srad"])
    with pytest.raises(ValueError, match="no variables"):
        read_climate(tmp_path, [])


def test_write_read_climate_round_trip(tmp_path):
    rng = np.random.default_rng(5)
    values = rng.uniform(0, 300, size=(4, 61, 2)).astype(np.float32)
    values[1, 10, 0] = np.nan  # written as -999
    table = ClimateTable(values, np.array([11, 12, 13, 14]), MONTHS, ("pr", "srad"))
    paths = write_climate(tmp_path, table, shuffle_months_seed=3)
    assert [p.name for p in paths] == ["pr.csv", "srad.csv"]
    assert "-999" in (tmp_path / "pr.csv").read_text()
    with pytest.warns(MissingValuesWarning, match="1 of 244"):
        back = read_climate(tmp_path, ["pr", "srad"])
    assert back.months == MONTHS
    np.testing.assert_array_equal(back.point_ids, table.point_ids)
    np.testing.assert_allclose(back.values, values, rtol=1e-5, equal_nan=True)


# ---------------------------------------------------------------- hostile input


@pytest.mark.parametrize("content", ["", "Point_ID,long,lat,OC\n"], ids=["zero-byte", "header"])
def test_empty_point_table_is_named(tmp_path, content):
    path = tmp_path / "points.csv"
    path.write_text(content)
    what = "is empty" if not content else "has a header but no rows"
    with pytest.raises(
        DataFormatError, match=rf"points\.csv {what}.*export the point table again"
    ) as info:
        read_points(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("content", ["", f"Point_ID,{MONTHS[0]}\n"], ids=["zero-byte", "header"])
def test_empty_climate_file_is_named(tmp_path, content):
    climate_csv(tmp_path / "pr.csv", [1, 2], np.ones((2, 61)))
    (tmp_path / "srad.csv").write_text(content)
    what = "is empty" if not content else "has a header but no rows"
    with pytest.raises(DataFormatError, match=rf"srad\.csv {what}.*CLI: --variables") as info:
        read_climate(tmp_path, ["pr", "srad"])
    assert str(tmp_path / "srad.csv") in str(info.value)


def test_latin1_tables_are_read_with_a_warning(tmp_path):
    table = lucas_table()
    table.loc[0, "LC1_Desc"] = "Prés et pâturages"
    path = tmp_path / "points.csv"
    table.to_csv(path, index=False, encoding="latin-1")
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")  # really not UTF-8
    with pytest.warns(FileEncodingWarning, match=rf"{path}.* is not UTF-8; it was read as cp1252"):
        points = read_points(path)
    assert points.loc[0, "LC1_Desc"] == "Prés et pâturages" and len(points) == 5

    climate = pd.read_csv(climate_csv(tmp_path / "pr.csv", [1, 2], np.ones((2, 61))))
    climate["site"] = ["Zürich", "Köln"]
    climate.to_csv(tmp_path / "pr.csv", index=False, encoding="latin-1")
    with pytest.warns(FileEncodingWarning, match=r"pr\.csv is not UTF-8; it was read as cp1252"):
        back = read_climate(tmp_path, ["pr"])
    assert back.values.shape == (2, 61, 1)


def test_every_point_table_problem_is_reported_at_once(tmp_path):
    table = lucas_table(n=12).astype({"Point_ID": object, "OC": object})
    table.loc[0, "Point_ID"] = "X1"
    table.loc[2, "Point_ID"] = table.loc[1, "Point_ID"]
    far = [3, 4, 5, 6, 7, 8, 9]  # more than the five a message lists
    table.loc[far, "long"] = 500.0
    table.loc[10, "lat"] = -91.0
    table.loc[11, "OC"] = -2.0
    path = write_csv(table, tmp_path / "points.csv")
    with pytest.raises(DataFormatError) as info:
        read_points(path)
    message = str(info.value)
    ids = table["Point_ID"]
    assert message.startswith(f"{path}: 5 kinds of problem.")
    assert "not integers (X1)" in message
    assert f"1 duplicate Point_ID(s) ({ids[1]}) on 2 rows" in message
    assert "7 point(s) have long outside [-180, 180]" in message and "(7 in all)" in message
    assert f"lat outside [-90, 90] or not a number (Point_ID {ids[10]})" in message
    assert f"have OC that is missing, non-finite or negative (Point_ID {ids[11]})" in message
    assert "EPSG:4326 degrees" in message and "--id-column" in message  # what to do
    # Every affected row is listed, not only the first five.
    _, problems = check_points(path)
    by_kind = {p.problem: p for p in problems}
    assert by_kind["long out of range"].ids == ids[far].tolist()
    assert by_kind["long out of range"].lines == [i + 2 for i in far]
    assert by_kind["duplicate Point_ID"].ids == [ids[1], ids[1]]


def test_identical_climate_duplicates_are_merged_conflicts_refused_in_every_file(tmp_path):
    values = np.arange(4 * 61.0).reshape(4, 61)
    # The authors' exports repeat sites as identical rows (metadata such as system:index differs).
    climate_csv(tmp_path / "pr.csv", [1, 2, 3, 2, 3, 4], values[[0, 1, 2, 1, 2, 3]])
    climate_csv(tmp_path / "srad.csv", [1, 2, 3, 4, 4], values[[0, 1, 2, 3, 3]])
    with pytest.warns(DuplicateRowsWarning) as caught:
        table = read_climate(tmp_path, ["pr", "srad"])
    messages = [str(w.message) for w in caught]
    assert any(re.search(r"pr\.csv: 2 ID\(s\) .*identical values \(2, 3\)", m) for m in messages)
    assert any(re.search(r"srad\.csv: 1 ID\(s\) .*identical values \(4\)", m) for m in messages)
    assert list(table.point_ids) == [1, 2, 3, 4]
    np.testing.assert_array_equal(table.values[:, :, 0], values)
    assert table.merged_duplicates == {
        str(tmp_path / "pr.csv"): [2, 3],
        str(tmp_path / "srad.csv"): [4],
    }

    # Rows that differ are refused: every file's conflicts in one error.
    other = values.copy()
    other[3, 5] += 1.0
    climate_csv(tmp_path / "pr.csv", [1, 2, 3, 4, 4], np.vstack([values, other[3]]))
    climate_csv(tmp_path / "srad.csv", [1, 1, 2, 3, 4], np.vstack([values[0] + 1, values]))
    with pytest.raises(InconsistentDataError) as info:
        read_climate(tmp_path, ["pr", "srad"])
    message = str(info.value)
    assert f"{tmp_path / 'pr.csv'}: 1 duplicate ID(s) (4) whose rows differ" in message
    assert f"{tmp_path / 'srad.csv'}: 1 duplicate ID(s) (1) whose rows differ" in message
    assert "Keep one row per point" in message
