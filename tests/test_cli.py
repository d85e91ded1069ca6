"""The command line: twin, consolidate, split and train end to end on a tiny twin."""

from __future__ import annotations

import json

import pandas as pd

from soilnet.cli import main


def test_twin_consolidate_split_train(tmp_path, capsys):
    data = tmp_path / "twin"
    assert (
        main(["twin", "--profile", "smoke", "--points", "40", "--out", str(data), "--quiet"]) == 0
    )
    summary = json.loads((data / "twin.json").read_text())
    assert summary["n_points"] == 40
    assert main(["consolidate", str(data), "--size", "16"]) == 0
    assert main(["split", str(data), "--size", "16", "--block-km", "400", "--k", "3"]) == 0
    assert (data / "splits" / "random_seed0.csv").is_file()
    capsys.readouterr()
    out = tmp_path / "run"
    code = main(
        ["train", "--variant", "resnet18_glam_lstm", "--data", str(data), "--size", "16", "--out", str(out),
         "--epochs", "1", "--lr", "1e-3", "--no-maxpool", "--device", "cpu"]
    )  # fmt: skip
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["best_epoch"] == 1 and set(printed["test"]) >= {
        "rmse",
        "r2",
        "mae",
        "ccc",
        "rpiq",
        "bias",
    }
    preds = pd.read_csv(out / "predictions.csv")
    assert set(preds["split"]) == {"train", "val", "test"} and len(preds) == 40


def test_bad_input_is_a_message_not_a_traceback(tmp_path, capsys):
    code = main(["consolidate", str(tmp_path / "nowhere")])
    assert code == 2
    err = capsys.readouterr().err
    assert "nowhere" in err and "does not exist" in err


def test_unknown_variant_lists_the_accepted_ones(tmp_path, capsys, twin_dir, twin_store):
    from soilnet.splits import write_splits

    write_splits(
        twin_dir,
        twin_store.point_ids,
        twin_store.index[["x_3035", "y_3035"]].to_numpy(),
        block_km=300,
        k=3,
    )
    code = main(
        [
            "train",
            "--variant",
            "resnet99",
            "--data",
            str(twin_dir),
            "--size",
            "16",
            "--out",
            str(tmp_path / "r"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "resnet99" in err and "resnet18_glam_lstm" in err
