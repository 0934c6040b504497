"""What every benchmark shares: this machine's limits, a node served in a subprocess, output.

Every benchmark first measures the machine's own limits in the same run (Ed25519
sign and verify per core with ``cryptography``, which pel uses, and with libsodium
through PyNaCl; SHA-256 of 65-byte inputs), so each figure can be printed next
to the limit it is bound by.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = Path(__file__).resolve().parent.parent
PEL = [sys.executable, "-m", "pel.node.cli"]
PG_URL = os.environ.get("PEL_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _rate(fn: object, seconds: float = 1.0) -> float:
    """Calls per second of ``fn`` (a no-argument callable), measured for about ``seconds``."""
    call = fn  # type: ignore[assignment]
    n, start = 0, time.perf_counter()
    while True:
        for _ in range(200):
            call()  # type: ignore[operator]
        n += 200
        took = time.perf_counter() - start
        if took >= seconds:
            return n / took


def _verify_from(start_at: float, seconds: float) -> float:
    """Ed25519 verifications per second in this process, from wall-clock ``start_at``."""
    key = Ed25519PrivateKey.generate()
    message = b"m" * 400
    sig = key.sign(message)
    public = key.public_key()
    time.sleep(max(0.0, start_at - time.time()))
    return _rate(lambda: public.verify(sig, message), seconds)


def _verify_all_cores(cores: int, seconds: float = 1.0) -> float:
    """Ed25519 verifications per second with every core verifying at once (one process
    each, started together): what a verifier using every core can reach at most. It may
    be less than ``cores`` times one core's rate (a virtual machine's cores share a host)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(cores, mp_context=context) as pool:
        start_at = time.time() + 3.0  # after every worker has started
        futures = [pool.submit(_verify_from, start_at, seconds) for _ in range(cores)]
        return sum(f.result() for f in futures)


def verify_all_again(limits: Limits) -> float:
    """Measure every core's verify rate once more, after a long figure: this machine's
    speed drifts within minutes, so a figure bound by it is divided by the higher of the
    two readings (the lower ratio). Both are printed."""
    again = _verify_all_cores(limits.cores)
    row(f"Ed25519 verify, all {limits.cores} cores at once, measured again", again, "/s")
    return max(limits.verify_all, again)


@dataclass(frozen=True)
class Limits:
    sign: float
    verify: float
    nacl_sign: float
    nacl_verify: float
    sha256: float
    cores: int
    verify_all: float

    def show(self) -> None:
        row("Ed25519 sign, one core (cryptography)", self.sign, "/s")
        row("Ed25519 verify, one core (cryptography)", self.verify, "/s")
        row(f"Ed25519 verify, all {self.cores} cores at once (cryptography)", self.verify_all, "/s")
        row("Ed25519 sign, one core (libsodium/PyNaCl)", self.nacl_sign, "/s")
        row("Ed25519 verify, one core (libsodium/PyNaCl)", self.nacl_verify, "/s")
        row("SHA-256 of 65 bytes, one core", self.sha256, "/s")


def measure_limits() -> Limits:
    """This machine's per-core crypto limits, measured now."""
    import nacl.signing

    message = b"m" * 400  # about one record's canonical JSON
    key = Ed25519PrivateKey.generate()
    sig = key.sign(message)
    public = key.public_key()
    nkey = nacl.signing.SigningKey.generate()
    nsigned = nkey.sign(message)
    data = bytes(65)
    return Limits(
        sign=_rate(lambda: key.sign(message)),
        verify=_rate(lambda: public.verify(sig, message)),
        nacl_sign=_rate(lambda: nkey.sign(message)),
        nacl_verify=_rate(lambda: nkey.verify_key.verify(nsigned)),
        sha256=_rate(lambda: hashlib.sha256(data).digest()),
        cores=os.cpu_count() or 1,
        verify_all=_verify_all_cores(os.cpu_count() or 1),
    )


def machine() -> str:
    mem = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // (1024 * 1024)
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores ({cpu}), {mem} GiB, Python {platform.python_version()}"


def header(title: str) -> Limits:
    print(f"\n== {title} ==")
    print(f"machine: {machine()}")
    print(f"date:    {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    limits = measure_limits()
    limits.show()
    return limits


def row(
    label: str, value: float, unit: str = "", limit: float | None = None, limit_name: str = ""
) -> None:
    ratio = f"   = {value / limit:.2f} x {limit_name}" if limit else ""
    print(f"  {label:<52} {value:>12,.1f} {unit}{ratio}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=2):
            return True
    except Exception:
        return False


def fresh_pg_schema(name: str) -> str:
    """A database URL whose tables live in a fresh schema ``name``."""
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{name}"')
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{name}"


def init_node(directory: Path, agency: str = "TH-SSO", database: str | None = None) -> dict:
    cmd = [
        *PEL,
        "init",
        str(directory),
        "--agency",
        agency,
        "--origin",
        f"{agency.lower()}.bench.example/log",
        "--json",
    ]
    if database:
        cmd += ["--database", database]
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out))


@contextlib.contextmanager
def served(directory: Path, *, quick_check: bool = True, port: int | None = None) -> Iterator[str]:
    """Serve a node directory with ``pel serve`` in its own process; yield its URL."""
    port = port or free_port()
    cmd = [*PEL, "serve", str(directory), "--port", str(port)]
    if quick_check:
        cmd.append("--quick-check")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"pel serve exited: {proc.stderr.read().decode()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                # Serving, and done reading its stored tiles once (``tiles_prewarm``):
                # figures are taken of a node that has finished starting.
                info = httpx.get(url + "/v1/node", timeout=5)
                if info.status_code == 200 and info.json()["tiles_prewarm"]["state"] != "running":
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("pel serve did not start")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=prefix) as d:
        yield Path(d)
