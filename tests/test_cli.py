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


# ---------------------------------------------------------------- hostile input


def test_empty_or_unusable_inputs_never_exit_0(copy_twin, tmp_path, capsys):
    common = ["--profile", "smoke", "--work-dir", str(tmp_path / "work"), "--size", "16"]
    common += ["--variables", "pr", "--on-missing", "drop"]
    points = copy_twin / "points.csv"
    saved = points.read_bytes()
    points.write_bytes(b"")
    assert main(["consolidate", str(copy_twin), *common]) == 2
    err = capsys.readouterr().err
    assert f"{points} is empty (0 bytes" in err and "export the point table again" in err
    points.write_bytes(saved)

    climate = copy_twin / "climate" / "pr.csv"
    climate.write_text(climate.read_text().splitlines()[0] + "\n")  # the header alone
    assert main(["consolidate", str(copy_twin), *common]) == 2
    err = capsys.readouterr().err
    assert f"{climate} has a header but no rows" in err and "--no-climate" in err
    assert main(["split", str(copy_twin), *common]) == 2
    assert "consolidate" in capsys.readouterr().err

    common[common.index("pr")] = "tmmx"
    ids = sorted(int(p.name.split("_")[0]) for p in (copy_twin / "patches").glob("*.tif"))
    for path in (copy_twin / "patches").glob("*.tif"):
        path.unlink()
    assert main(["consolidate", str(copy_twin), *common]) == 2
    err = capsys.readouterr().err
    assert "no usable point is left" in err and "48 point has no patch" in err
    (report,) = (tmp_path / "work" / "stores").glob("*.report.csv")
    assert f"all are listed in {report}" in err
    assert sorted(pd.read_csv(report)["point_id"]) == ids  # every point, not the first five
    assert main(["split", str(copy_twin), *common]) == 2
    assert f"stopped on problems in the data, listed in {report}" in capsys.readouterr().err


def test_id_column_and_months_flags(copy_twin, tmp_path, capsys):
    common = ["--profile", "smoke", "--work-dir", str(tmp_path / "work"), "--size", "16"]
    common += ["--variables", "pr", "tmmx"]
    points = pd.read_csv(copy_twin / "points.csv", encoding="utf-8-sig")
    points.rename(columns={"Point_ID": "POINT_ID"}).to_csv(
        copy_twin / "points.csv", index=False, encoding="utf-8-sig"
    )
    tmmx = copy_twin / "climate" / "tmmx.csv"
    pd.read_csv(tmmx).drop(columns="20150101").to_csv(tmmx, index=False)
    assert main(["consolidate", str(copy_twin), *common]) == 2
    err = capsys.readouterr().err
    assert f"{copy_twin / 'points.csv'}: missing column(s) Point_ID" in err
    assert "pass id_column= (CLI: --id-column)" in err
    common += ["--id-column", "POINT_ID"]
    assert main(["consolidate", str(copy_twin), *common]) == 2
    err = capsys.readouterr().err
    assert "tmmx.csv have different months" in err and "(CLI: --months)" in err
    common += ["--months", "20100101:20141201"]
    assert main(["consolidate", str(copy_twin), *common]) == 0
    assert "48 points" in capsys.readouterr().out
    assert main(["split", str(copy_twin), *common, "--block-km", "400", "--k", "3"]) == 0
    assert main(["consolidate", str(copy_twin), *common[:-1], "2010-01"]) == 2
    assert "--months takes YYYYMMDD labels" in capsys.readouterr().err


#: Python arguments that a message may advise; through the CLI the user needs the flag.
PYTHON_ARGUMENTS = ("on_missing=", "months=", "id_column=", "missing_code_means=", "resume=")


def _texts():
    """(module, text, is_message) of every string literal in soilnet; is_message when it is
    the message of a raise or of warnings.warn (f-string parts joined, values left out)."""
    import ast
    import pkgutil

    import soilnet

    def text(node) -> str:
        return "".join(str(n.value) for n in ast.walk(node) if isinstance(n, ast.Constant))

    for info in pkgutil.walk_packages(soilnet.__path__, "soilnet."):
        path = Path(__import__(info.name, fromlist=["_"]).__file__)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.JoinedStr, ast.Constant)) and isinstance(
                getattr(node, "value", ""), str
            ):
                yield info.name, text(node), False
            call = node.exc if isinstance(node, ast.Raise) else node
            if (
                isinstance(call, ast.Call)
                and call.args
                and (isinstance(node, ast.Raise) or ast.unparse(call.func) == "warnings.warn")
            ):
                yield info.name, text(call.args[0]), True


def test_messages_that_advise_python_arguments_name_existing_cli_flags():
    import argparse
    import re

    from soilnet.cli import build_parser

    (sub,) = (a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    flags = {o for p in sub.choices.values() for o in p._option_string_actions}
    checked = set()
    for module, text, is_message in _texts():
        if is_message and any(arg in text for arg in PYTHON_ARGUMENTS):
            assert "CLI" in text or "--" in text, f"{module}: {text!r} names no CLI flag"
        for segment in re.findall(r"CLI: ([^)]*)", text):
            for flag in re.findall(r"--[a-z][a-z-]*", segment):
                assert flag in flags, f"{module}: {text!r} names {flag}, which the CLI lacks"
                checked.add(flag)
    assert {"--on-missing", "--id-column", "--climate-id-column", "--months"} <= checked
    assert {"--block-km", "--k", "--variables", "--missing-code-means", "--out"} <= checked
