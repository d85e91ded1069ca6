"""Reading the authors' files: missing folders and files, and columns, are named."""

from __future__ import annotations

import pandas as pd
import pytest

from soilnet import audit
from soilnet.cli import main
from soilnet.errors import DataFormatError, DatasetNotFoundError

from .fake_repo import FILES


def test_csv_without_expected_columns_is_named(repo):
    path = repo.root / "results" / FILES["ResNet-101"].test_file
    pd.read_csv(path).rename(columns={"y_pred": "prediction"}).to_csv(path, index=False)
    with pytest.raises(DataFormatError, match="y_pred") as err:
        audit.read_published(repo.root, audit.read_lucas(repo.root))
    assert FILES["ResNet-101"].test_file in str(err.value)


def test_missing_reference_folder(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="not a folder"):
        audit.run_audit(tmp_path / "nowhere", tmp_path / "out")


def test_cli_names_a_missing_results_folder(tmp_path, capsys):
    (tmp_path / "SoilNet").mkdir()
    assert (
        main(["audit", "--reference", str(tmp_path / "SoilNet"), "--out", str(tmp_path / "o")]) == 2
    )
    err = capsys.readouterr().err
    assert "results" in err and "github.com/moienr/SoilNet" in err


def test_cli_names_a_missing_prediction_file(repo, tmp_path, capsys):
    (repo.root / "results" / FILES["RF"].test_file).unlink()
    assert main(["audit", "--reference", str(repo.root), "--out", str(tmp_path / "o")]) == 2
    assert FILES["RF"].test_file in capsys.readouterr().err


def test_cli_names_a_missing_lucas_table(repo, tmp_path, capsys):
    (repo.root / audit.LUCAS_PATH).unlink()
    assert main(["audit", "--reference", str(repo.root), "--out", str(tmp_path / "o")]) == 2
    assert "LUCAS_2015_all.csv" in capsys.readouterr().err
