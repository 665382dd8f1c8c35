"""Power-law projection of learning curves against curves of known shape."""

import math

import numpy as np
import pytest

from neurosim.analysis.projection import power_law, project_curve


def test_exact_power_law_is_recovered():
    curve = power_law(np.arange(1, 13), 2.0, 10.0, 0.8)
    projection = project_curve(list(curve), 200)
    by_hand = 2.0 + 10.0 * 200 ** -0.8  # 2.1443
    assert projection.value == pytest.approx(by_hand, abs=1e-4)
    assert projection.floor == pytest.approx(2.0, abs=1e-3)
    assert projection.exponent == pytest.approx(0.8, abs=1e-3)
    assert projection.fitted == 12


def test_noisy_curve_range_holds_the_truth():
    rng = np.random.default_rng(4)
    epochs = np.arange(1, 21)
    curve = power_law(epochs, 3.0, 40.0, 1.2) * np.exp(rng.normal(0.0, 0.02, epochs.size))
    projection = project_curve(list(curve), 200)
    truth = float(power_law(200, 3.0, 40.0, 1.2))
    assert projection.low <= projection.value <= projection.high
    assert projection.value == pytest.approx(truth, rel=0.1)
    assert 0.005 < projection.rms_log < 0.05


def test_missing_and_skipped_epochs_are_left_out():
    curve = list(power_law(np.arange(1, 9), 1.0, 5.0, 1.0))
    curve[2] = None
    curve[4] = math.nan
    curve[0] = 90.0  # a first epoch off the curve, dropped by skip
    projection = project_curve(curve, 50, skip=1)
    assert projection.fitted == 5
    assert projection.value == pytest.approx(1.0 + 5.0 / 50, abs=1e-3)


def test_too_few_epochs_give_no_projection():
    assert project_curve([10.0, 5.0, 4.0], 200) is None
    assert project_curve([None, math.nan, 3.0, 2.0, 1.5], 200) is None


def test_projection_figure_is_written(tmp_path):
    from neurosim.analysis.curves import plot_projections

    curve = list(power_law(np.arange(1, 9), 2.0, 30.0, 0.9))
    fit = project_curve(curve, 200)
    summary = {"epochs": 8, "test_error_minus": curve, "test_error_sf": [None] * 8,
               "projection": {"epoch": 200, "minus": fit.as_dict(), "sf": None}}
    path = plot_projections({"panel": [("plain EP", summary)]}, tmp_path / "p.png")
    assert path.stat().st_size > 5000
    assert path.read_bytes()[:4] == b"\x89PNG"
