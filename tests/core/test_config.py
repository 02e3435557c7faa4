"""Finding the workspace and its settings, as every command does."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.core.config import resolve_settings, write_default_config
from shipyard.core.errors import ConfigError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SHIPYARD_HOME", "SHIPYARD_DB_URL", "SHIPYARD_ARTIFACTS"):
        monkeypatch.delenv(name, raising=False)


def test_without_config_the_current_folder_is_the_workspace(tmp_path: Path) -> None:
    settings = resolve_settings(tmp_path)
    assert settings.root == tmp_path
    assert settings.db_url == f"sqlite:///{tmp_path}/.shipyard/shipyard.db"
    assert settings.artifacts == str(tmp_path / ".shipyard" / "artifacts")


def test_the_nearest_shipyard_toml_above_wins(tmp_path: Path) -> None:
    write_default_config(tmp_path)
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert resolve_settings(nested).root == tmp_path
    assert (tmp_path / ".shipyard").is_dir()


def test_shipyard_home_beats_the_folder_tree_but_not_an_explicit_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_default_config(tmp_path / "here")
    monkeypatch.chdir(tmp_path / "here")
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "elsewhere"))
    assert resolve_settings().root == tmp_path / "elsewhere"
    assert resolve_settings(tmp_path / "here").root == tmp_path / "here"


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "shipyard.toml").write_text(
        '[store]\ndb_url = "sqlite:///meta/x.db"\nartifacts = "blobs"\n'
    )
    settings = resolve_settings(tmp_path)
    assert settings.db_url == f"sqlite:///{tmp_path}/meta/x.db"
    assert settings.artifacts == str(tmp_path / "blobs")
    monkeypatch.setenv("SHIPYARD_DB_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("SHIPYARD_ARTIFACTS", "s3://bucket/prefix/")
    settings = resolve_settings(tmp_path)
    assert settings.db_url == "postgresql+psycopg://u@h/db"
    assert settings.artifacts == "s3://bucket/prefix"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[store\n", "is not valid TOML"),
        ('[store]\ndb_url = "mysql://x"\n', "db_url must start with"),
        ('[store]\ncolour = "blue"\n', r"store.colour: Extra inputs are not permitted"),
        ('[sotre]\ndb_url = "sqlite://"\n', "sotre"),
    ],
)
def test_a_broken_config_file_is_named_with_what_to_fix(
    tmp_path: Path, text: str, message: str
) -> None:
    (tmp_path / "shipyard.toml").write_text(text)
    with pytest.raises(ConfigError, match=message) as caught:
        resolve_settings(tmp_path)
    assert str(tmp_path / "shipyard.toml") in str(caught.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("oracle://x", "must start with"),
        ("postgresql+psycopg://u:p@h:notaport/db", "not a valid URL"),
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
    ],
)
def test_a_bad_database_url_in_the_environment_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, message: str
) -> None:
    monkeypatch.setenv("SHIPYARD_DB_URL", url)
    with pytest.raises(ConfigError, match=f"SHIPYARD_DB_URL is invalid.*{message}"):
        resolve_settings(tmp_path)


def test_the_monitor_section_is_passed_through_for_the_monitor_to_validate(
    tmp_path: Path,
) -> None:
    (tmp_path / "shipyard.toml").write_text(
        '[monitor]\nwindow = "1h"\nalerts = ["drift_share > 0.3"]\n'
        '[[monitor.sinks]]\ntype = "log"\n'
        '[monitor.retrain]\npipeline = "pipeline:training"\nmax_per_day = 3\n'
    )
    settings = resolve_settings(tmp_path)
    assert settings.monitor == {
        "window": "1h",
        "alerts": ["drift_share > 0.3"],
        "sinks": [{"type": "log"}],
        "retrain": {"pipeline": "pipeline:training", "max_per_day": 3},
    }
    assert settings.gates == {}


def test_without_a_monitor_section_the_settings_carry_an_empty_one(tmp_path: Path) -> None:
    write_default_config(tmp_path)
    assert resolve_settings(tmp_path).monitor == {}


def test_an_unknown_section_lists_the_allowed_ones(tmp_path: Path) -> None:
    (tmp_path / "shipyard.toml").write_text('[monitoring]\nwindow = "1h"\n')
    with pytest.raises(ConfigError, match=r"monitoring: Extra inputs") as caught:
        resolve_settings(tmp_path)
    assert caught.value.hint == "Allowed sections: [store] (db_url, artifacts), [gates], [monitor]."
