"""The main job on a fresh machine: one agency's node on SQLite, filled and served.

Creates the node directory on first use (its write token kept in ``DIR/token``,
mode 0600, so later runs can submit), serves it on loopback, submits synthetic
filings through the public HTTP API, verifies the log the way an outsider would,
prints where to look, and serves until Ctrl-C.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from rich.console import Console

from pel.crypto.note import parse_vkey
from pel.node.agency_node import Node, init_node
from pel.node.demo.command import pel_command
from pel.node.demo.synth import synth_drafts
from pel.node.filings.submit import submit_rows
from pel.node.peers.client import LogClient
from pel.node.peers.remote_verify import verify_log
from pel.node.server import listen, make_server
from pel.node.trust.secret_files import TOKEN_FILE, read_token, save_token

console = Console(soft_wrap=True)


def quickstart(directory: Path, *, port: int, records: int, agency: str, exit_after: bool) -> None:
    sock = listen("127.0.0.1", port)
    if not (directory / "node.json").exists():
        node, token = init_node(
            directory, agency=agency, origin=f"{agency.lower()}.pel.example/log"
        )
        node.stop()
        save_token(directory, token)
        console.print(f"created node {directory} for {agency}")
    token_file = directory / TOKEN_FILE
    if token_file.is_file():
        console.print(
            f"write token saved in {token_file} (mode 0600; only its hash is in the node)",
            highlight=False,
        )
    node = Node.open(directory)
    token = read_token(directory)
    server = make_server(node, host="127.0.0.1", port=port)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise SystemExit(1)
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    try:
        with LogClient(url, token=token) as client:
            if token and records:
                rows = enumerate(synth_drafts(agency, records, seed=node.log.state()[0]), 1)
                started = time.perf_counter()
                report = submit_rows(client, rows)
                took = time.perf_counter() - started
                console.print(
                    f"submitted {report.appended} synthetic records "
                    f"({report.duplicates} already there) in {took:.1f} s"
                )
            if node.sequencer is not None:
                node.sequencer.wait_for(node.log.state()[0], 30)
            result = verify_log(
                client,
                parse_vkey(node.log_signer.vkey),
                issuer_key=node.issuer_public_key,
                samples=50,
            )
        console.print(
            f"verified {result.origin}: {result.tree_size} entries, root "
            f"{result.root.hex()[:16]}…, {result.proofs} inclusion proofs"
        )
        console.print(f"log verifier key: {node.log_signer.vkey}", highlight=False)
        if exit_after:
            console.print(
                f"--exit-after: the node stops now; {pel_command()} quickstart {directory} "
                "serves it again",
                highlight=False,
                markup=False,
            )
            return
        console.print(f"checkpoint: {url}/checkpoint   API docs: {url}/docs   node: {url}/v1/node")
        if token_file.is_file():
            console.print(
                f'submit a filing: {pel_command()} submit {url} FILE.jsonl --token "$(cat '
                f'{token_file})"',
                highlight=False,
                markup=False,
            )
        console.print("serving; Ctrl-C stops")
        while thread.is_alive():
            thread.join(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.should_exit = True
        thread.join(15)
