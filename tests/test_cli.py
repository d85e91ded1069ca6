"""The command line: twin, consolidate, split and train end to end on a tiny twin, with
defaults from the profile and content-addressed outputs in the workspace."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from soilnet.cli import main


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def test_twin_consolidate_split_train(tmp_path, capsys):
    data, work = tmp_path / "twin", tmp_path / "work"
    assert (
        main(["twin", "--profile", "smoke", "--points", "40", "--out", str(data), "--quiet"]) == 0
    )
    summary = json.loads((data / "twin.json").read_text())
    assert summary["n_points"] == 40
    before = _files(data)
    common = ["--profile", "smoke", "--work-dir", str(work), "--size", "16"]
    assert main(["consolidate", str(data), *common]) == 0
    assert main(["split", str(data), *common, "--block-km", "400", "--k", "3"]) == 0
    (split_dir,) = (work / "splits").iterdir()
    assert (split_dir / "random.csv").is_file() and (split_dir / "spatial.csv").is_file()
    capsys.readouterr()
    code = main(
        ["train", "--variant", "resnet18_glam_lstm", "--data", str(data), *common,
         "--block-km", "400", "--k", "3", "--epochs", "1", "--set", "train.lr=1e-3",
         "--device", "cpu"]
    )  # fmt: skip
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["best_epoch"] == 1
    assert set(printed["test"]) >= {"rmse", "r2", "mae", "ccc", "rpiq", "bias"}
    out = Path(printed["out"])
    assert out.parent == work / "runs"  # content-addressed run folder in the workspace
    record = json.loads((out / "run.json").read_text())
    # Defaults come from the smoke profile, flags and --set override them.
    assert record["train_config"]["lr"] == 1e-3 and record["train_config"]["epochs"] == 1
    assert record["train_config"]["stem_maxpool"] is False  # the smoke profile's, no flag
    preds = pd.read_csv(out / "predictions.csv")
    assert set(preds["split"]) == {"train", "val", "test"} and len(preds) == 40
    assert _files(data) == before, "the data folder was written to"


def test_train_refuses_a_store_of_older_data(tmp_path, capsys):
    data, work = tmp_path / "twin", tmp_path / "work"
    main(["twin", "--profile", "smoke", "--points", "30", "--out", str(data), "--quiet"])
    common = ["--profile", "smoke", "--work-dir", str(work), "--size", "16"]
    assert main(["consolidate", str(data), *common]) == 0
    patch = sorted((data / "patches").glob("*.tif"))[0]
    os.utime(patch, ns=(patch.stat().st_atime_ns, patch.stat().st_mtime_ns + 10**9))
    capsys.readouterr()
    code = main(["train", "--variant", "resnet18", "--data", str(data), *common, "--epochs", "1"])
    assert code == 2
    err = capsys.readouterr().err
    assert "earlier contents" in err and "consolidate" in err


def test_bad_input_is_a_message_not_a_traceback(tmp_path, capsys):
    code = main(["consolidate", str(tmp_path / "nowhere"), "--work-dir", str(tmp_path / "w")])
    assert code == 2
    err = capsys.readouterr().err
    assert "nowhere" in err and "does not exist" in err


def test_unknown_variant_and_setting_are_named(tmp_path, capsys):
    code = main(
        ["train", "--variant", "resnet99", "--data", str(tmp_path), "--work-dir", str(tmp_path)]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "resnet99" in err and "resnet18_glam_lstm" in err
    code = main(["consolidate", str(tmp_path), "--set", "train.learning_rate=1"])
    assert code == 2
    err = capsys.readouterr().err
    assert "train.learning_rate" in err and "lr" in err


def test_clip_must_be_positive(tmp_path, capsys):
    code = main(
        ["train", "--variant", "resnet18", "--data", str(tmp_path), "--work-dir", str(tmp_path),
         "--clip", "-5"]
    )  # fmt: skip
    assert code == 2
    assert "--no-clip" in capsys.readouterr().err


def test_random_split_refuses_a_fold(tmp_path, capsys, twin_dir):
    work = tmp_path / "work"
    common = ["--profile", "smoke", "--work-dir", str(work), "--size", "16"]
    assert main(["split", str(twin_dir), *common]) == 2  # no store yet: says what to run
    assert "consolidate" in capsys.readouterr().err
    assert main(["consolidate", str(twin_dir), *common]) == 0
    assert main(["split", str(twin_dir), *common, "--block-km", "400", "--k", "3"]) == 0
    capsys.readouterr()
    code = main(
        ["train", "--variant", "resnet18", "--data", str(twin_dir), *common, "--block-km", "400",
         "--k", "3", "--fold", "1"]
    )  # fmt: skip
    assert code == 2
    assert "random split" in capsys.readouterr().err
