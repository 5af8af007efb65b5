"""The error catalogue: every code declared once with valid statuses, nothing raised undeclared,
no declared code unused, and docs/errors.md current."""

from __future__ import annotations

import ast
import copy
import pickle
import re
import subprocess
from http import HTTPStatus
from pathlib import Path

import pytest
from grpclib.const import Status

import synctv
from synctv import errors
from synctv.errors import DomainError, ErrorCode, GrpcStatus, UndeclaredErrorCode, error_body
from tests.support import generated_docs

PACKAGE = Path(synctv.__file__).parent
ROOT = PACKAGE.parent
SOURCES = {
    path: path.read_text(encoding="utf-8")
    for path in sorted(PACKAGE.rglob("*.py"))
    if "_gen" not in path.parts
}
DECLARED = {code.code for code in errors.catalogue()}
CONSTANTS = {name for name, value in vars(errors).items() if isinstance(value, ErrorCode)}


# --- the static scan: literal codes handed to DomainError (or a subclass taking a code) ---


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def code_taking_classes(trees: list[ast.Module]) -> set[str]:
    """DomainError and every subclass (found in the source) whose first argument is still the
    code: a subclass with its own ``__init__(self, message)`` fixes the code itself."""
    classes, fixed = {"DomainError"}, set()
    changed = True
    while changed:
        changed = False
        for tree in trees:
            for node in ast.walk(tree):
                if not isinstance(node, ast.ClassDef) or node.name in classes | fixed:
                    continue
                if not any(_name(base) in classes for base in node.bases):
                    continue
                init = next(
                    (
                        item
                        for item in node.body
                        if isinstance(item, ast.FunctionDef) and item.name == "__init__"
                    ),
                    None,
                )
                takes_code = init is None or [a.arg for a in init.args.args[1:2]] == ["code"]
                (classes if takes_code else fixed).add(node.name)
                changed = True
    return classes


def undeclared_codes(tree: ast.Module, classes: set[str]) -> list[str]:
    """Each code given to a DomainError constructor (or ``errors.lookup``) that the catalogue
    does not declare: string literals, and ``errors.NAME`` constants that do not exist."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or _name(node.func) not in classes | {"lookup"}:
            continue
        argument = node.args[0] if node.args else None
        for keyword in node.keywords:
            if keyword.arg == "code":
                argument = keyword.value
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            if argument.value not in DECLARED:
                found.append(f"line {node.lineno}: {argument.value!r}")
        elif (
            isinstance(argument, ast.Attribute)
            and _name(argument.value) == "errors"
            and argument.attr not in CONSTANTS
        ):
            found.append(f"line {node.lineno}: errors.{argument.attr}")
    return found


TREES = {path: ast.parse(text, str(path)) for path, text in SOURCES.items()}
CLASSES = code_taking_classes(list(TREES.values()))


def test_the_source_raises_only_declared_codes() -> None:
    assert "DomainError" in CLASSES
    assert "ProviderConfigError" not in CLASSES  # fixes its code: its argument is a message
    problems = [
        f"{path.relative_to(ROOT)} {problem}"
        for path, tree in TREES.items()
        for problem in undeclared_codes(tree, CLASSES)
    ]
    assert problems == []


PLANTED = """
from synctv import errors
from synctv.errors import DomainError

class Mine(DomainError):
    pass

class Fixed(DomainError):
    def __init__(self, message):
        super().__init__(errors.STREAM_NOT_FOUND, message)

def bad():
    raise DomainError("stream_not_foundd", "typo")
def bad_keyword():
    raise DomainError(code="poll_option_not_found", message="not declared yet")
def bad_constant():
    raise DomainError(errors.POLL_OPTION_NOT_FOUND, "no such constant")
def bad_subclass():
    raise Mine("made_up_code", "m")
def bad_lookup():
    return errors.lookup("nope_nope")
def fine():
    raise DomainError("stream_not_found", "m")
def fine_constant():
    raise DomainError(errors.STREAM_NOT_FOUND, "m")
def fine_message():
    raise Fixed("a message, not a code")
"""


def test_the_scan_finds_planted_undeclared_codes() -> None:
    tree = ast.parse(PLANTED)
    found = undeclared_codes(tree, code_taking_classes([tree]))
    assert [problem.split(": ", 1)[1] for problem in found] == [
        "'stream_not_foundd'",
        "'poll_option_not_found'",
        "errors.POLL_OPTION_NOT_FOUND",
        "'made_up_code'",
        "'nope_nope'",
    ]


# --- the constructor's run-time check ---


def test_undeclared_code_is_refused_at_run_time() -> None:
    with pytest.raises(UndeclaredErrorCode, match="poll_option_not_found"):
        DomainError("poll_option_not_found", "not declared")
    forged = ErrorCode("stream_not_found", 500, GrpcStatus.INTERNAL, "forged", "live")
    with pytest.raises(UndeclaredErrorCode, match="not from the catalogue"):
        DomainError(forged, "a look-alike is not the declaration")


def test_a_declared_code_by_string_or_constant_is_the_same_declaration() -> None:
    by_string = DomainError("stream_not_found", "no such stream")
    by_constant = DomainError(errors.STREAM_NOT_FOUND, "no such stream", {"stream_id": "abc"})
    assert by_string.error is by_constant.error is errors.STREAM_NOT_FOUND
    assert by_constant.code == "stream_not_found"
    assert str(by_constant) == "stream_not_found: no such stream"


def test_copies_and_pickles_keep_everything() -> None:
    error = DomainError(errors.RANGE_NOT_SATISFIABLE, "m", {"size": 9}, headers=[("a", "b")])
    for twin in (copy.copy(error), pickle.loads(pickle.dumps(error))):
        assert (twin.error, twin.message, twin.details, twin.headers) == (
            errors.RANGE_NOT_SATISFIABLE,
            "m",
            {"size": 9},
            (("a", "b"),),
        )


def test_details_must_be_json() -> None:
    with pytest.raises(TypeError):
        DomainError(errors.INVALID_PARAMETER, "m", {"when": object()})  # type: ignore[dict-item]


def test_error_body_shape() -> None:
    plain = DomainError(errors.STREAM_NOT_FOUND, "no such stream")
    assert error_body(plain) == {"code": "stream_not_found", "message": "no such stream"}
    detailed = DomainError(errors.INVALID_PARAMETER, "bad", {"parameter": "_HLS_msn"})
    assert error_body(detailed) == {
        "code": "invalid_parameter",
        "message": "bad",
        "details": {"parameter": "_HLS_msn"},
    }


# --- the declarations ---


def test_grpc_status_mirrors_grpclib() -> None:
    assert {s.name: s.value for s in GrpcStatus} == {s.name: s.value for s in Status}


@pytest.mark.parametrize("code", errors.catalogue(), ids=str)
def test_every_code_maps_to_valid_statuses(code: ErrorCode) -> None:
    assert 400 <= HTTPStatus(code.http_status).value <= 599
    assert Status(int(code.grpc_status)).name == code.grpc_status.name != "OK"
    assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)+", code.code)
    assert code.description
    assert "\n" not in code.description
    assert errors.lookup(code.code) is code
    assert code.area in {area.name for area in errors.areas()}


def test_each_code_is_declared_once_under_one_constant() -> None:
    values = [vars(errors)[name].code for name in CONSTANTS]
    assert sorted(values) == sorted(DECLARED)
    assert len(values) == len(set(values)) == len(errors.catalogue())


@pytest.mark.parametrize(
    ("code", "http_status", "grpc_status", "description", "refusal"),
    [
        ("stream_not_found", 404, GrpcStatus.NOT_FOUND, "again", "declared twice"),
        ("NotFound", 404, GrpcStatus.NOT_FOUND, "camel", "snake_case"),
        ("found", 404, GrpcStatus.NOT_FOUND, "one word", "snake_case"),
        ("room_listed", 200, GrpcStatus.NOT_FOUND, "a success", "not an HTTP error status"),
        ("room_gone", 499, GrpcStatus.NOT_FOUND, "not a registered status", "not an HTTP"),
        ("room_fine", 400, GrpcStatus.OK, "OK is no error", "OK is not an error"),
        ("room_wordy", 400, GrpcStatus.INVALID_ARGUMENT, "two\nlines", "one non-empty line"),
    ],
)
def test_bad_declarations_are_refused(
    code: str, http_status: int, grpc_status: GrpcStatus, description: str, refusal: str
) -> None:
    with pytest.raises(ValueError, match=refusal):
        errors.LIVE.code(code, http_status, grpc_status, description)
    assert len(errors.catalogue()) == len(DECLARED)


def test_every_declared_code_is_used() -> None:
    others = "\n".join(text for path, text in SOURCES.items() if path.name != "errors.py")
    unused = [
        name
        for name in sorted(CONSTANTS)
        if not re.search(rf"\b{name}\b", others) and f'"{vars(errors)[name]}"' not in others
    ]
    assert unused == []


# --- docs/errors.md ---


def run_generator(*args: str) -> subprocess.CompletedProcess[str]:
    return generated_docs.run_generator("gen_error_docs.py", *args)


def test_docs_are_current() -> None:
    result = run_generator("--check")
    assert result.returncode == 0, result.stderr


def test_docs_check_fails_on_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "errors.md"
    stale.write_text((ROOT / "docs" / "errors.md").read_text().replace("| 404 |", "| 410 |", 1))
    result = run_generator("--check", "--output", str(stale))
    assert result.returncode == 1
    assert "not current" in result.stderr
    assert run_generator("--output", str(stale)).returncode == 0
    assert run_generator("--check", "--output", str(stale)).returncode == 0
    for code in errors.catalogue():
        assert f"| `{code.code}` | {code.http_status} | `{code.grpc_status.name}` |" in (
            stale.read_text()
        )
