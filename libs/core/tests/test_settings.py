from pathlib import Path

import pytest

from airlock.core.settings import Settings, SettingsError, ZoneError, load_settings


def test_defaults_without_file_or_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert settings.home == ".airlock"
    assert settings.api.port == 8080
    assert settings.api.apps == ["web", "execution", "internal"]
    assert settings.database.url is None
    assert settings.database_url() == f"sqlite:///{tmp_path / '.airlock' / 'airlock.db'}"


def test_file_then_env_override(tmp_path: Path) -> None:
    config = tmp_path / "airlock.toml"
    config.write_text('[api]\nport = 9000\nhost = "0.0.0.0"\n[database]\nurl = "sqlite:///x.db"\n')
    settings = load_settings(
        environ={"AIRLOCK_API__PORT": "9100", "AIRLOCK_API__APPS": "web, internal"},
        config_file=config,
    )
    assert settings.api.port == 9100
    assert settings.api.host == "0.0.0.0"
    assert settings.api.apps == ["web", "internal"]
    assert settings.database.url == "sqlite:///x.db"


def test_airlock_home_moves_keys_and_db(tmp_path: Path) -> None:
    settings = load_settings(environ={"AIRLOCK_HOME": str(tmp_path / "h")}, config_file=None)
    assert settings.private_key_path == tmp_path / "h" / "keys" / "jwt_signing.pem"
    assert settings.database_url().endswith(str(tmp_path / "h" / "airlock.db"))


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"AIRLOCK_DATABSE__URL": "x"}, "AIRLOCK_DATABSE__URL"),
        ({"AIRLOCK_API__PROT": "1"}, "AIRLOCK_API__PROT"),
        ({"AIRLOCK_PORT": "1"}, "AIRLOCK_PORT"),
        ({"AIRLOCK_API__PORT": "eighty"}, "api.port"),
        ({"AIRLOCK_API__APPS": "web,scheduler"}, "api.apps"),
        ({"AIRLOCK_ZONE": "moon"}, "zone"),
    ],
)
def test_unknown_or_wrong_env_setting_is_named(environ: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named.replace(".", r"\.")):
        load_settings(environ=environ, config_file=None)


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        ("[api]\nprot = 1\n", "prot"),
        ("[scheduler_typo]\nx = 1\n", "scheduler_typo"),
        ("[api]\nport = 'high'\n", "api.port"),
        ("[api\n", "not valid TOML"),
    ],
)
def test_unknown_or_wrong_file_setting_is_named(tmp_path: Path, toml: str, named: str) -> None:
    config = tmp_path / "airlock.toml"
    config.write_text(toml)
    with pytest.raises(SettingsError, match=named.replace(".", r"\.")):
        load_settings(environ={}, config_file=config)


def test_missing_config_file_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(environ={"AIRLOCK_CONFIG": str(tmp_path / "nope.toml")})


def test_test_knobs_are_not_settings() -> None:
    assert isinstance(
        load_settings(environ={"AIRLOCK_TEST_PG_URL": "x"}, config_file=None), Settings
    )


def test_database_url_refused_outside_control_zone() -> None:
    settings = load_settings(
        environ={"AIRLOCK_ZONE": "processing", "AIRLOCK_DATABASE__URL": "sqlite:///x.db"},
        config_file=None,
    )
    with pytest.raises(ZoneError, match="processing zone"):
        settings.database_url()
