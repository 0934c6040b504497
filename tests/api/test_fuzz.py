"""Schemathesis against the app's own OpenAPI schema, through the ASGI app (no network).

Every operation, with and without a valid write token, with schema-valid and
schema-invalid requests. Checked on every answer: never a 5xx (an unhandled exception
fails the test directly), the status code and content type are documented, the body
conforms to the documented schema, schema-invalid requests are refused, and every 4xx
body is ``{"error": {"code", "message"}}``. Hypothesis is derandomized and bounded so the
file runs in seconds and CI sees the same requests every time. Schema-valid requests
are not required to succeed (``positive_data_acceptance`` is left out): the schema says
a batch is an array of objects, not what makes a record valid, so refusing one is right.
Afterwards the log is what it was: nothing the fuzzer sent was appended.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi import checks as oc

from pel.api.app import create_app
from pel.node.agency_node import Node, init_node
from tests import factories as f
from tests.conftest import AGENCY, ORIGIN
from tests.ledger.test_mirror import Source, mirror

EXAMPLES = 25
OPERATIONS = {
    "POST /v1/records",
    "GET /v1/records/{index}",
    "GET /v1/records/{issuer}/{record_id}",
    "GET /v1/proof/inclusion",
    "GET /v1/proof/consistency",
    "GET /checkpoint",
    "GET /tile/{path}",
    "GET /v1/node",
    "GET /healthz",
    "POST /add-checkpoint",
    "GET /mirror/{path}",
    "POST /v1/gossip",
    "GET /v1/federation",
    "GET /v1/pwids/{pwid}/bundle",
}


def error_shape(_ctx: Any, response: Any, _case: Any) -> None:
    """Every 4xx but tlog-witness's 409 (``text/x.tlog.size``) is the error object."""
    if not 400 <= response.status_code < 500:
        return
    if response.headers.get("content-type", [""])[0] == "text/x.tlog.size":
        return
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["code"], str) and body["error"]["code"], body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body


CHECKS = [
    not_a_server_error,
    oc.status_code_conformance,
    oc.content_type_conformance,
    oc.response_schema_conformance,
    oc.response_headers_conformance,
    oc.negative_data_rejection,
    error_shape,
]


@pytest.fixture
def fuzzed(tmp_path: Path) -> Iterator[tuple[Node, str]]:
    """A node with a checkpoint over a few records and a mirrored copy of another log."""
    node, token = init_node(tmp_path / "node", agency=AGENCY, origin=ORIGIN)
    node.submit([f.contribution() for _ in range(5)])
    node.log.integrate()
    src = Source()
    src.grow(300)
    mirror(node.mirrors, src, step=100)
    yield node, token
    node.stop()


def log_contents(node: Node) -> tuple[tuple[int, int], list[bytes]]:
    next_index, size = node.log.state()
    return (next_index, size), [node.log.entry(i) for i in range(next_index)]


@pytest.mark.parametrize("with_token", [True, False], ids=["token", "no-token"])
def test_every_operation_answers_as_documented(fuzzed: tuple[Node, str], with_token: bool) -> None:
    node, token = fuzzed
    before = log_contents(node)
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(node, start=False))
    headers = {"Authorization": f"Bearer {token}"} if with_token else None
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= OPERATIONS
    for op in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=op.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                derandomize=True,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                run()
            except Unsatisfiable:
                pass  # no schema-invalid request exists for an operation without inputs
            except Exception as exc:  # collected, so one run reports every operation
                failures.append(f"{op.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)
    assert log_contents(node) == before
