"""Drift against a stored dataset profile: real computations, checked against the data."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.datasets import load_diabetes

from shipyard.core.errors import InvalidInput
from shipyard.data import DatasetProfile
from shipyard.data._profile import QUANTILE_SKETCH_SIZE, VALUE_COUNTS_MAX, profile_table
from shipyard.monitor import DriftMethod, detect_drift

N_FEATURES = 20


def _profile(frame: pd.DataFrame) -> DatasetProfile:
    return profile_table(pa.Table.from_pandas(frame, preserve_index=False))


def _frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return pd.DataFrame({f"f{i}": rng.normal(size=n) for i in range(N_FEATURES)})


# --- what the profile stores ---------------------------------------------------------------------


def test_profile_keeps_a_quantile_sketch_of_the_finite_values() -> None:
    rng = np.random.default_rng(21)
    values = rng.lognormal(1.0, 0.8, size=5_000)
    stored = np.concatenate((values, [np.inf, -np.inf, np.nan]))

    column = profile_table(pa.table({"x": stored})).columns["x"]

    assert column.quantile_sketch is not None
    assert len(column.quantile_sketch) == QUANTILE_SKETCH_SIZE == 101
    expected = np.quantile(values, np.linspace(0.0, 1.0, 101), method="linear")
    assert column.quantile_sketch == pytest.approx(expected.tolist(), rel=1e-12)
    assert (column.quantile_sketch[0], column.quantile_sketch[-1]) == (values.min(), values.max())
    assert column.value_counts is None


def test_profile_keeps_every_category_count_up_to_a_thousand() -> None:
    # 1,200 categories: "c0000" seen 1,200 times, "c0001" 1,199 times, … "c1199" once.
    labels = np.repeat([f"c{i:04d}" for i in range(1_200)], np.arange(1_200, 0, -1))
    rng = np.random.default_rng(3)
    sixth = len(labels) // 6  # 720,600 rows
    table = pa.table(
        {
            "many": rng.permutation(labels),
            "few": pa.array(["b", "a", None, "b", "c", "b"] * sixth),
            "flag": pa.array([True, False, True, None, True, True] * sixth),
            "day": pa.array([dt.date(2024, 1, 1)] * len(labels)),
        }
    )

    profile = profile_table(table)

    many = profile.columns["many"]
    assert many.value_counts is not None and len(many.value_counts) == VALUE_COUNTS_MAX == 1_000
    assert many.value_counts[:3] == [["c0000", 1_200], ["c0001", 1_199], ["c0002", 1_198]]
    assert many.value_counts[-1] == ["c0999", 201]
    assert many.top_values == many.value_counts[:10]
    assert many.distinct == 1_200
    # The unlisted 200 categories hold what the listed ones leave of the count: 200 + … + 1.
    assert many.count - sum(count for _, count in many.value_counts) == 200 * 201 // 2
    assert profile.columns["few"].value_counts == [["b", 3 * sixth], ["a", sixth], ["c", sixth]]
    assert profile.columns["flag"].value_counts == [[True, 4 * sixth], [False, sixth]]
    assert profile.columns["day"].value_counts is None
    assert profile.columns["day"].quantile_sketch is None


def test_new_fields_survive_json_and_old_profiles_still_load() -> None:
    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame["sex"] = frame["sex"].map({1.0: "f", 2.0: "m"})
    profile = _profile(frame)

    text = json.dumps(profile.to_dict(), allow_nan=False)
    restored = DatasetProfile.from_dict(json.loads(text))

    assert restored == profile
    assert restored.columns["bmi"].quantile_sketch == profile.columns["bmi"].quantile_sketch
    assert restored.columns["sex"].value_counts == [["f", 235], ["m", 207]]
    old = profile.to_dict()
    for column in old["columns"].values():
        del column["quantile_sketch"], column["value_counts"]
    loaded = DatasetProfile.from_dict(old)
    assert loaded.columns["bmi"].quantile_sketch is None
    assert loaded.columns["sex"].value_counts is None
    assert loaded.columns["bmi"].mean == profile.columns["bmi"].mean


def test_a_stored_dataset_version_is_a_reference_without_its_rows(workspace: Path) -> None:
    import shipyard as sy

    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame["sex"] = frame["sex"].map({1.0: "f", 2.0: "m"})
    sy.log_dataset(frame, "diabetes")
    stored = sy.get_dataset("diabetes")  # the record from the database: no Parquet read
    current = frame.assign(bmi=frame["bmi"] * 1.2)

    report = detect_drift(stored.profile, current)

    assert (
        stored.profile.columns["bmi"].quantile_sketch
        == _profile(frame).columns["bmi"].quantile_sketch
    )
    assert report.drifted_columns == ["bmi"]
    assert report["sex"].statistics["chisquare_statistic"] == 0.0
    assert report["bmi"].n_reference == 442
    assert detect_drift(stored.to_dict()["profile"], current).to_dict() == report.to_dict()


# --- the statistics agree with the data-based ones ---------------------------------------------


def _draw(rng: np.random.Generator, name: str, n: int) -> np.ndarray:
    if name == "normal":
        return rng.normal(size=n)
    if name == "lognormal":
        return rng.lognormal(1.0, 0.8, size=n)
    if name == "exponential":
        return rng.exponential(2.0, size=n)
    return rng.poisson(4.0, size=n).astype(np.float64)  # "ties": few distinct values


@pytest.mark.parametrize(
    ("name", "shift"),
    [("normal", 0.0), ("normal", 0.2), ("lognormal", 0.1), ("exponential", 0.0), ("ties", 0.0)],
)
def test_profile_statistics_agree_with_the_data(name: str, shift: float) -> None:
    rng = np.random.default_rng(len(name) * 100 + int(shift * 10))
    reference = pd.DataFrame({"x": _draw(rng, name, 20_000)})
    current = pd.DataFrame({"x": _draw(rng, name, 15_000) + shift})

    from_data = detect_drift(reference, current)["x"]
    from_profile = detect_drift(_profile(reference), current)["x"]

    data, sketch = from_data.statistics, from_profile.statistics
    # With few distinct values the sketch cannot tell where in a percentile a value's share
    # ends, so the CDF is known to within ~0.005 there; smooth data does much better.
    tolerance = (
        {"ks_statistic": 0.01, "psi": 0.005, "jensenshannon": 0.015, "wasserstein": 0.02}
        if name == "ties"
        else {"ks_statistic": 0.005, "psi": 0.001, "jensenshannon": 0.002, "wasserstein": 0.01}
    )
    for key, bound in tolerance.items():
        assert sketch[key] == pytest.approx(data[key], abs=bound), key
    assert (from_profile.n_reference, from_profile.n_current) == (20_000, 15_000)
    assert from_profile.method is from_data.method is DriftMethod.WASSERSTEIN
    assert from_profile.drifted == from_data.drifted == (shift >= 0.2)


def test_ks_pvalue_uses_the_profile_count() -> None:
    rng = np.random.default_rng(17)
    reference = pd.DataFrame({"same": rng.normal(size=800), "moved": rng.normal(size=800)})
    current = pd.DataFrame({"same": rng.normal(size=500), "moved": rng.normal(0.3, 1.0, 500)})

    from_data = detect_drift(reference, current)
    from_profile = detect_drift(_profile(reference), current)

    for column in ("same", "moved"):
        feature = from_profile[column]
        assert feature.method is DriftMethod.KS  # both sides at most 1,000 values
        assert feature.n_reference == 800
        assert feature.statistics["ks_statistic"] == pytest.approx(
            from_data[column].statistics["ks_statistic"], abs=0.015
        )
    assert from_profile.drifted_columns == from_data.drifted_columns == ["moved"]
    assert from_profile["moved"].statistic < 1e-4 < 0.2 < from_profile["same"].statistic
    # A large reference makes the distance the default, as it does with data.
    big = _profile(pd.DataFrame({"same": rng.normal(size=5_000)}))
    assert detect_drift(big, current[["same"]])["same"].method is DriftMethod.WASSERSTEIN


def test_heavy_tails_are_not_mistaken_for_drift() -> None:
    # A straight line from p99 to the maximum would add ~0.1 here; the fitted tail does not.
    rng = np.random.default_rng(8)
    reference = pd.DataFrame({"x": rng.lognormal(0.0, 1.5, 50_000), "y": rng.pareto(3.0, 50_000)})
    current = pd.DataFrame({"x": rng.lognormal(0.0, 1.5, 50_000), "y": rng.pareto(3.0, 50_000)})

    from_data = detect_drift(reference, current)
    from_profile = detect_drift(_profile(reference), current)

    for column in ("x", "y"):
        data, sketch = from_data[column].statistics, from_profile[column].statistics
        assert sketch["wasserstein"] == pytest.approx(data["wasserstein"], abs=0.02)
        assert sketch["wasserstein"] < 0.05
    assert from_profile.drifted_columns == from_data.drifted_columns == []


def test_known_shift_in_three_of_twenty_features_gives_the_same_verdicts() -> None:
    rng = np.random.default_rng(7)
    reference = _frame(rng, 10_000)
    current = _frame(rng, 10_000)
    current["f3"] = current["f3"] + 0.5
    current["f8"] = current["f8"] * 1.5
    mixture = rng.random(10_000) < 0.3
    current["f15"] = np.where(mixture, rng.normal(2.0, 1.0, 10_000), current["f15"])
    profile = _profile(reference)

    from_data = detect_drift(reference, current)
    from_profile = detect_drift(profile, current)
    from_dict = detect_drift(json.loads(json.dumps(profile.to_dict())), current)

    assert from_profile.drifted_columns == from_data.drifted_columns == ["f3", "f8", "f15"]
    assert from_dict.to_dict() == from_profile.to_dict()
    for data, sketch in zip(from_data.features, from_profile.features, strict=True):
        assert sketch.method is data.method is DriftMethod.WASSERSTEIN
        assert sketch.statistic == pytest.approx(data.statistic, abs=0.02)
    assert from_profile["f3"].statistic == pytest.approx(0.5, abs=0.05)
    assert max(f.statistic for f in from_profile.features if not f.drifted) < 0.05


def test_real_data_split_by_sex_gives_the_same_verdicts() -> None:
    frame = load_diabetes(as_frame=True, scaled=False).frame
    reference = frame[frame["sex"] == 1].drop(columns="sex")  # 235 rows
    current = frame[frame["sex"] == 2].drop(columns="sex")  # 207 rows

    from_data = detect_drift(reference, current)
    from_profile = detect_drift(_profile(reference), current)

    expected = ["age", "bmi", "bp", "s3", "s4", "s5", "s6"]
    assert from_profile.drifted_columns == from_data.drifted_columns == expected
    for data, sketch in zip(from_data.features, from_profile.features, strict=True):
        assert sketch.method is DriftMethod.KS
        assert sketch.statistics["ks_statistic"] == pytest.approx(
            data.statistics["ks_statistic"], abs=0.015
        )


# --- categorical columns from the value counts -------------------------------------------------


def test_categorical_statistics_from_value_counts_equal_the_data_ones() -> None:
    rng = np.random.default_rng(5)
    n = 10_000
    reference = pd.DataFrame(
        {
            "plan": rng.choice(["basic", "pro", "team"], n, p=[0.5, 0.3, 0.2]),
            "flag": rng.random(n) < 0.3,
            "tier": pd.Categorical(rng.choice(["gold", "silver"], n)),
        }
    )
    current = pd.DataFrame(
        {
            "plan": rng.choice(["basic", "pro", "team", "new"], n, p=[0.4, 0.24, 0.16, 0.2]),
            "flag": rng.random(n) < 0.3,
            "tier": pd.Categorical(rng.choice(["gold", "silver"], n)),
        }
    )

    from_data = detect_drift(reference, current)
    from_profile = detect_drift(_profile(reference), current)

    for data, sketch in zip(from_data.features, from_profile.features, strict=True):
        assert sketch.kind == "categorical"
        assert dict(sketch.statistics) == pytest.approx(dict(data.statistics), rel=1e-12)
        assert (sketch.n_reference, sketch.n_current) == (data.n_reference, data.n_current)
    assert from_profile.drifted_columns == ["plan"]
    assert from_profile["plan"].statistics["unseen_share"] == pytest.approx(0.2, abs=0.02)
    plan = from_profile["plan"].distribution
    assert plan["categories"] == ["basic", "pro", "team", "new"]
    assert plan["reference"][3] == 0.0
    assert from_profile["flag"].distribution["categories"] == [False, True]


def test_truncated_value_counts_pool_the_unlisted_categories() -> None:
    rng = np.random.default_rng(12)
    names = np.array([f"id{i}" for i in range(1_500)])
    weights = 1.0 / np.arange(1, 1_501)  # Zipf: a long tail past the 1,000 listed
    weights /= weights.sum()
    reference = pd.DataFrame({"id": rng.choice(names, 200_000, p=weights)})
    profile = _profile(reference)
    assert len(profile.columns["id"].value_counts or []) == 1_000

    same = detect_drift(profile, pd.DataFrame({"id": rng.choice(names, 50_000, p=weights)}))
    tail = detect_drift(profile, pd.DataFrame({"id": rng.choice(names[1_000:], 50_000)}))

    assert not same["id"].drifted
    assert same["id"].statistic == pytest.approx(
        detect_drift(reference, pd.DataFrame({"id": rng.choice(names, 50_000, p=weights)}))[
            "id"
        ].statistic,
        abs=0.02,
    )
    # Every current value is among the unlisted categories, so in the pooled bucket: not unseen.
    moved = tail["id"]
    assert moved.drifted and moved.statistics["unseen_share"] == 0.0
    assert moved.statistics["jensenshannon"] > 0.8
    listed = dict(map(tuple, profile.columns["id"].value_counts or []))
    shown = [f"id{i}" for i in range(20)]
    assert moved.distribution["categories"] == [*shown, "(other)"]
    assert moved.distribution["reference"][:20] == pytest.approx(
        [listed[name] / 200_000 for name in shown]
    )
    assert moved.distribution["reference"][-1] == pytest.approx(
        1.0 - sum(listed[name] for name in shown) / 200_000
    )
    assert moved.distribution["current"] == [0.0] * 20 + [1.0]


# --- old profiles ------------------------------------------------------------------------------


def _without_sketches(profile: DatasetProfile) -> DatasetProfile:
    old = profile.to_dict()
    for column in old["columns"].values():
        del column["quantile_sketch"], column["value_counts"]
    return DatasetProfile.from_dict(old)


def test_old_profiles_measure_complete_categories_and_refuse_the_rest() -> None:
    rng = np.random.default_rng(9)
    reference = pd.DataFrame(
        {
            "x": rng.normal(size=2_000),
            "plan": rng.choice(["basic", "pro", "team"], 2_000),
            "city": rng.choice([f"city{i}" for i in range(30)], 2_000),  # more than the top 10
        }
    )
    current = reference.sample(frac=1.0, random_state=1).reset_index(drop=True)
    old = _without_sketches(_profile(reference))

    plan = detect_drift(old, current, columns=["plan"])["plan"]
    assert plan.statistics == detect_drift(reference, current, columns=["plan"])["plan"].statistics
    with pytest.raises(InvalidInput, match=r"'x' has no quantile sketch.*load_dataset"):
        detect_drift(old, current, columns=["x"])
    with pytest.raises(InvalidInput, match=r"'city' has no value counts.*load_dataset"):
        detect_drift(old, current, columns=["city"])


# --- the distributions for an overlay chart ----------------------------------------------------


def test_numeric_distribution_matches_a_hand_computation() -> None:
    reference = pd.DataFrame({"x": np.arange(100.0)})
    current = pd.DataFrame({"x": np.arange(100.0) + 100})

    dist = detect_drift(reference, current)["x"].distribution

    # From the lower p1 (1) to the higher p99 (198), widened by 5% but not past 0 and 199.
    assert dist["edges"] == pytest.approx(np.linspace(0.0, 199.0, 21).tolist())
    assert dist["reference"] == pytest.approx([0.1] * 10 + [0.0] * 10)
    assert dist["current"] == pytest.approx([0.0] * 10 + [0.1] * 10)


def test_distributions_from_data_and_profile_agree_and_sum_to_one() -> None:
    rng = np.random.default_rng(31)
    n = 20_000
    reference = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "c": rng.choice([f"k{i:02d}" for i in range(25)], n),
            "empty": np.full(n, np.nan),
        }
    )
    current = pd.DataFrame(
        {
            "x": np.append(rng.normal(1.0, 1.0, n - 1), 1e6),  # one wild outlier
            "c": rng.choice([f"k{i:02d}" for i in range(25)], n),
            "empty": rng.normal(size=n),
        }
    )

    from_data = detect_drift(reference, current)
    from_profile = detect_drift(_profile(reference), current)

    for report in (from_data, from_profile):
        numeric = report["x"].distribution
        edges = np.array(numeric["edges"])
        assert len(edges) == 21 and len(numeric["reference"]) == len(numeric["current"]) == 20
        assert np.diff(edges) == pytest.approx([np.diff(edges)[0]] * 20)  # equal widths
        assert -4.5 < edges[0] < -2.0 and 3.0 < edges[-1] < 5.0  # the outlier is not drawn
        assert sum(numeric["reference"]) == pytest.approx(1.0, abs=1e-12)
        assert sum(numeric["current"]) == pytest.approx(1.0, abs=1e-12)
        assert numeric["current"][-1] >= 1 / n  # the outlier is in the last bin
        categorical = report["c"].distribution
        assert len(categorical["categories"]) == 21 and categorical["categories"][-1] == "(other)"
        assert sum(categorical["reference"]) == pytest.approx(1.0, abs=1e-12)
        assert sum(categorical["current"]) == pytest.approx(1.0, abs=1e-12)
        assert report["empty"].distribution == {}
        payload = json.loads(json.dumps(report.to_dict(), allow_nan=False))
        assert payload["features"][0]["distribution"]["edges"] == numeric["edges"]
    assert from_profile["x"].distribution["edges"] == pytest.approx(
        from_data["x"].distribution["edges"], abs=0.05
    )
    assert from_profile["x"].distribution["reference"] == pytest.approx(
        from_data["x"].distribution["reference"], abs=0.005
    )
    profile_c, data_c = from_profile["c"].distribution, from_data["c"].distribution
    assert profile_c["categories"] == data_c["categories"]
    for side in ("reference", "current"):
        assert profile_c[side] == pytest.approx(data_c[side], rel=1e-12)


# --- inputs ------------------------------------------------------------------------------------


def test_profile_input_errors_are_clear() -> None:
    frame = pd.DataFrame(
        {"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"], "t": pd.to_datetime(["2024-01-01"] * 3)}
    )
    profile = _profile(frame)

    with pytest.raises(InvalidInput, match=r"'y'.*missing from the reference profile"):
        detect_drift(profile, frame.assign(y=1.0), columns=["y"])
    with pytest.raises(InvalidInput, match="reference profile has no rows"):
        detect_drift(_profile(frame.iloc[:0]), frame)
    with pytest.raises(InvalidInput, match=r"numeric in the reference profile .* categorical"):
        detect_drift(profile, frame.assign(x=["1", "2", "3"]), columns=["x"])
    with pytest.raises(InvalidInput, match=r"categorical=\[\.\.\.\].*holds no category counts"):
        detect_drift(profile, frame, columns=["x"], categorical=["x"])
    with pytest.raises(InvalidInput, match=r"'t' is datetime in the reference profile"):
        detect_drift(profile, frame)
    with pytest.raises(InvalidInput, match="missing_rate"):
        detect_drift({"num_rows": 3, "columns": {"x": {"kind": "float"}}}, frame)
    bad = profile.to_dict()
    bad["columns"]["x"]["quantile_sketch"] = [1.0, 0.0]
    with pytest.raises(InvalidInput, match=r"101 finite, non-decreasing"):
        detect_drift(bad, frame, columns=["x"])
    assert math.isnan(detect_drift(profile, frame.assign(x=np.nan), columns=["x"])["x"].statistic)
