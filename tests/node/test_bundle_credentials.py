"""``pel bundle`` sends each credential only where it belongs: a token to the node that
issued it, a member's signed request (or nothing) to the other members' nodes. The
members' nodes here are recording servers on loopback that remember every header."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from pel.ledger.federation.trust_list import Member, SignedTrustList, TrustList
from pel.node.agency_node import init_node
from tests.bundle_kit import AGENCIES as MEMBERS
from tests.conftest import serve
from tests.node.test_cli import run

PWID = "MM-7K3Q9X2M4T8V1B5N"


def recorder(seen: list[tuple[str, str | None]]) -> FastAPI:
    """A server that records each request's path and Authorization, and holds nothing."""
    app = FastAPI()

    @app.get("/{path:path}")
    async def anything(path: str, request: Request) -> JSONResponse:
        seen.append((request.url.path, request.headers.get("authorization")))
        return JSONResponse({"error": {"code": "not_found", "message": "none"}}, 404)

    return app


@pytest.fixture
def members(tmp_path: Path) -> Iterator[tuple[Path, dict[str, list[tuple[str, str | None]]]]]:
    """A signed trust list whose members' URLs are recording servers."""
    seen: dict[str, list[tuple[str, str | None]]] = {a: [] for a, _, _ in MEMBERS}
    with contextlib.ExitStack() as stack:
        urls = {a: stack.enter_context(serve(recorder(seen[a]))) for a, _, _ in MEMBERS}
        made, listed = [], []
        for agency, origin, _cc in MEMBERS:
            node, _ = init_node(tmp_path / agency, agency=agency, origin=origin)
            node.stop()
            made.append(node)
            code, out, err = run(
                "federation",
                "member",
                str(tmp_path / agency),
                "--url",
                urls[agency],
                "--name",
                agency,
            )
            assert code == 0, err
            listed.append(Member.model_validate(json.loads(out)))
        members = tuple(listed)
        signed = SignedTrustList(
            TrustList(federation="t", version=1, members=members, witness_quorum=2, threshold=3)
        )
        for n in made:
            signed = signed.sign(n.agency, n.issuer_key)
        (tmp_path / "trust.json").write_text(signed.to_json())
        yield tmp_path, seen


def bundle(tmp_path: Path, *extra: str) -> tuple[int, str, str]:
    trust = str(tmp_path / "trust.json")
    return run("bundle", PWID, "--trust", trust, "--out", str(tmp_path / "b.json"), *extra)


def test_a_token_goes_only_to_the_node_that_issued_it(
    members: tuple[Path, dict[str, list[tuple[str, str | None]]]],
) -> None:
    tmp_path, seen = members
    token = "pel_" + "t" * 43
    # A token and no member key: only the issuing node is asked.
    code, _, err = bundle(tmp_path, "--token", token, "--agency", "MM-SSB")
    assert code == 1 and "[no_records]" in err  # the recorders hold nothing
    assert seen["MM-SSB"] == [(f"/v1/pwids/{PWID}/bundle", f"Bearer {token}")]
    assert seen["TH-SSO"] == [] and seen["MY-PERKESO"] == []
    assert "not asked, no credential for them" in err
    # With the agency's issuer key: the others get a signed member request, not the token.
    key = str(tmp_path / "MM-SSB" / "keys" / "issuer.pem")
    code, _, err = bundle(tmp_path, "--token", token, "--agency", "MM-SSB", "--key", key)
    assert code == 1 and "[no_records]" in err
    assert seen["MM-SSB"][1] == (f"/v1/pwids/{PWID}/bundle", f"Bearer {token}")
    for agency in ("TH-SSO", "MY-PERKESO"):
        [(_path, auth)] = seen[agency]
        assert auth is not None and auth.startswith("Pel-Agency agency=MM-SSB,")
        assert f",aud={agency}," in auth  # signed for the node it went to, good there only
        assert token not in auth
    # A token whose node is not named is sent nowhere.
    before = {a: len(v) for a, v in seen.items()}
    code, _, err = bundle(tmp_path, "--token", token)
    assert code == 1 and "[bad_config]" in err and "sent only to the node that issued it" in err
    assert {a: len(v) for a, v in seen.items()} == before
    all_headers = [auth for v in seen.values() for _, auth in v]
    assert sum(token in (a or "") for a in all_headers) == 2  # the two asks of MM-SSB


def test_a_signed_request_goes_only_to_a_node_the_trust_list_names(
    members: tuple[Path, dict[str, list[tuple[str, str | None]]]],
) -> None:
    """A signed request names the agency whose node it is for, found with the URL in the
    trust list; a URL the list does not name (its node could claim to be anyone) is not
    asked, and the command says why."""
    tmp_path, seen = members
    stray: list[tuple[str, str | None]] = []
    with serve(recorder(stray)) as elsewhere:
        key = str(tmp_path / "MM-SSB" / "keys" / "issuer.pem")
        code, _, err = bundle(tmp_path, "--key", key, "--agency", "MM-SSB", "--url", elsewhere)
        assert code == 1 and "[no_records]" in err
        assert stray == []
        assert f"not asked, the trust list names no member at {elsewhere}" in err
    assert all(v == [] for v in seen.values())
