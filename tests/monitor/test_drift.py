"""Drift statistics: real computations on seeded data, checked against scipy and by hand."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats
from scipy.spatial import distance

from shipyard.core.errors import InvalidInput
from shipyard.monitor import DriftMethod, DriftReport, FeatureDrift, detect_drift
from shipyard.monitor._numeric import jensenshannon, quantile_bin_counts

N_FEATURES = 20


def _frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return pd.DataFrame({f"f{i}": rng.normal(size=n) for i in range(N_FEATURES)})


def _categories(rng: np.random.Generator, n: int, shares: dict[str, float]) -> pd.Series:
    return pd.Series(rng.choice(list(shares), size=n, p=list(shares.values())))


# --- the detection promises of issue 7 ---------------------------------------------------------


def test_known_shift_in_three_of_twenty_features_is_flagged_exactly() -> None:
    rng = np.random.default_rng(7)
    reference = _frame(rng, 10_000)
    current = _frame(rng, 10_000)
    current["f3"] = current["f3"] + 0.5  # mean +0.5 std
    current["f8"] = current["f8"] * 1.5  # scale change
    mixture = rng.random(10_000) < 0.3
    current["f15"] = np.where(mixture, rng.normal(2.0, 1.0, 10_000), current["f15"])

    report = detect_drift(reference, current)

    assert report.drifted_columns == ["f3", "f8", "f15"]
    assert report.drift_share == pytest.approx(3 / 20)
    assert not report.dataset_drift
    shifted = report["f3"]
    assert shifted.method is DriftMethod.WASSERSTEIN
    assert shifted.threshold == 0.1
    assert shifted.statistic == pytest.approx(0.5, abs=0.05)
    assert report["f8"].statistic == pytest.approx(0.5 * math.sqrt(2 / math.pi), abs=0.05)
    assert report["f15"].statistic == pytest.approx(0.6, abs=0.07)
    assert max(f.statistic for f in report.features if not f.drifted) < 0.05


@pytest.mark.slow
@pytest.mark.parametrize(("n_rows", "method"), [(10_000, "wasserstein"), (500, "ks")])
def test_no_shift_over_twenty_seeds_flags_at_most_five_percent(n_rows: int, method: str) -> None:
    flagged = checked = 0
    for seed in range(20):
        rng = np.random.default_rng(1000 + seed)
        report = detect_drift(_frame(rng, n_rows), _frame(rng, n_rows))
        assert {f.method.value for f in report.features} == {method}
        flagged += len(report.drifted_columns)
        checked += len(report.features)
    assert checked == 400
    assert flagged / checked <= 0.05


def test_categorical_shift_flagged_and_unchanged_mix_not() -> None:
    rng = np.random.default_rng(3)
    mix = {"a": 0.5, "b": 0.3, "c": 0.2}
    reference = pd.DataFrame({"same": _categories(rng, 10_000, mix)})
    reference["moved"] = _categories(rng, 10_000, mix)
    current = pd.DataFrame(
        {
            "same": _categories(rng, 10_000, mix),
            "moved": _categories(rng, 10_000, {"a": 0.3, "b": 0.3, "c": 0.4}),
        }
    )
    report = detect_drift(reference, current)
    assert report.drifted_columns == ["moved"]
    assert {f.kind for f in report.features} == {"categorical"}
    assert {f.method for f in report.features} == {DriftMethod.JENSENSHANNON}
    assert report["same"].statistic < 0.02
    assert report["moved"].statistic > 0.1

    small = detect_drift(reference.iloc[:500], current.iloc[:500])
    assert {f.method for f in small.features} == {DriftMethod.CHISQUARE}
    assert small.drifted_columns == ["moved"]
    assert small["moved"].statistic < 1e-6


def test_unseen_categories_are_counted_and_flagged_when_substantial() -> None:
    rng = np.random.default_rng(5)
    mix = {"a": 0.5, "b": 0.3, "c": 0.2}
    reference = pd.DataFrame({"x": _categories(rng, 10_000, mix)})
    new = {"a": 0.4, "b": 0.24, "c": 0.16, "d": 0.2}
    substantial = detect_drift(reference, pd.DataFrame({"x": _categories(rng, 10_000, new)}))
    assert substantial.drifted_columns == ["x"]
    assert substantial["x"].statistics["unseen_share"] == pytest.approx(0.2, abs=0.02)

    # One new value among 500 rows is noise, not drift, for the homogeneity test.
    few = pd.Series(["a"] * 250 + ["b"] * 150 + ["c"] * 99 + ["d"])
    slight = detect_drift(reference.iloc[:500], pd.DataFrame({"x": few}))
    assert slight["x"].method is DriftMethod.CHISQUARE
    assert slight["x"].statistics["unseen_share"] == pytest.approx(1 / 500)
    assert not slight["x"].drifted


# --- statistics against scipy and by hand ------------------------------------------------------


def test_identical_samples_give_zero_distances() -> None:
    rng = np.random.default_rng(11)
    frame = pd.DataFrame(
        {"x": rng.normal(size=5_000), "c": _categories(rng, 5_000, {"u": 0.6, "v": 0.4})}
    )
    report = detect_drift(frame, frame.copy())
    numeric, categorical = report["x"].statistics, report["c"].statistics
    assert numeric["ks_statistic"] == 0.0
    assert numeric["ks_pvalue"] == 1.0
    assert numeric["psi"] == pytest.approx(0.0, abs=1e-12)
    assert numeric["jensenshannon"] == 0.0
    assert numeric["wasserstein"] == 0.0
    assert categorical["chisquare_statistic"] == 0.0
    assert categorical["chisquare_pvalue"] == 1.0
    assert categorical["psi"] == pytest.approx(0.0, abs=1e-12)
    assert categorical["jensenshannon"] == 0.0
    assert report.drifted_columns == []


def test_categorical_statistics_match_a_hand_computation() -> None:
    reference = pd.DataFrame({"x": ["a"] * 50 + ["b"] * 30 + ["c"] * 20})
    current = pd.DataFrame({"x": ["a"] * 40 + ["b"] * 30 + ["c"] * 30})
    feature = detect_drift(reference, current)["x"]
    # PSI = sum (q - p) ln(q / p) over shares .5/.3/.2 -> .4/.3/.3
    assert feature.statistics["psi"] == pytest.approx(-0.1 * math.log(0.8) + 0.1 * math.log(1.5))
    # 2 x 3 table, expected 45/30/25 per row: chi2 = 2 (25/45 + 0 + 25/25), df = 2: p = e^(-chi2/2)
    chi2 = 2 * (25 / 45 + 25 / 25)
    assert feature.statistics["chisquare_statistic"] == pytest.approx(chi2)
    assert feature.statistics["chisquare_pvalue"] == pytest.approx(math.exp(-chi2 / 2))
    assert feature.statistic == feature.statistics["chisquare_pvalue"]
    assert feature.statistics["jensenshannon"] == pytest.approx(
        distance.jensenshannon([0.5, 0.3, 0.2], [0.4, 0.3, 0.3], base=2)
    )
    assert (feature.n_reference, feature.n_current) == (100, 100)


def test_numeric_statistics_match_a_hand_computation() -> None:
    reference = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]})
    current = pd.DataFrame({"x": [3.0, 4.0, 5.0, 6.0]})
    stats_ = detect_drift(reference, current)["x"].statistics
    assert stats_["ks_statistic"] == 0.5
    # Every point moves by 2; the reference std (ddof 0) is sqrt(1.25).
    assert stats_["wasserstein"] == pytest.approx(2 / math.sqrt(1.25))


@pytest.mark.parametrize("n_rows", [800, 30_000])  # exact and asymptotic KS paths
def test_numeric_statistics_match_scipy(n_rows: int) -> None:
    rng = np.random.default_rng(n_rows)
    ref = rng.normal(size=n_rows).round(2)  # rounded: ties across the two samples
    cur = rng.normal(0.05, 1.1, size=n_rows + 17).round(2)
    feature = detect_drift(pd.DataFrame({"x": ref}), pd.DataFrame({"x": cur}))["x"]
    expected = stats.ks_2samp(ref, cur)
    assert feature.statistics["ks_statistic"] == pytest.approx(expected.statistic, rel=1e-12)
    assert feature.statistics["ks_pvalue"] == pytest.approx(expected.pvalue, rel=1e-9)
    assert feature.statistics["wasserstein"] == pytest.approx(
        stats.wasserstein_distance(ref, cur) / np.std(ref), rel=1e-9
    )
    ref_counts, cur_counts = quantile_bin_counts(np.sort(ref), np.sort(cur))
    assert ref_counts.sum() == ref.size and cur_counts.sum() == cur.size
    assert len(ref_counts) == 10
    assert ref_counts.max() - ref_counts.min() < 0.05 * ref.size
    assert feature.statistics["jensenshannon"] == pytest.approx(
        distance.jensenshannon(cur_counts, ref_counts, base=2), rel=1e-9
    )
    assert jensenshannon(ref_counts, ref_counts) == 0.0


# --- overrides ---------------------------------------------------------------------------------


def test_per_feature_methods_and_thresholds_take_effect() -> None:
    rng = np.random.default_rng(2)
    reference, current = _frame(rng, 10_000), _frame(rng, 10_000)
    current["f1"] = current["f1"] + 0.3
    report = detect_drift(
        reference,
        current,
        methods={"f1": "psi", "f2": DriftMethod.KS, "f4": "jensenshannon"},
        thresholds={"f1": 0.5, "f3": 0.0, "f4": 0.001},
    )
    f1, f2, f3, f4 = (report[c] for c in ("f1", "f2", "f3", "f4"))
    assert (f1.method, f1.threshold, f1.statistic) == ("psi", 0.5, f1.statistics["psi"])
    assert 0.05 < f1.statistic < 0.5 and not f1.drifted  # PSI ~ 0.09, under the raised bar
    assert (f2.method, f2.threshold, f2.statistic) == ("ks", 0.05, f2.statistics["ks_pvalue"])
    assert f3.method == "wasserstein" and f3.threshold == 0.0 and f3.drifted
    assert f4.method == "jensenshannon" and f4.drifted
    assert report.drifted_columns == ["f3", "f4"]
    assert detect_drift(reference, current).drifted_columns == ["f1"]


def test_small_sample_pvalue_threshold_override() -> None:
    rng = np.random.default_rng(9)
    reference = pd.DataFrame({"x": rng.normal(size=400)})
    current = pd.DataFrame({"x": rng.normal(0.15, 1.0, size=400)})
    pvalue = detect_drift(reference, current)["x"].statistic
    assert 0.001 < pvalue < 0.5
    assert detect_drift(reference, current, thresholds={"x": 0.99})["x"].drifted
    assert not detect_drift(reference, current, thresholds={"x": 0.0001})["x"].drifted


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        (
            {"methods": {"x": "kl"}},
            ["'kl'", "ks", "psi", "wasserstein", "jensenshannon", "chisquare"],
        ),
        (
            {"methods": {"x": "chisquare"}},
            ["'chisquare'", "numeric", "jensenshannon, ks, psi, wasserstein"],
        ),
        ({"methods": {"c": "ks"}}, ["'ks'", "categorical", "chisquare, jensenshannon, psi"]),
        ({"methods": {"nope": "psi"}}, ["'nope'", "'x'", "'c'"]),
        ({"thresholds": {"nope": 0.1}}, ["'nope'", "'x'", "'c'"]),
        ({"categorical": ["nope"]}, ["'nope'", "'x'", "'c'"]),
        ({"methods": {"x": "psi"}, "thresholds": {"x": -1.0}}, ["'x'", ">= 0"]),
        ({"methods": {"x": "ks"}, "thresholds": {"x": 2.0}}, ["p-value", "(0, 1]"]),
        ({"drift_share_threshold": 0.0}, ["drift_share_threshold"]),
    ],
)
def test_invalid_overrides_name_the_allowed_values(kwargs: dict, names: list[str]) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]})
    with pytest.raises(InvalidInput) as caught:
        detect_drift(frame, frame, **kwargs)
    for name in names:
        assert name in str(caught.value)


# --- inputs ------------------------------------------------------------------------------------


def test_input_errors_are_clear() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0], "y": [3.0, 4.0]})
    with pytest.raises(InvalidInput, match=r"'y'.*missing from the current data"):
        detect_drift(frame, frame[["x"]], columns=["x", "y"])
    with pytest.raises(InvalidInput, match="reference data has no rows"):
        detect_drift(frame.iloc[:0], frame)
    with pytest.raises(InvalidInput, match="current data has no rows"):
        detect_drift(frame, frame.iloc[:0])
    with pytest.raises(InvalidInput, match="no columns in common"):
        detect_drift(frame, pd.DataFrame({"z": [1.0]}))
    with pytest.raises(InvalidInput, match="pandas DataFrame or a pyarrow Table"):
        detect_drift({"x": [1.0]}, frame)
    with pytest.raises(
        InvalidInput, match=r"numeric in the reference .* categorical in the current"
    ):
        detect_drift(frame, pd.DataFrame({"x": ["1", "2"]}))
    with pytest.raises(InvalidInput, match="not support"):
        detect_drift(
            pd.DataFrame({"t": pd.to_datetime(["2024-01-01"])}),
            pd.DataFrame({"t": pd.to_datetime(["2024-01-02"])}),
        )


def test_kinds_missing_values_and_pyarrow_tables() -> None:
    rng = np.random.default_rng(4)
    n = 2_000
    reference = pd.DataFrame(
        {
            "age": pd.array(rng.integers(18, 90, n), dtype="Int64"),
            "income": rng.lognormal(10, 1, n),
            "flag": rng.random(n) < 0.3,
            "plan": pd.Categorical(rng.choice(["basic", "pro"], n)),
            "code": rng.integers(0, 5, n),
            "only_reference": rng.normal(size=n),
        }
    )
    current = reference.drop(columns="only_reference").copy()
    current.loc[:99, "age"] = pd.NA
    current.loc[100:149, "income"] = np.inf
    current["plan"] = pd.Categorical(
        current["plan"].astype(str), categories=["pro", "basic", "team"]
    )
    report = detect_drift(
        pa.Table.from_pandas(reference), pa.Table.from_pandas(current), categorical=["code"]
    )
    kinds = {f.column: f.kind for f in report.features}
    assert kinds == {
        "age": "numeric",
        "income": "numeric",
        "flag": "categorical",
        "plan": "categorical",
        "code": "categorical",
    }
    assert (report["age"].n_reference, report["age"].n_current) == (n, n - 100)
    assert report["income"].n_current == n - 50
    assert report["plan"].statistics["chisquare_statistic"] == 0.0
    assert report["code"].statistics["jensenshannon"] == 0.0
    assert report.drifted_columns == []


def test_report_to_dict_is_json_and_dataset_verdict() -> None:
    reference = pd.DataFrame({"const": [1.0] * 50, "x": np.arange(50.0), "empty": [np.nan] * 50})
    current = pd.DataFrame(
        {"const": [2.0] * 50, "x": np.arange(50.0) + 100, "empty": np.arange(50.0)}
    )
    report = detect_drift(reference, current, drift_share_threshold=0.6)
    assert isinstance(report, DriftReport) and isinstance(report["x"], FeatureDrift)
    assert report["const"].statistics["wasserstein"] == math.inf
    assert report["const"].drifted and report["x"].drifted
    assert math.isnan(report["empty"].statistic) and not report["empty"].drifted
    assert report.drift_share == pytest.approx(2 / 3)
    assert report.dataset_drift
    assert not detect_drift(reference, current, drift_share_threshold=0.7).dataset_drift
    payload = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert payload["drifted_columns"] == ["const", "x"]
    assert payload["features"][0]["statistics"]["wasserstein"] is None
    assert payload["features"][2]["statistic"] is None
    assert payload["features"][1]["method"] == "ks"
    with pytest.raises(KeyError):
        report["nope"]


def test_import_is_light() -> None:
    code = (
        "import sys, shipyard.monitor as m; "
        "assert not {'pandas', 'scipy', 'numpy'} & set(sys.modules), sorted(sys.modules); "
        "assert m.detect_drift.__name__ == 'detect_drift'; assert 'DriftReport' in dir(m)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
