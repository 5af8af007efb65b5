"""One typed, immutable configuration object, built once at start-up.

Sources, in rising precedence: built-in defaults < YAML file (``--config PATH`` or ``SYNCTV_CONFIG``)
< environment ``SYNCTV_<SECTION>_<KEY>`` < ``<key>_file`` secrets (the value is read from the named
file, one trailing newline stripped). Everything is validated before anything listens: an unknown
key, a bad type, a port out of range or an unreadable secret file raises :class:`ConfigError`
naming the key, and the CLI turns that into one line and exit status 2.

Paths: ``data_dir`` and ``<key>_file`` secret paths resolve against the working directory (where
the operator, or the service manager, runs the command, like ``--config``); every other relative
path setting (``log.dir``, HLS and cache directories) resolves under ``data_dir``. A port of 0 asks
the system for an ephemeral port; two listeners on the same non-zero port are a config error.
"""

from __future__ import annotations

import json
import os
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

ENV_PREFIX = "SYNCTV_"
ENV_CONFIG_PATH = "SYNCTV_CONFIG"
# Environment variables with our prefix that are not config keys.
_ENV_RESERVED = frozenset({ENV_CONFIG_PATH, "SYNCTV_DEBUG"})
_FILE_SUFFIX = "_file"

Port = Annotated[int, Field(ge=1, le=65535)]
PortOrEphemeral = Annotated[int, Field(ge=0, le=65535)]
PositiveSeconds = Annotated[float, Field(gt=0)]
NonNegativeSeconds = Annotated[float, Field(ge=0)]
# security.opaque_server_setup: a 64-byte seed, hex-encoded (as data_dir/secrets holds it).
OPAQUE_SEED_HEX_CHARS = 128


class ConfigError(Exception):
    """A configuration problem; ``str()`` is one line that names the key."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}" if key else problem)
        self.key = key
        self.problem = problem


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class ServerConfig(_Section):
    host: str = "0.0.0.0"
    port: PortOrEphemeral = 8080
    mode: Literal["development", "production"] = "development"
    shutdown_drain_timeout_seconds: NonNegativeSeconds = 10.0
    # Origins allowed by CORS on the media endpoints ("*" for any).
    cors_origins: tuple[str, ...] = ("*",)
    trusted_proxies: tuple[str, ...] = ()
    # Base URL printed in admin output (playback URLs); derived from host/port when unset.
    public_url: str | None = None
    request_timeout_seconds: PositiveSeconds = 30.0
    # Open HTTP connections on server.port; past either cap a connection gets 503 at once.
    # 0 = auto: half of the process's descriptor limit (raised to its hard limit at start).
    max_connections: Annotated[int, Field(ge=0)] = 0
    # Per client address (the TCP peer: a reverse proxy counts as one address; raise it then).
    max_connections_per_address: Annotated[int, Field(ge=1)] = 256
    # An idle keep-alive connection is closed after this long without a request.
    keep_alive_timeout_seconds: PositiveSeconds = 15.0


class HealthConfig(_Section):
    enabled: bool = True
    host: str = "0.0.0.0"
    port: PortOrEphemeral = 8081


class MetricsConfig(_Section):
    enabled: bool = True
    host: str = "0.0.0.0"
    port: PortOrEphemeral = 9090


class LogConfig(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["human", "json"] = "human"
    # Also write logs to data_dir/logs/synctv.log.
    to_file: bool = False
    dir: Path = Path("logs")


class DatabaseConfig(_Section):
    # postgres://user:pass@host:port/db; unset = embedded PostgreSQL under data_dir/postgres.
    url: SecretStr | None = None
    pool_min_size: Annotated[int, Field(ge=0, le=1000)] = 1
    pool_max_size: Annotated[int, Field(ge=1, le=1000)] = 10
    connect_timeout_seconds: PositiveSeconds = 10.0
    query_timeout_seconds: PositiveSeconds = 30.0

    @field_validator("url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _check_url(value.get_secret_value(), ("postgresql", "postgres"), "embedded PostgreSQL")
        return value


class RedisConfig(_Section):
    # redis://host:port/db, rediss:// (TLS) or unix:///path; unset = in-process short-lived state
    # (single node only).
    url: SecretStr | None = None
    key_prefix: str = "synctv:"
    timeout_seconds: PositiveSeconds = 5.0

    @field_validator("url")
    @classmethod
    def _redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _check_url(value.get_secret_value(), ("redis", "rediss", "unix"), "in-process state")
        return value


class SecurityConfig(_Section):
    jwt_secret: SecretStr | None = None
    # The OPAQUE server setup seed (the OPRF seed and server key pair derive from it): 128 hex
    # characters, 64 bytes (`openssl rand -hex 64`).
    opaque_server_setup: SecretStr | None = None
    # AES-256-GCM key for provider credentials: 64 hex characters.
    credential_encryption_key: SecretStr | None = None
    # Older credential keys, comma-separated, used only to decrypt (rotation by configuration).
    previous_credential_encryption_keys: SecretStr | None = None
    cluster_secret: SecretStr | None = None
    # Token lifetimes. A revoked session's access tokens stop at once (the revocation set), so
    # the access lifetime only bounds how long a stolen one works if nobody revokes it.
    access_token_ttl_seconds: Annotated[int, Field(ge=60, le=86_400)] = 3600
    refresh_token_ttl_seconds: Annotated[int, Field(ge=3600, le=365 * 86_400)] = 30 * 86_400
    guest_token_ttl_seconds: Annotated[int, Field(ge=60, le=7 * 86_400)] = 4 * 3600
    # Viewer tokens of a room's live stream (``?token=`` on its HTTP-FLV, HLS and RTMP play
    # URLs): short, because a URL travels (logs, shared links) and a token is not revocable;
    # clients re-read the room's playback info before ``expiresAt``. A connection that started
    # (HTTP-FLV, RTMP) plays on; HLS needs a valid token on every request.
    live_token_ttl_seconds: Annotated[int, Field(ge=1, le=86_400)] = 600

    @field_validator("credential_encryption_key")
    @classmethod
    def _hex_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", value.get_secret_value()):
            raise ValueError("must be 64 hexadecimal characters (a 256-bit key)")
        return value

    @field_validator("opaque_server_setup")
    @classmethod
    def _opaque_seed(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(
            rf"[0-9a-fA-F]{{{OPAQUE_SEED_HEX_CHARS}}}", value.get_secret_value()
        ):
            raise ValueError(
                f"must be {OPAQUE_SEED_HEX_CHARS} hexadecimal characters (a 64-byte seed; "
                "generate one with `openssl rand -hex 64`)"
            )
        return value

    @field_validator("previous_credential_encryption_keys")
    @classmethod
    def _hex_keys(cls, value: SecretStr | None) -> SecretStr | None:
        keys = [] if value is None else value.get_secret_value().split(",")
        if not all(re.fullmatch(r"[0-9a-fA-F]{64}", k.strip()) for k in keys):
            raise ValueError("must be comma-separated keys of 64 hexadecimal characters each")
        return value

    @field_validator("jwt_secret", "cluster_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return value


class HlsStorageConfig(_Section):
    backend: Literal["memory", "file"] = "memory"
    memory_max_mb: Annotated[int, Field(ge=1)] = 512
    dir: Path = Path("livestream/hls")


class LivestreamConfig(_Section):
    enabled: bool = True
    rtmp_host: str = "0.0.0.0"
    rtmp_port: PortOrEphemeral = 1935
    # Host name put in the rtmp:// URLs printed to operators; defaults to the public URL's host.
    rtmp_public_host: str | None = None
    gop_cache_size: Annotated[int, Field(ge=0, le=16)] = 2
    gop_cache_max_memory_mb: Annotated[int, Field(ge=1)] = 100
    flv_write_timeout_seconds: PositiveSeconds = 30.0
    publisher_reconnect_grace_seconds: NonNegativeSeconds = 10.0
    flv_wait_for_publisher_seconds: NonNegativeSeconds = 0.0
    # 0 = no cap.
    flv_max_connection_duration_seconds: NonNegativeSeconds = 0.0
    max_flv_tag_size_bytes: Annotated[int, Field(ge=1024, le=0xFFFFFF)] = 10 * 1024 * 1024
    # Publisher reads are coalesced into one fan-out batch per this much media time: each viewer
    # costs one wake-up and one send per batch, so 200 ms (5 batches/s instead of one per read,
    # ~75/s for OBS/FFmpeg) cuts per-viewer CPU ~6x for <= 200 ms of added latency (bench/README;
    # SRS's merged-write latency is the same trade, 350 ms by default). 0 = a batch per read.
    fanout_batch_window_ms: Annotated[int, Field(ge=0, le=1000)] = 200
    handshake_timeout_seconds: PositiveSeconds = 10.0
    publisher_idle_timeout_seconds: PositiveSeconds = 30.0
    max_rtmp_connections: Annotated[int, Field(ge=1)] = 1000
    max_rtmp_connections_per_ip: Annotated[int, Field(ge=1)] = 20
    hls_enabled: bool = True
    hls_segment_seconds: Annotated[float, Field(ge=0.5, le=30)] = 2.0
    hls_playlist_length: Annotated[int, Field(ge=2, le=60)] = 6
    # Segment a stream only while its playlist or segments were requested within
    # hls_on_demand_idle_seconds; the first HLS viewer then waits for one segment (one GOP).
    # The same window decides whether HLS counts as watched for the publisher's read merging.
    hls_on_demand: bool = False
    hls_on_demand_idle_seconds: Annotated[float, Field(ge=10, le=3600)] = 120.0
    hls_storage: HlsStorageConfig = HlsStorageConfig()


class ProxyConfig(_Section):
    allow_private_upstreams: bool = False
    upstream_connect_timeout_seconds: PositiveSeconds = 10.0
    upstream_read_timeout_seconds: PositiveSeconds = 30.0
    max_upstream_connections: Annotated[int, Field(ge=1)] = 100
    max_redirects: Annotated[int, Field(ge=0, le=20)] = 5
    token_ttl_seconds: Annotated[int, Field(ge=1)] = 6 * 3600


class ProxySliceCacheConfig(_Section):
    enabled: bool = True
    slice_size_bytes: Annotated[int, Field(ge=64 * 1024, le=64 * 1024 * 1024)] = 2 * 1024 * 1024
    max_size_mb: Annotated[int, Field(ge=1)] = 512
    # Slice fetches running against upstreams at once, over all objects (more wait their turn).
    max_in_flight_fetches: Annotated[int, Field(ge=1, le=10_000)] = 64
    ttl_seconds: PositiveSeconds = 300.0
    stale_max_age_seconds: NonNegativeSeconds = 60.0
    stale_while_revalidate: bool = True
    file_backend_enabled: bool = False
    dir: Path = Path("cache/proxy-slice")
    eviction_interval_seconds: PositiveSeconds = 60.0
    eviction_target_ratio: Annotated[float, Field(gt=0, le=1)] = 0.875

    @field_validator("max_size_mb")
    @classmethod
    def _holds_a_slice(cls, value: int, info: ValidationInfo) -> int:
        slice_size = info.data.get("slice_size_bytes")
        if isinstance(slice_size, int) and value * 1024 * 1024 < slice_size:
            raise ValueError(
                f"must hold at least one slice: {value} MiB is less than "
                f"proxy_slice_cache.slice_size_bytes ({slice_size} bytes)"
            )
        return value


class IceServerConfig(_Section):
    urls: tuple[str, ...]
    username: str | None = None
    credential: SecretStr | None = None


class TurnConfig(_Section):
    """A TURN server (coturn) sharing a secret with us: clients get time-limited credentials
    (the TURN REST API scheme, coturn's ``--use-auth-secret``), never the secret."""

    # turn:host:port[?transport=udp|tcp] or turns:host:port; empty: no TURN is offered.
    urls: tuple[str, ...] = ()
    # coturn's --static-auth-secret.
    shared_secret: SecretStr | None = None
    # How long a credential handed to a client stays valid.
    ttl_seconds: Annotated[int, Field(ge=60, le=7 * 86_400)] = 3600

    @field_validator("urls")
    @classmethod
    def _turn_urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            if not url.startswith(("turn:", "turns:")):
                raise ValueError(f"{url!r} must start with turn: or turns:")
        return value

    @field_validator("shared_secret")
    @classmethod
    def _secret_with_urls(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is not None and not value.get_secret_value():
            raise ValueError("must not be empty (leave it unset to offer no TURN)")
        if info.data.get("urls") and value is None:
            raise ValueError("is required with webrtc.turn.urls (coturn's static-auth-secret)")
        return value


class WebRTCConfig(_Section):
    enable_builtin_stun: bool = True
    stun_host: str = "::"
    stun_port: PortOrEphemeral = 3478
    # The host name or address clients use to reach the built-in STUN server.
    public_host: str | None = None
    # Binding requests per second allowed from one source address (token bucket, burst = 2x).
    stun_rate_limit_per_second: Annotated[float, Field(gt=0)] = 20.0
    ice_servers: tuple[IceServerConfig, ...] = ()
    turn: TurnConfig = TurnConfig()


class GrpcConfig(_Section):
    # The public gRPC listener (grpc.health.v1.Health, then the business services).
    enabled: bool = True
    host: str = "0.0.0.0"
    port: PortOrEphemeral = 50051
    # Server reflection lists every service and message to anyone who can connect: off unless
    # asked for (grpcurl and similar tools need it).
    enable_reflection: bool = False


class RealtimeConfig(_Section):
    """The realtime room channel (docs/realtime.md, Limits): connections on this node, WebSocket
    and gRPC together. One over a cap is refused (its code, then close 4429)."""

    max_connections_per_user: Annotated[int, Field(ge=1)] = 20
    max_connections_per_room: Annotated[int, Field(ge=1)] = 2000
    # All rooms together (about 55 KiB of server memory each when idle: bench/README.md).
    max_connections: Annotated[int, Field(ge=1)] = 20_000


class ClusterConfig(_Section):
    # Multi-node operation is not built yet: true is refused rather than silently ignored.
    enabled: bool = False
    node_id: str | None = None

    @field_validator("enabled")
    @classmethod
    def _not_available_yet(cls, value: bool) -> bool:
        if value:
            raise ValueError(
                "clustering is not available yet; set it to false (one node per database)"
            )
        return value


class Config(_Section):
    """The whole configuration. Frozen: build a new one with ``model_copy(update=...)``."""

    data_dir: Path = Path("data")
    server: ServerConfig = ServerConfig()
    health: HealthConfig = HealthConfig()
    metrics: MetricsConfig = MetricsConfig()
    log: LogConfig = LogConfig()
    database: DatabaseConfig = DatabaseConfig()
    redis: RedisConfig = RedisConfig()
    security: SecurityConfig = SecurityConfig()
    livestream: LivestreamConfig = LivestreamConfig()
    proxy: ProxyConfig = ProxyConfig()
    proxy_slice_cache: ProxySliceCacheConfig = ProxySliceCacheConfig()
    webrtc: WebRTCConfig = WebRTCConfig()
    grpc: GrpcConfig = GrpcConfig()
    realtime: RealtimeConfig = RealtimeConfig()
    cluster: ClusterConfig = ClusterConfig()

    def path(self, relative: Path) -> Path:
        """Resolve a configured path: relative ones live under ``data_dir``."""
        return relative if relative.is_absolute() else self.data_dir / relative

    def redacted(self) -> dict[str, Any]:
        """The effective config as plain data with every secret replaced by ``"***"``."""
        redacted: dict[str, Any] = _redact(self.model_dump(mode="python"))
        return redacted


def load_config(
    path: Path | str | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    cwd: Path | None = None,
) -> Config:
    """Build and validate the config from defaults, the YAML file, the environment and secrets.

    ``path`` falls back to ``SYNCTV_CONFIG``. Raises :class:`ConfigError` on any problem.
    """
    env = dict(os.environ if environ is None else environ)
    raw: dict[str, Any] = {}
    if path is None and env.get(ENV_CONFIG_PATH):
        path = env[ENV_CONFIG_PATH]
    if path is not None:
        raw = _read_yaml(Path(path))
    _merge(raw, _from_environment(env))
    _resolve_secret_files(raw, Config, (), cwd or Path.cwd())
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise _first_error(exc) from None
    _check_distinct_ports(config)
    data_dir = (
        config.data_dir if config.data_dir.is_absolute() else (cwd or Path.cwd()) / config.data_dir
    )
    return config.model_copy(update={"data_dir": data_dir.resolve()})


# Hosts that bind every address of a family: a port there clashes with the same port anywhere.
_WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})


def _check_distinct_ports(config: Config) -> None:
    """Two enabled listeners on one non-zero port (and overlapping hosts) cannot both bind."""
    listeners = [("server.port", config.server.host, config.server.port)]
    if config.health.enabled:
        listeners.append(("health.port", config.health.host, config.health.port))
    if config.metrics.enabled:
        listeners.append(("metrics.port", config.metrics.host, config.metrics.port))
    if config.livestream.enabled:
        live = config.livestream
        listeners.append(("livestream.rtmp_port", live.rtmp_host, live.rtmp_port))
    if config.webrtc.enable_builtin_stun:
        rtc = config.webrtc
        listeners.append(("webrtc.stun_port", rtc.stun_host, rtc.stun_port))
    if config.grpc.enabled:
        listeners.append(("grpc.port", config.grpc.host, config.grpc.port))
    for index, (key, host, port) in enumerate(listeners):
        for other_key, other_host, other_port in listeners[:index]:
            overlapping = host == other_host or {host, other_host} & _WILDCARD_HOSTS
            if port != 0 and port == other_port and overlapping:
                raise ConfigError(
                    key,
                    f"port {port} is already taken by {other_key}; every listener needs its own "
                    "port",
                )


def _check_url(text: str, schemes: tuple[str, ...], when_unset: str) -> None:
    """Parse a connection URL now, so a bad one is a config error naming the key, not a failure
    at connect time. Messages never quote the URL (it may carry a password)."""
    if not text.strip():
        raise ValueError(f"must not be empty (leave it unset to use the {when_unset})")
    try:
        parts = urlsplit(text.strip())
    except ValueError as exc:  # "Invalid IPv6 URL"
        raise ValueError(f"is not a valid URL: {exc}") from None
    if parts.scheme not in schemes:
        raise ValueError("must be a URL starting with " + " or ".join(f"{s}://" for s in schemes))
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError("must name the socket path: unix:///path/to/redis.sock")
        return
    # libpq (and asyncpg) accept several comma-separated hosts: check each one's port.
    for host in parts.netloc.rpartition("@")[2].split(","):
        after_host = host.partition("]")[2] if host.startswith("[") else host
        if host.startswith("[") and after_host and not after_host.startswith(":"):
            raise ValueError("is not a valid URL: text after the bracketed IPv6 host")
        number = after_host.rpartition(":")[2] if ":" in after_host else ""
        if number and not (number.isdigit() and 1 <= int(number) <= 65535):
            raise ValueError("is not a valid URL: the port must be a number from 1 to 65535")


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("config file", f"cannot read {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError("config file", f"{path} is not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("config file", f"{path} must hold a mapping of sections")
    return data


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> None:
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def _from_environment(env: Mapping[str, str]) -> dict[str, Any]:
    """Map ``SYNCTV_SECTION_KEY=value`` onto the nested key its name spells."""
    out: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name in _ENV_RESERVED:
            continue
        dotted = _env_name_to_key(name[len(ENV_PREFIX) :].lower(), Config, ())
        if dotted is None:
            raise ConfigError(name, "unknown configuration variable")
        node = out
        for part in dotted[:-1]:
            node = node.setdefault(part, {})
        node[dotted[-1]] = _env_value(value, _field_type(Config, dotted))
    return out


def _env_name_to_key(
    rest: str, model: type[BaseModel], prefix: tuple[str, ...]
) -> tuple[str, ...] | None:
    # Longest field name first, so "proxy_slice_cache_x" matches before "proxy_x".
    for field in sorted(model.model_fields, key=len, reverse=True):
        candidates = [field, field + _FILE_SUFFIX] if _is_secret(model, field) else [field]
        for candidate in candidates:
            if rest == candidate:
                return (*prefix, candidate)
        sub = _submodel(model, field)
        if sub is not None and rest.startswith(field + "_"):
            found = _env_name_to_key(rest[len(field) + 1 :], sub, (*prefix, field))
            if found is not None:
                return found
    return None


def _env_value(value: str, annotation: object) -> Any:
    """Environment values are strings; sequences accept JSON lists or comma-separated text."""
    if _is_sequence(annotation):
        stripped = value.strip()
        if stripped.startswith("["):
            try:
                return json.loads(stripped)
            except json.JSONDecodeError:
                return value  # validation reports the type error with the key
        return [item.strip() for item in stripped.split(",") if item.strip()]
    return value


def _resolve_secret_files(
    raw: dict[str, Any], model: type[BaseModel], prefix: tuple[str, ...], cwd: Path
) -> None:
    """Replace ``<key>_file`` entries by the contents of the file they name.

    Relative file paths resolve against the working directory, as a shell, a container's
    ``--env-file`` or a unit file's ``WorkingDirectory=`` would have it.
    """
    for key in list(raw):
        value = raw[key]
        if key.endswith(_FILE_SUFFIX) and _is_secret(model, key[: -len(_FILE_SUFFIX)]):
            dotted = ".".join((*prefix, key))
            if not isinstance(value, str | Path) or not str(value):
                raise ConfigError(dotted, "must be a file path")
            try:
                content = (cwd / value).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
                raise ConfigError(dotted, f"cannot read secret file {value}: {reason}") from None
            del raw[key]
            raw[key[: -len(_FILE_SUFFIX)]] = content.removesuffix("\n").removesuffix("\r")
            continue
        sub = _submodel(model, key) if key in model.model_fields else None
        if sub is not None and isinstance(value, dict):
            _resolve_secret_files(value, sub, (*prefix, key), cwd)


def _first_error(exc: ValidationError) -> ConfigError:
    error = exc.errors()[0]
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return ConfigError(key, "unknown key")
    message = error["msg"].removeprefix("Value error, ")
    got = error.get("input")
    if got is not None and not isinstance(got, dict | list) and not _is_secret_path(error["loc"]):
        message = f"{message} (got {got!r})"
    return ConfigError(key, message)


def _is_secret_path(loc: tuple[int | str, ...]) -> bool:
    """Whether a validation error points at a secret, whose value must never be echoed."""
    model: type[BaseModel] = Config
    for part in loc:
        if not isinstance(part, str) or part not in model.model_fields:
            return True  # inside a list, or unknown: do not risk echoing it
        if _is_secret(model, part):
            return True
        sub = _submodel(model, part)
        if sub is None:
            return False
        model = sub
    return False


def _submodel(model: type[BaseModel], field: str) -> type[BaseModel] | None:
    annotation = model.model_fields[field].annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _field_type(model: type[BaseModel], dotted: tuple[str, ...]) -> object:
    for part in dotted[:-1]:
        sub = _submodel(model, part)
        assert sub is not None
        model = sub
    last = dotted[-1]
    if last not in model.model_fields:  # a *_file entry
        return str
    return model.model_fields[last].annotation


def _is_secret(model: type[BaseModel], field: str) -> bool:
    info = model.model_fields.get(field)
    if info is None:
        return False
    annotation = info.annotation
    return annotation is SecretStr or SecretStr in typing.get_args(annotation)


def _is_sequence(annotation: object) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (tuple, list):
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_is_sequence(arg) for arg in typing.get_args(annotation))
    return False


def _redact(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return "***"
    if isinstance(value, dict):
        return {key: _redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value
