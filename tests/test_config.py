"""Config: precedence of sources, _file secrets, path resolution, and every validation failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from synctv.config import ConfigError, load_config


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults(tmp_path: Path) -> None:
    config = load_config(environ={}, cwd=tmp_path)
    assert config.server.port == 8080
    assert config.health.port == 8081
    assert config.metrics.port == 9090
    assert config.data_dir == (tmp_path / "data").resolve()
    assert config.database.url is None
    assert config.server.shutdown_drain_timeout_seconds == 10


def test_precedence_defaults_yaml_env_file(tmp_path: Path) -> None:
    secret = write(tmp_path / "db_url", "postgres://u:from-file@h/db\n")
    yaml_file = write(
        tmp_path / "c.yaml",
        "server:\n  port: 9001\n  host: 127.0.0.1\n"
        "database:\n  url: postgres://u:from-yaml@h/db\n"
        "livestream:\n  gop_cache_size: 3\n",
    )
    env = {
        "SYNCTV_SERVER_PORT": "9002",  # env beats YAML
        "SYNCTV_DATABASE_URL": "postgres://u:from-env@h/db",
        "SYNCTV_DATABASE_URL_FILE": str(secret),  # _file beats env
    }
    config = load_config(yaml_file, env, cwd=tmp_path)
    assert config.server.port == 9002
    assert config.server.host == "127.0.0.1"  # YAML beats default
    assert config.livestream.gop_cache_size == 3
    assert config.database.url is not None
    assert config.database.url.get_secret_value() == "postgres://u:from-file@h/db"


def test_config_path_from_environment(tmp_path: Path) -> None:
    yaml_file = write(tmp_path / "c.yaml", "metrics:\n  port: 9100\n")
    config = load_config(None, {"SYNCTV_CONFIG": str(yaml_file)}, cwd=tmp_path)
    assert config.metrics.port == 9100


def test_file_secret_in_yaml_strips_one_trailing_newline(tmp_path: Path) -> None:
    secret = write(tmp_path / "jwt", "s" * 40 + "\n")
    yaml_file = write(tmp_path / "c.yaml", f"security:\n  jwt_secret_file: {secret}\n")
    config = load_config(yaml_file, {}, cwd=tmp_path)
    assert config.security.jwt_secret is not None
    assert config.security.jwt_secret.get_secret_value() == "s" * 40


def test_nested_sections_and_lists_from_environment(tmp_path: Path) -> None:
    config = load_config(
        None,
        {
            "SYNCTV_LIVESTREAM_HLS_STORAGE_BACKEND": "file",
            "SYNCTV_PROXY_SLICE_CACHE_MAX_SIZE_MB": "64",
            "SYNCTV_SERVER_CORS_ORIGINS": "https://a.example, https://b.example",
            "SYNCTV_DATA_DIR": "/srv/synctv",
        },
        cwd=tmp_path,
    )
    assert config.livestream.hls_storage.backend == "file"
    assert config.proxy_slice_cache.max_size_mb == 64
    assert config.server.cors_origins == ("https://a.example", "https://b.example")
    assert config.data_dir == Path("/srv/synctv")


def test_relative_paths_resolve_under_data_dir(tmp_path: Path) -> None:
    config = load_config(None, {"SYNCTV_DATA_DIR": str(tmp_path)}, cwd=tmp_path)
    assert config.path(config.livestream.hls_storage.dir) == tmp_path / "livestream/hls"
    assert config.path(Path("/abs/dir")) == Path("/abs/dir")


def test_redacted_hides_every_secret(tmp_path: Path) -> None:
    config = load_config(
        None,
        {
            "SYNCTV_SECURITY_JWT_SECRET": "j" * 40,
            "SYNCTV_DATABASE_URL": "postgres://u:pw@h/db",
            "SYNCTV_SECURITY_CREDENTIAL_ENCRYPTION_KEY": "ab" * 32,
        },
        cwd=tmp_path,
    )
    text = repr(config.redacted())
    assert "j" * 40 not in text
    assert "pw@" not in text
    assert "ab" * 32 not in text
    assert config.redacted()["security"]["jwt_secret"] == "***"


FAILURES = [
    ("unknown_env_key", None, {"SYNCTV_SERVER_PROT": "1"}, "SYNCTV_SERVER_PROT", "unknown"),
    ("unknown_yaml_key", "server:\n  prot: 1\n", {}, "server.prot", "unknown key"),
    ("unknown_section", "servers:\n  port: 1\n", {}, "servers", "unknown key"),
    ("bad_type", None, {"SYNCTV_SERVER_PORT": "eighty"}, "server.port", "integer"),
    ("port_too_big", None, {"SYNCTV_SERVER_PORT": "70000"}, "server.port", "65535"),
    ("port_negative", "health:\n  port: -1\n", {}, "health.port", "greater than or equal"),
    ("bad_enum", None, {"SYNCTV_LOG_FORMAT": "xml"}, "log.format", "'human' or 'json'"),
    ("bad_bool", None, {"SYNCTV_METRICS_ENABLED": "maybe"}, "metrics.enabled", "boolean"),
    (
        "malformed_key",
        None,
        {"SYNCTV_SECURITY_CREDENTIAL_ENCRYPTION_KEY": "xyz"},
        "security.credential_encryption_key",
        "64 hexadecimal",
    ),
    ("short_jwt", None, {"SYNCTV_SECURITY_JWT_SECRET": "short"}, "security.jwt_secret", "32"),
    (
        "missing_secret_file",
        None,
        {"SYNCTV_SECURITY_JWT_SECRET_FILE": "/nonexistent/jwt"},
        "security.jwt_secret_file",
        "No such file",
    ),
    ("section_not_mapping", "server: 5\n", {}, "server", "valid dictionary"),
    ("yaml_not_mapping", "- a\n- b\n", {}, "config file", "mapping"),
    ("yaml_invalid", "server: [\n", {}, "config file", "not valid YAML"),
    (
        "negative_drain",
        None,
        {"SYNCTV_SERVER_SHUTDOWN_DRAIN_TIMEOUT_SECONDS": "-1"},
        "server.shutdown_drain_timeout_seconds",
        "greater",
    ),
]


@pytest.mark.parametrize(
    ("yaml_text", "env", "key", "fragment"), [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES]
)
def test_validation_failures_name_the_key(
    tmp_path: Path, yaml_text: str | None, env: dict[str, str], key: str, fragment: str
) -> None:
    path = write(tmp_path / "c.yaml", yaml_text) if yaml_text is not None else None
    with pytest.raises(ConfigError) as info:
        load_config(path, env, cwd=tmp_path)
    assert info.value.key == key
    assert fragment in str(info.value)
    assert str(info.value).startswith(key)
    assert "\n" not in str(info.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml", {}, cwd=tmp_path)


def test_secret_values_never_echoed_in_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(
            None, {"SYNCTV_SECURITY_CREDENTIAL_ENCRYPTION_KEY": "not-hex-secret"}, cwd=tmp_path
        )
    assert "not-hex-secret" not in str(info.value)
