"""The metric catalogue (synctv/metrics.py): names follow the conventions, every declaration is
used, docs/metrics.md is current, and a running server emits exactly what is declared."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import httpx
import pytest
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.parser import text_string_to_metric_families

from synctv import metrics
from synctv.metrics import Kind, MetricSpec
from tests.support import generated_docs
from tests.support.server import running_server, server_config, url

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = metrics.catalogue()
NAME = re.compile(r"synctv(_[a-z][a-z0-9]*)+")
# Unit words that must never hide inside a name (only UNITS, and only as the suffix).
UNIT_WORDS = {"seconds", "second", "bytes", "byte", "ms", "milliseconds", "kb", "mb", "bits"}
# prometheus_client's default collectors; everything else on /metrics must be declared.
FOREIGN_PREFIXES = ("process_", "python_")


def exposed(spec: MetricSpec) -> str:
    """The family name prometheus_client's parser reports (counters without ``_total``)."""
    return spec.name.removesuffix("_total") if spec.kind is Kind.COUNTER else spec.name


# --- conventions ---


@pytest.mark.parametrize("spec", CATALOGUE, ids=[spec.name for spec in CATALOGUE])
def test_name_follows_the_prometheus_conventions(spec: MetricSpec) -> None:
    assert NAME.fullmatch(spec.name), "synctv_<area>_<what>[_<unit>], lower snake_case"
    assert spec.area in metrics.AREAS
    assert spec.name.endswith("_total") == (spec.kind is Kind.COUNTER)
    base = spec.name.removesuffix("_total")
    words = base.split("_")
    if spec.unit:
        assert spec.unit in metrics.UNITS
        assert words[-1] == spec.unit, "the unit is the suffix (before _total)"
        words = words[:-1]
    assert not UNIT_WORDS & set(words), "a unit word is only ever the declared suffix"
    if spec.kind is Kind.HISTOGRAM:
        assert spec.unit, "a histogram observes seconds or bytes"
    for label in spec.labels:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", label)
        assert label not in ("le", "quantile")
    assert spec.help
    assert not spec.help[0].islower()
    assert not spec.help.endswith(".")


def test_each_sampled_metric_belongs_to_one_snapshot() -> None:
    groups = [value for value in vars(metrics).values() if isinstance(value, metrics.Snapshot)]
    grouped = [spec.name for group in groups for spec in group.metrics]
    sampled = [spec.name for spec in CATALOGUE if spec.read is not None]
    assert sorted(grouped) == sorted(sampled)
    assert len({group.component for group in groups}) == len(groups)


def test_renames_point_from_an_undeclared_name_to_a_declared_one() -> None:
    declared = {spec.name for spec in CATALOGUE}
    assert set(metrics.RENAMED.values()) <= declared
    assert not set(metrics.RENAMED) & declared


def test_a_second_declaration_or_an_unknown_area_is_refused() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        metrics.sampled_counter("synctv_http_requests_total", "Again", read="requests")
    with pytest.raises(ValueError, match="not in AREAS"):
        metrics.sampled_counter("synctv_nowhere_things_total", "Unknown area", read="x")
    assert metrics.catalogue() == CATALOGUE


def uses_in_source() -> set[str]:
    """Names of ``synctv.metrics`` read anywhere in synctv/ except the catalogue itself."""
    used: set[str] = set()
    for path in (ROOT / "synctv").rglob("*.py"):
        if path == ROOT / "synctv" / "metrics.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "metrics"
            ):
                used.add(node.attr)
            elif isinstance(node, ast.ImportFrom) and node.module == "synctv.metrics":
                used.update(alias.name for alias in node.names)
    return used


def test_every_declared_metric_is_updated_or_exported_somewhere() -> None:
    """A declaration nobody counts into (or no builder exports) is a dead metric."""
    declared = {
        name
        for name, value in vars(metrics).items()
        if isinstance(value, Counter | Gauge | Histogram | metrics.Snapshot)
    }
    assert declared, "the catalogue declares objects"
    assert declared - uses_in_source() == set()


# --- docs/metrics.md ---


def run_generator(*args: str) -> subprocess.CompletedProcess[str]:
    return generated_docs.run_generator("gen_metrics_docs.py", *args)


def test_docs_are_current() -> None:
    result = run_generator("--check")
    assert result.returncode == 0, result.stderr


def test_docs_check_fails_on_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "metrics.md"
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    stale.write_text(text.replace("synctv_node_ready", "synctv_ready", 1), encoding="utf-8")
    result = run_generator("--check", "--output", str(stale))
    assert result.returncode == 1
    assert "not current" in result.stderr
    assert run_generator("--output", str(stale)).returncode == 0
    assert run_generator("--check", "--output", str(stale)).returncode == 0
    written = stale.read_text(encoding="utf-8")
    for spec in CATALOGUE:
        assert f"| `{spec.name}` | {spec.kind.value} |" in written


# --- what the running server emits ---


@pytest.mark.slow
async def test_the_running_server_emits_exactly_the_declared_metrics(
    tmp_path: Path, fresh_dsn: str
) -> None:
    """Every feature on (live, RTMP, HLS, STUN, proxy: the defaults), scraped over HTTP: each
    family is declared with the same type, help and labels, and each declaration is emitted."""
    config = server_config(tmp_path / "data", fresh_dsn)
    async with running_server(config) as server, httpx.AsyncClient() as client:
        await client.get(
            url(server.addresses.http, "/api/no/such/route")
        )  # a 404 (other paths are the web client's)
        response = await client.get(url(server.addresses.metrics, "/metrics"))
    assert response.status_code == 200
    families = {family.name: family for family in text_string_to_metric_families(response.text)}
    by_name = {exposed(spec): spec for spec in CATALOGUE}

    # prometheus_client adds a `<name>_created` gauge (creation time) to each pushed counter
    # and histogram in this text format: part of the declared family, not a metric of its own.
    created = {
        f"{exposed(spec)}_created"
        for spec in CATALOGUE
        if spec.read is None and spec.kind in (Kind.COUNTER, Kind.HISTOGRAM)
    }
    undeclared = [
        name
        for name in families
        if name not in by_name and name not in created and not name.startswith(FOREIGN_PREFIXES)
    ]
    assert undeclared == [], undeclared
    never_emitted = sorted(set(by_name) - set(families))
    assert never_emitted == []
    for name, spec in by_name.items():
        family = families[name]
        assert family.type == spec.kind.value, name
        assert family.documentation == spec.help, name
        for sample in family.samples:
            assert set(sample.labels) - {"le"} == set(spec.labels), (name, sample)
        if not spec.labels:
            assert family.samples, f"{name} has no labels, so it always has a value"
    requests = families["synctv_http_requests"]
    assert any(sample.labels.get("status") == "404" for sample in requests.samples)
