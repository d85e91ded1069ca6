"""soilnet.falsification and soilnet.twin.share_grid: the grid keeps the shares' sum and sets
the component, a planted spatial share is detected and an absent one is not, a missed effect is
traced to the model or the twin, and chapter 8 executes (and skips on real data)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from soilnet import falsification
from soilnet.comparison import BEATS, LOSES, TIED
from soilnet.config import FalsificationConfig, resolve
from soilnet.errors import ConfigurationError
from soilnet.twin import (
    SHARE_NAMES,
    TWINS,
    TwinConfig,
    component_withheld_lognormal,
    noise_floor_lognormal,
    share_grid,
    write_twin,
)
from soilnet.workspace import Study

#: A forests-only grid (no network): the spatial share absent, then large.
SPATIAL_GRID = [
    "falsification.components=[spatial]",
    "falsification.levels=[0, 0.6]",
    "falsification.n_points=400",
    "falsification.seeds=[0, 1]",
]


# ---------------------------------------------------------------------------------- the grid
def test_share_grid_sets_the_component_and_rescales_the_others():
    base = TWINS["default"]
    grid = share_grid(base, "context", [0.0, 0.2, 0.5])
    k = SHARE_NAMES.index("context")
    others = [i for i in range(5) if i != k]
    for twin, level in zip(grid, [0.0, 0.2, 0.5], strict=True):
        assert twin.shares[k] == level
        assert sum(twin.shares) == pytest.approx(1.0, abs=1e-12)
        # The other shares keep their proportions to each other.
        ratio = np.array(twin.shares)[others] / np.array(base.shares)[others]
        assert np.allclose(ratio, ratio[0])
        assert (twin.seed, twin.n_points, twin.patch_size_px) == (
            base.seed,
            base.n_points,
            base.patch_size_px,
        )
    assert grid[0].shares[k] == 0.0 and min(grid[0].shares[i] for i in others) > 0


def test_share_grid_refuses_what_it_cannot_make():
    with pytest.raises(ConfigurationError, match="Unknown share 'texture'"):
        share_grid(TWINS["smoke"], "texture", [0.0])
    with pytest.raises(ConfigurationError, match=r"levels must lie in \[0, 1\)"):
        share_grid(TWINS["smoke"], "spatial", [0.0, 1.0])
    only_noise = TwinConfig(shares=(0.0, 0.0, 0.0, 0.0, 1.0))
    with pytest.raises(ConfigurationError, match="nothing to rescale"):
        share_grid(only_noise, "noise", [0.5])


def test_grid_twins_share_points_and_patches_and_hold_the_log_variance_roughly(tmp_path):
    base = TwinConfig(n_points=150, patch_size_px=16, seed=5)
    folders = []
    for twin in share_grid(base, "context", [0.0, 0.5]):
        folders.append(tmp_path / f"twin-{twin.shares[1]:g}")
        write_twin(folders[-1], twin)
    a, b = (pd.read_csv(f / "points.csv", encoding="utf-8-sig") for f in folders)
    assert a["Point_ID"].tolist() == b["Point_ID"].tolist()
    patch = sorted((folders[0] / "patches").iterdir())[0]
    assert patch.read_bytes() == (folders[1] / "patches" / patch.name).read_bytes()
    assert not np.allclose(a["OC"], b["OC"])  # only SOC differs
    # The shares sum to 1, but the world refits its scale to the LUCAS quartiles: the variance
    # of log SOC is held only roughly (within 11 % on the 1,000-point twins of the default grid).
    variances = [falsification.log_variance(f) for f in folders]
    assert abs(variances[1] / variances[0] - 1) < 0.25, variances


def test_withholding_a_component_of_zero_share_gives_the_noise_floor():
    rng = np.random.default_rng(0)
    c = rng.standard_normal((50, 4))
    shares = (0.4, 0.2, 0.2, 0.0, 0.2)
    a, b = component_withheld_lognormal(3.0, 0.8, shares, c, withheld=3)
    af, bf = noise_floor_lognormal(3.0, 0.8, shares, *c.T)
    assert np.allclose(a, af) and b == pytest.approx(bf)
    a, b = component_withheld_lognormal(3.0, 0.8, (0.4, 0.2, 0.2, 0.1, 0.1), c, withheld=0)
    assert b == pytest.approx(0.8 * np.sqrt(0.4 + 0.1))
    with pytest.raises(ValueError, match="withheld must be 0..3"):
        component_withheld_lognormal(3.0, 0.8, shares, c, withheld=4)


def test_falsification_settings_are_checked():
    with pytest.raises(ConfigurationError, match="starting at 0"):
        FalsificationConfig(levels=(0.1, 0.3))
    with pytest.raises(ConfigurationError, match="falsification.components must be one of"):
        FalsificationConfig(components=("noise",))
    config = resolve("default", ["falsification.levels=[0, 0.25]"]).falsification
    assert config.levels == (0, 0.25)
    names = [p.name for p in falsification.parts(config)]
    assert names == ["context", "attention", "climate", "spatial"]
    assert falsification.networks_for(config, "climate") == ("resnet18_glam", "resnet18_glam_lstm")
    assert falsification.networks_for(config, "spatial") == ()


# ---------------------------------------------------------------------------------- the gains
@pytest.fixture(scope="module")
def spatial_grid(tmp_path_factory):
    """The spatial grid's gains, computed once; the second run of the grid reuses its runs."""
    work = tmp_path_factory.mktemp("falsify")
    study = Study.create("smoke", None, str(work), SPATIAL_GRID, "cpu")
    grid = falsification.run_grid(study)
    runs_before = sorted(p.name for p in work.glob("falsification/work-*/runs/*"))
    again = falsification.run_grid(study)
    runs_after = sorted(p.name for p in work.glob("falsification/work-*/runs/*"))
    gains = falsification.gain_table(grid, study.config.falsification)
    return study, grid, again, gains, runs_before, runs_after


def test_a_large_spatial_share_is_detected_and_an_absent_one_is_not(spatial_grid):
    study, _, _, gains, _, _ = spatial_grid
    zero, large = gains.sort_values("share").itertuples()
    assert set(gains.columns) >= {
        "part", "share", "gain_g_per_kg", "gain_lower", "gain_upper", "per_seed", "verdict",
        "worth_g_per_kg", "worth_lower", "worth_upper", "log_variance",
    }  # fmt: skip
    assert large.verdict == BEATS and large.gain_lower > 0 and min(large.per_seed) > 0
    assert zero.verdict != BEATS and zero.gain_lower < 0 < zero.gain_upper
    # Where nothing is planted, knowing the component is worth nothing, exactly.
    assert zero.worth_g_per_kg == pytest.approx(0.0, abs=1e-9)
    assert large.worth_lower > 0 and large.gain_g_per_kg < large.worth_upper
    outcome = falsification.outcomes(gains, study.config.falsification).iloc[0]
    assert outcome.outcome == falsification.DETECTED
    assert f"{large.gain_g_per_kg:+.2f} g/kg" in outcome.sentence


def test_the_grid_reuses_its_runs(spatial_grid):
    _, grid, again, _, before, after = spatial_grid
    assert before == after and len(before) == 2 * 2  # 2 twins x 2 seeds of forests
    for first, second in zip(grid, again, strict=True):
        assert np.array_equal(first.predictions["rf_paper+rk"], second.predictions["rf_paper+rk"])


def _row(part, component, share, gain, lo, hi, verdict, worth, w_lo, w_hi, w_verdict, last):
    return {
        "part": part, "component": component, "share": share, "full": "f", "ablation": "a",
        "gain_g_per_kg": gain, "gain_lower": lo, "gain_upper": hi, "per_seed": (gain, gain),
        "verdict": verdict, "worth_g_per_kg": worth, "worth_lower": w_lo, "worth_upper": w_hi,
        "worth_verdict": w_verdict, "best_is_last": last, "n_seeds": 2, "n_test": 160,
        "log_variance": 0.7,
    }  # fmt: skip


def test_a_missed_effect_is_traced_to_the_model_or_to_the_twin():
    config = FalsificationConfig(
        components=("context", "climate", "spatial"), levels=(0.0, 0.4), backbone="resnet18",
        epochs=3,
    )  # fmt: skip
    gains = pd.DataFrame(
        [
            # climate: the closed form gains clearly, the model does not: the model's limit.
            _row("climate", "climate", 0.0, 0.1, -0.5, 0.6, TIED, 0.0, 0.0, 0.0, TIED, 0),
            _row("climate", "climate", 0.4, 0.2, -0.6, 0.9, TIED, 7.0, 5.0, 9.0, BEATS, 2),
            # spatial: even the closed form cannot tell: the twin's limit.
            _row("spatial", "spatial", 0.0, 0.0, -0.1, 0.1, TIED, 0.0, 0.0, 0.0, TIED, np.nan),
            _row("spatial", "spatial", 0.4, 0.3, -0.4, 1.0, TIED, 1.5, -1.1, 4.3, TIED, np.nan),
            # context: a gain also where nothing is planted.
            _row("context", "context", 0.0, 1.0, 0.2, 1.8, BEATS, 0.0, 0.0, 0.0, TIED, 0),
            _row("context", "context", 0.4, 2.0, 0.5, 3.5, BEATS, 7.0, 5.0, 9.0, BEATS, 0),
            # attention, a control that fails.
            _row("attention", "context", 0.0, 0.5, 0.1, 0.9, BEATS, 0.0, 0.0, 0.0, TIED, 0),
            _row("attention", "context", 0.4, -0.6, -1.2, -0.1, LOSES, 7.0, 5.0, 9.0, BEATS, 0),
        ]
    )
    out = falsification.outcomes(gains, config).set_index("part")
    assert out.loc["climate", "outcome"] == falsification.NOT_DETECTED
    assert out.loc["climate", "finding_about"] == "model"
    assert "recovers 3 % of it" in out.loc["climate", "sentence"]
    assert "last (3 epochs) in 2 of 2 seeds" in out.loc["climate", "sentence"]
    assert out.loc["spatial", "finding_about"] == "twin"
    assert "too small against the noise" in out.loc["spatial", "sentence"]
    assert out.loc["context", "outcome"] == falsification.NOT_SPECIFIC
    assert out.loc["attention", "outcome"] == falsification.CONTROL_FAILS
    assert "at share 0 (gain +0.50 g/kg" in out.loc["attention", "sentence"]


def test_the_figure_has_one_panel_per_component(spatial_grid):
    from soilnet import plotting

    _, _, _, gains, _, _ = spatial_grid
    fig = plotting.plot_planted_gains(pd.concat([gains, gains.assign(component="context")]))
    assert len(fig.axes) == 2
    assert [a.get_title() for a in fig.axes] == ["planted spatial share", "planted context share"]
    with pytest.raises(ValueError, match="lacks column"):
        plotting.plot_planted_gains(gains.drop(columns="worth_lower"))


# ---------------------------------------------------------------------------------- chapter 8
def _outputs(path):
    import nbformat

    nb = nbformat.read(path, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(
        str(v) for o in outputs for k, v in o.get("data", {}).items() if "markdown" in k
    )
    images = sum("image/png" in o.get("data", {}) for o in outputs)
    return text, images


def test_chapter_8_executes_with_the_smoke_profile(tmp_path):
    from soilnet.runner import execute_chapter

    params = {
        "profile": "smoke", "work_dir": str(tmp_path / "work"), "device": "cpu",
        "overrides": ["falsification.n_points=150"],
    }  # fmt: skip
    path, _ = execute_chapter(8, params, output_dir=tmp_path / "out")
    text, images = _outputs(path)
    assert images == 1
    assert "**context**" in text and "**spatial**" in text and "Not run" not in text


def test_chapter_8_says_it_does_not_run_on_real_data(tmp_path):
    from soilnet.runner import execute_chapter

    real = tmp_path / "lucas"
    real.mkdir()
    params = {"profile": "smoke", "data_dir": str(real), "work_dir": str(tmp_path / "work"),
              "device": "cpu"}  # fmt: skip
    path, _ = execute_chapter(8, params, output_dir=tmp_path / "out")
    text, images = _outputs(path)
    assert images == 0 and "holds real data" in text
    assert not (tmp_path / "work" / "falsification").exists()


def test_chapter_8_follows_chapter_1s_record_when_there_is_one(tmp_path):
    fresh = falsification.chapter_study("smoke", None, str(tmp_path), None, "cpu")
    assert fresh.config.falsification == resolve("smoke").falsification
    fresh.write_record()  # as chapter 1 does
    with pytest.raises(ConfigurationError, match="falsification.epochs: recorded 1, given 2"):
        falsification.chapter_study("smoke", None, str(tmp_path), ["falsification.epochs=2"])
