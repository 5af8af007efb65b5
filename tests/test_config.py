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
    (
        "missing_relative_secret_file",
        "security:\n  cluster_secret_file: secrets/cluster\n",
        {},
        "security.cluster_secret_file",
        "No such file",
    ),
    (
        "malformed_opaque_setup",
        None,
        {"SYNCTV_SECURITY_OPAQUE_SERVER_SETUP": "x"},
        "security.opaque_server_setup",
        "128 hexadecimal",
    ),
    (
        "opaque_setup_one_byte_short",
        None,
        {"SYNCTV_SECURITY_OPAQUE_SERVER_SETUP": "ab" * 63},
        "security.opaque_server_setup",
        "128 hexadecimal",
    ),
    (
        "database_url_scheme",
        None,
        {"SYNCTV_DATABASE_URL": "mysql://u:pw@h/db"},
        "database.url",
        "postgresql:// or postgres://",
    ),
    (
        "database_url_no_scheme",
        None,
        {"SYNCTV_DATABASE_URL": "localhost:5432"},
        "database.url",
        "must be a URL",
    ),
    (
        "database_url_bad_ipv6",
        None,
        {"SYNCTV_DATABASE_URL": "postgresql://u:pw@[::1/db"},
        "database.url",
        "Invalid IPv6 URL",
    ),
    (
        "database_url_bad_port",
        None,
        {"SYNCTV_DATABASE_URL": "postgresql://u:pw@h:99999/db"},
        "database.url",
        "port must be a number",
    ),
    ("database_url_empty", None, {"SYNCTV_DATABASE_URL": ""}, "database.url", "must not be empty"),
    ("redis_url_scheme", None, {"SYNCTV_REDIS_URL": "http://h:6379"}, "redis.url", "rediss://"),
    ("redis_url_port", None, {"SYNCTV_REDIS_URL": "redis://h:x/0"}, "redis.url", "port"),
    ("redis_url_empty", None, {"SYNCTV_REDIS_URL": " "}, "redis.url", "must not be empty"),
    ("redis_unix_no_path", None, {"SYNCTV_REDIS_URL": "unix://"}, "redis.url", "socket path"),
    (
        "same_port_twice",
        None,
        {"SYNCTV_WEBRTC_STUN_PORT": "1935"},
        "webrtc.stun_port",
        "already taken by livestream.rtmp_port",
    ),
    (
        "same_port_wildcard_and_loopback",
        "server:\n  host: 127.0.0.1\n  port: 9000\nmetrics:\n  port: 9000\n",
        {},
        "metrics.port",
        "already taken by server.port",
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


VALID_URLS = [
    ("database", "postgres://u:pw@db.example:5432/synctv"),
    ("database", "postgresql://u@h1:5432,h2:5433/synctv?target_session_attrs=read-write"),
    ("database", "postgresql://postgres@/postgres?host=/run/postgresql&port=5432"),
    ("database", "postgresql://[2001:db8::1]:5432/synctv"),
    ("redis", "redis://127.0.0.1:6379/0"),
    ("redis", "rediss://:pw@cache.example/1"),
    ("redis", "unix:///run/redis/redis.sock?db=2"),
]


@pytest.mark.parametrize(("section", "url"), VALID_URLS)
def test_valid_urls_are_accepted(tmp_path: Path, section: str, url: str) -> None:
    config = load_config(None, {f"SYNCTV_{section.upper()}_URL": url}, cwd=tmp_path)
    value = getattr(config, section).url
    assert value is not None
    assert value.get_secret_value() == url


def test_url_errors_never_echo_the_url(tmp_path: Path) -> None:
    for url in ("mysql://u:hunter2@h/db", "postgresql://u:hunter2@[::1/db", "redis://:hunter2@h:x"):
        section = "REDIS" if url.startswith("redis") else "DATABASE"
        with pytest.raises(ConfigError) as info:
            load_config(None, {f"SYNCTV_{section}_URL": url}, cwd=tmp_path)
        assert "hunter2" not in str(info.value)


def test_distinct_hosts_may_share_a_port(tmp_path: Path) -> None:
    env = {"SYNCTV_SERVER_HOST": "127.0.0.1", "SYNCTV_HEALTH_HOST": "127.0.0.2"}
    config = load_config(None, {**env, "SYNCTV_HEALTH_PORT": "8080"}, cwd=tmp_path)
    assert config.health.port == config.server.port == 8080
    # Port 0 is ephemeral: never a clash. A disabled listener's port is not checked.
    load_config(None, {"SYNCTV_SERVER_PORT": "0", "SYNCTV_HEALTH_PORT": "0"}, cwd=tmp_path)
    load_config(None, {"SYNCTV_METRICS_PORT": "8080", "SYNCTV_METRICS_ENABLED": "no"}, cwd=tmp_path)


def test_relative_secret_files_resolve_against_the_working_directory(tmp_path: Path) -> None:
    """Not under data_dir: like --config and data_dir itself, a secret file path given in the
    environment or the YAML file is where the command runs (README: Configuration)."""
    write(tmp_path / "jwt", "j" * 40 + "\n")
    (tmp_path / "conf").mkdir()
    write(tmp_path / "conf" / "cluster", "c" * 40)
    yaml_file = write(tmp_path / "c.yaml", "security:\n  cluster_secret_file: conf/cluster\n")
    env = {"SYNCTV_SECURITY_JWT_SECRET_FILE": "jwt", "SYNCTV_DATA_DIR": "/srv/elsewhere"}
    config = load_config(yaml_file, env, cwd=tmp_path)
    assert config.security.jwt_secret is not None
    assert config.security.jwt_secret.get_secret_value() == "j" * 40
    assert config.security.cluster_secret is not None
    assert config.security.cluster_secret.get_secret_value() == "c" * 40
    # ... while other relative paths still live under data_dir.
    assert config.path(config.log.dir) == Path("/srv/elsewhere/logs")


def test_opaque_setup_of_the_generated_shape_is_accepted(tmp_path: Path) -> None:
    seed = "0123456789abcdef" * 8
    config = load_config(None, {"SYNCTV_SECURITY_OPAQUE_SERVER_SETUP": seed}, cwd=tmp_path)
    assert config.security.opaque_server_setup is not None


def test_cluster_enabled_is_refused_as_not_available_yet() -> None:
    """A setting that would do nothing is refused, naming the key, not silently accepted."""
    with pytest.raises(ConfigError) as refused:
        load_config(environ={"SYNCTV_CLUSTER_ENABLED": "true"})
    assert refused.value.key == "cluster.enabled"
    assert "not available yet" in str(refused.value)
    assert load_config(environ={"SYNCTV_CLUSTER_ENABLED": "false"}).cluster.enabled is False


def test_grpc_port_clashes_with_another_listener() -> None:
    with pytest.raises(ConfigError) as clash:
        load_config(environ={"SYNCTV_GRPC_PORT": "8080"})
    assert clash.value.key == "grpc.port"
    disabled = load_config(environ={"SYNCTV_GRPC_PORT": "8080", "SYNCTV_GRPC_ENABLED": "false"})
    assert disabled.grpc.port == 8080


def test_turn_needs_its_secret_and_turn_urls(tmp_path: Path) -> None:
    secret = tmp_path / "turn-secret"
    secret.write_text("s3cret\n")
    config = load_config(
        None,
        {
            "SYNCTV_WEBRTC_TURN_URLS": "turn:t.example:3479?transport=udp,turns:t.example:443",
            "SYNCTV_WEBRTC_TURN_SHARED_SECRET_FILE": str(secret),
        },
        cwd=tmp_path,
    )
    turn = config.webrtc.turn
    assert turn.urls == ("turn:t.example:3479?transport=udp", "turns:t.example:443")
    assert turn.shared_secret is not None
    assert turn.shared_secret.get_secret_value() == "s3cret"
    assert turn.ttl_seconds == 3600
    assert config.redacted()["webrtc"]["turn"]["shared_secret"] == "***"
    with pytest.raises(ConfigError, match=r"webrtc\.turn\.shared_secret: is required"):
        load_config(None, {"SYNCTV_WEBRTC_TURN_URLS": "turn:t.example:3479"}, cwd=tmp_path)
    with pytest.raises(ConfigError, match=r"webrtc\.turn\.urls: 'stun:t:1' must start with turn"):
        load_config(
            None,
            {"SYNCTV_WEBRTC_TURN_URLS": "stun:t:1", "SYNCTV_WEBRTC_TURN_SHARED_SECRET": "k"},
            cwd=tmp_path,
        )
    with pytest.raises(ConfigError, match=r"webrtc\.turn\.ttl_seconds"):
        load_config(None, {"SYNCTV_WEBRTC_TURN_TTL_SECONDS": "5"}, cwd=tmp_path)


def test_realtime_connection_caps() -> None:
    """The room channel's caps (docs/realtime.md, Limits): defaults, environment, at least 1."""
    caps = load_config(environ={}).realtime
    assert (caps.max_connections_per_user, caps.max_connections_per_room) == (20, 2000)
    assert caps.max_connections == 20_000
    set_env = {
        "SYNCTV_REALTIME_MAX_CONNECTIONS_PER_USER": "5",
        "SYNCTV_REALTIME_MAX_CONNECTIONS_PER_ROOM": "50",
        "SYNCTV_REALTIME_MAX_CONNECTIONS": "500",
    }
    caps = load_config(environ=set_env).realtime
    assert (caps.max_connections_per_user, caps.max_connections_per_room) == (5, 50)
    assert caps.max_connections == 500
    with pytest.raises(ConfigError) as refused:
        load_config(environ={"SYNCTV_REALTIME_MAX_CONNECTIONS_PER_ROOM": "0"})
    assert refused.value.key == "realtime.max_connections_per_room"
