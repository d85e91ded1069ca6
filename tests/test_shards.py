"""Spreading the book's network runs over jobs (``soilnet runs --shard i/n``) and collecting
them in chapter 2 (``train=False``), which names every run still missing."""

from __future__ import annotations

import json

import pytest
from conftest import TINY_STUDY

from soilnet.cli import main
from soilnet.errors import ConfigurationError, MissingOutputError
from soilnet.experiment import network_plan, network_runs, prepare_data, train_networks
from soilnet.shards import Shard
from soilnet.twin import TwinConfig, write_twin
from soilnet.workspace import Study


def test_shards_are_disjoint_and_cover_the_list():
    items = list(range(11))
    shares = [Shard(i, 4).take(items) for i in range(4)]
    assert sorted(x for share in shares for x in share) == items
    assert [len(s) for s in shares] == [3, 3, 3, 2]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "3"}, Shard(3, 8)),
        # SLURM arrays may start at 1 (--array=1-4): the share counts from the first task.
        (
            {
                "SLURM_ARRAY_TASK_ID": "2",
                "SLURM_ARRAY_TASK_COUNT": "4",
                "SLURM_ARRAY_TASK_MIN": "1",
            },
            Shard(1, 4),
        ),
        ({"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "2"}, Shard(0, 2)),
        ({}, Shard(0, 1)),
    ],
)
def test_shard_from_torchrun_or_slurm_environment(env, expected):
    assert Shard.from_env(env) == expected


@pytest.mark.parametrize("text", ["4/4", "-1/3", "1", "a/b", "1/0"])
def test_a_bad_shard_is_refused_with_the_form_it_takes(text):
    with pytest.raises(ConfigurationError, match="i/n"):
        Shard.parse(text)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A tiny study after chapter 1 only: ResNet-18 and GLAM, one seed, random + 2 folds."""
    root = tmp_path_factory.mktemp("shards")
    write_twin(root / "twin", TwinConfig(n_points=40, patch_size_px=16, seed=5))
    overrides = [*TINY_STUDY, "experiment.variants=[resnet18, resnet18_glam]"]
    study = Study.create("smoke", str(root / "twin"), str(root / "work"), overrides, "cpu")
    prepare_data(study)
    return study, overrides


def test_chapter_2_collecting_refuses_and_names_every_missing_run(prepared):
    study, _ = prepared
    plan = [k for k in network_plan(study) if k.protocol == "random"]
    with pytest.raises(MissingOutputError) as err:
        train_networks(study, "random", train=False)
    message = str(err.value)
    assert f"{len(plan)} network run(s)" in message
    for key in plan:
        assert key.describe() in message
    assert "--shard i/n" in message


def test_two_shard_jobs_train_every_run_once_and_chapter_2_collects_them(
    prepared, capsys, one_thread
):
    study, overrides = prepared
    plan = network_plan(study)
    assert len(plan) == 2 + 2  # random: 2 variants; spatial: ResNet-18 x 2 folds; 1 seed
    common = ["--profile", "smoke", "--work-dir", str(study.work_dir), "--device", "cpu"]
    for arg in overrides:
        common += ["--set", arg]
    trained = []
    for i in range(2):
        assert main(["runs", "--shard", f"{i}/2", *common]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert all(line.startswith("trained") for line in lines)
        trained += lines
    assert len(trained) == len(plan)
    for protocol in ("random", "spatial"):
        collected = train_networks(study, protocol, train=False)
        assert len(collected) == len([k for k in plan if k.protocol == protocol])
        assert collected.equals(network_runs(study, protocol))
    # A shard run again finds its runs finished and trains nothing.
    assert main(["runs", "--shard", "1/2", *common]) == 0
    assert all(line.startswith("reused") for line in capsys.readouterr().out.splitlines())
    records = [json.loads(p.read_text()) for p in study.runs_dir.glob("*/run.json")]
    assert len(records) == len(plan)


def test_map_tiles_are_split_between_ranks_without_overlap():
    from soilnet.dataset import _cell_slices

    every = [(s.start, s.stop) for s in _cell_slices(30, 8)]
    ranks = [[(s.start, s.stop) for s in _cell_slices(30, 8, Shard(r, 2))] for r in range(2)]
    assert ranks == [[(0, 8), (16, 24)], [(8, 16), (24, 30)]]
    assert sorted(ranks[0] + ranks[1]) == every
