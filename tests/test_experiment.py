"""soilnet.experiment: content-addressed runs over protocol x fold x model x seed."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import TINY_STUDY as TINY

from soilnet.checkpoint import load_model
from soilnet.dataset import TargetTransform, load_tensors
from soilnet.errors import ConfigConflictError, MissingOutputError
from soilnet.experiment import (
    hybrid_variant,
    network_run_dirs,
    network_runs,
    plan,
    prepare_data,
    run_baselines,
    train_networks,
)
from soilnet.inference import predict
from soilnet.metrics import regression_metrics
from soilnet.twin import TwinConfig, write_twin
from soilnet.workspace import Study


@pytest.fixture(scope="module")
def two_datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("ab")
    write_twin(root / "A", TwinConfig(n_points=40, patch_size_px=16, seed=11))
    write_twin(root / "B", TwinConfig(n_points=44, patch_size_px=16, seed=12))
    return root


def test_data_a_then_b_in_one_workspace_gives_two_runs_trained_on_each(two_datasets, tmp_path):
    work = tmp_path / "work"
    results = {}
    for name in ("A", "B"):
        study = Study.create("smoke", str(two_datasets / name), str(work), TINY, "cpu")
        prepare_data(study)
        study = Study.open("smoke", None, str(work), TINY, "cpu")
        table = train_networks(study, "random")
        (run,) = network_run_dirs(study, "random").values()
        results[name] = (study, run, table)
    (_, run_a, _), (study_b, run_b, table_b) = results["A"], results["B"]
    assert run_a != run_b and run_a.is_dir() and run_b.is_dir()
    store_b = study_b.store()
    record_b = json.loads((run_b / "run.json").read_text())
    assert record_b["inputs"]["store"] == store_b.fingerprint
    assert record_b["n"]["train"] + record_b["n"]["val"] + record_b["n"]["test"] == 44
    # B's reported metrics are those of the weights in B's run folder, on B's test points.
    model, norm, record = load_model(run_b)
    target = TargetTransform(record["inputs"]["target_transform"]["clip_g_per_kg"])
    tensors = load_tensors(store_b, norm, target)
    split = study_b.split("random", None, store_b)
    pred = predict(model, tensors["image"], tensors["climate"], split.test)
    observed = target.target_g_per_kg(store_b.index["oc_g_per_kg"].to_numpy())[split.test]
    np.testing.assert_allclose(regression_metrics(observed, pred)["rmse"], table_b["rmse"].iloc[0])
    # A's run is still A's.
    record_a = json.loads((run_a / "run.json").read_text())
    assert record_a["inputs"]["store"] != store_b.fingerprint


def test_identical_inputs_reuse_runs_and_changed_settings_do_not(two_datasets, tmp_path):
    work = tmp_path / "work"
    study = Study.create("smoke", str(two_datasets / "A"), str(work), TINY, "cpu")
    prepare_data(study)
    train_networks(study, "random")
    (run,) = network_run_dirs(study, "random").values()
    stamp = (run / "best.pt").stat().st_mtime_ns
    train_networks(study, "random")  # reused: nothing retrained
    assert (run / "best.pt").stat().st_mtime_ns == stamp
    other = Study.create(
        "smoke", str(two_datasets / "A"), str(work), [*TINY, "train.lr=0.01"], "cpu"
    )
    prepare_data(other)
    with pytest.raises(MissingOutputError, match=r"resnet18 seed 0 \(random\).*chapter 2"):
        network_runs(other, "random")  # the earlier run is not taken for this configuration
    train_networks(other, "random")
    (run2,) = network_run_dirs(other, "random").values()
    assert run2 != run


def test_selection_outside_the_recorded_configuration_is_refused(two_datasets, tmp_path):
    study = Study.create("smoke", str(two_datasets / "A"), str(tmp_path / "w"), TINY, "cpu")
    prepare_data(study)
    with pytest.raises(ConfigConflictError, match="resnet18_glam.*experiment.variants"):
        plan(study, "network", "random", models=["resnet18_glam"])
    assert [k.seed for k in plan(study, "network", "random", seeds="[0]")] == [0]
    assert [k.fold for k in plan(study, "baselines", "spatial")] == [0, 1]


def test_baseline_runs_are_folders_with_predictions(two_datasets, tmp_path):
    study = Study.create("smoke", str(two_datasets / "A"), str(tmp_path / "w"), TINY, "cpu")
    prepare_data(study)
    table = run_baselines(study, "random")
    assert set(table["model"]) == {"null", "rf_paper", "rf_strong", "geo_knn"}
    (folder,) = [
        p for p in (tmp_path / "w" / "runs").iterdir() if (p / "predictions.csv").is_file()
    ]
    record = json.loads((folder / "run.json").read_text())
    assert record["kind"] == "baselines" and record["store"] == study.store().fingerprint


def test_hybrid_is_chosen_by_its_climate_branch():
    assert (
        hybrid_variant(["resnet18", "resnet18_glam_lstm", "resnet18_glam"]) == "resnet18_glam_lstm"
    )
    assert hybrid_variant(["resnet18", "lstm"]) == "lstm"
    assert hybrid_variant(["resnet18", "resnet18_glam"]) == "resnet18_glam"


def test_references_are_the_noise_floor_and_the_observable_reference(two_datasets, tmp_path):
    """reference_runs scores truth.csv's noise_floor_clipped and observable_reference_clipped
    against the same clipped targets as the models, on each test set."""
    import pandas as pd

    from soilnet.experiment import TWIN_REFERENCES, reference_runs

    study = Study.create("smoke", str(two_datasets / "A"), str(tmp_path / "w"), TINY, "cpu")
    prepare_data(study)
    truth = pd.read_csv(two_datasets / "A" / "truth.csv").set_index("Point_ID")
    store = study.store()
    target = TargetTransform(study.config.train.clip_g_per_kg)
    observed = target.target_g_per_kg(store.index["oc_g_per_kg"].to_numpy())
    for protocol in ("random", "spatial"):
        runs = reference_runs(study, protocol)
        assert list(runs["model"].unique()) == ["noise_floor", "observable_reference"]
        for fold in study.folds(protocol):
            test = study.split(protocol, fold, store).test
            for name, column in TWIN_REFERENCES.items():
                row = runs[
                    (runs["model"] == name) & (runs["fold"] == (-1 if fold is None else fold))
                ]
                ref = truth.loc[store.point_ids, column].to_numpy()[test]
                expected = regression_metrics(observed[test], ref)["rmse"]
                assert float(row["rmse"].iloc[0]) == pytest.approx(expected)


def test_an_older_truth_table_gets_the_references_by_rerendering(two_datasets, tmp_path):
    """A twin whose truth.csv predates the reference columns gets them from its twin.json world
    (the same values write_twin stores); a truth.csv the world does not reproduce is refused."""
    import shutil

    import pandas as pd

    from soilnet.errors import ConfigurationError
    from soilnet.experiment import TWIN_REFERENCES, twin_truth

    data = tmp_path / "twin-old"
    shutil.copytree(two_datasets / "A", data)
    full = pd.read_csv(data / "truth.csv")
    new = [*TWIN_REFERENCES.values(), "soil_visible"]
    full.drop(columns=new).to_csv(data / "truth.csv", index=False)
    study = Study.create("smoke", str(data), str(tmp_path / "w"), TINY, "cpu")
    truth = twin_truth(study)
    for column in TWIN_REFERENCES.values():
        np.testing.assert_allclose(truth[column], full[column], rtol=1e-12)
    full.drop(columns=new).assign(OC=full["OC"] + 1.0).to_csv(data / "truth.csv", index=False)
    with pytest.raises(ConfigurationError, match="does not reproduce"):
        twin_truth(study)


def test_a_twin_of_another_noise_revision_is_refused(tmp_path):
    """A counter twin written before its scheme's values changed (no revision in twin.json)
    renders other cells than its points: the world is not rebuilt from it, and the error says
    to regenerate; the current revision is rebuilt."""
    import json

    from soilnet.errors import ConfigurationError
    from soilnet.experiment import _twin_world
    from soilnet.twin import TwinConfig, write_twin
    from soilnet.twin.config import NOISE_REVISIONS

    data = tmp_path / "twin-counter"
    write_twin(data, TwinConfig(n_points=12, patch_size_px=16, seed=3, noise="counter"))
    study = Study.create("smoke", str(data), str(tmp_path / "w"), TINY, "cpu")
    summary = json.loads((data / "twin.json").read_text())
    assert summary["noise_revision"] == NOISE_REVISIONS["counter"] == 2
    assert _twin_world(study).config.noise == "counter"
    del summary["noise_revision"]
    (data / "twin.json").write_text(json.dumps(summary))
    with pytest.raises(ConfigurationError, match=r"revision 1 of the 'counter'.*regenerate"):
        _twin_world(study)
