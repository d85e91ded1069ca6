"""Tests for soilnet.acquire.cli: the ``acquire`` sub-command wired to the loopback server."""

from __future__ import annotations

import argparse

import pandas as pd
import pytest

from soilnet.acquire.cli import add_acquire_parser


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="soilnet")
    add_acquire_parser(parser.add_subparsers(dest="command", required=True))
    return parser


def test_cli_wiring(world, server, tmp_path, capsys):
    points = world.points_csv(tmp_path / "p.csv", ("winter", "fallback"))
    args = _parser().parse_args(
        ["acquire", "--points", str(points), "--out", str(tmp_path / "cli"),
         "--stac-url", server.stac_url, "--terraclimate-url", world.tc, "--variables", "pr,tmmx",
         "--signer", "none", "--workers", "2", "--limit", "1", "--no-progress", "--retries", "1"]
    )  # fmt: skip
    assert args.func(args) == 0
    assert "ok" in capsys.readouterr().out
    assert pd.read_csv(tmp_path / "cli" / "points.csv")["Point_ID"].tolist() == [90000001]
    assert sorted(p.name for p in (tmp_path / "cli" / "climate").iterdir()) == [
        "pr.csv",
        "tmmx.csv",
    ]


def test_cli_signing_options(world, blob_server, tmp_path):
    points = world.points_csv(tmp_path / "p.csv", ("winter",))
    args = _parser().parse_args(
        ["acquire", "--points", str(points), "--out", str(tmp_path / "cli"),
         "--stac-url", blob_server.stac_url, "--terraclimate-url", world.tc, "--variables", "none",
         "--signer", "planetary-computer", "--sas-url", blob_server.sas_url, "--no-progress",
         "--retries", "1"]
    )  # fmt: skip
    assert args.func(args) == 0
    assert any(r["path"].startswith("/sas/token/") for r in blob_server.log)
    assert (tmp_path / "cli" / "patches" / "90000001_150213.tif").is_file()


@pytest.mark.parametrize(
    "bad",
    [
        ["--variables", "rain"],
        ["--limit", "0"],
        ["--start", "2010"],
        ["--workers", "x"],
        ["--signer", "http://127.0.0.1/sas/{collection}"],
    ],
)
def test_cli_rejects_bad_arguments(bad):
    with pytest.raises(SystemExit):
        _parser().parse_args(["acquire", "--points", "p", "--out", "o", *bad])
