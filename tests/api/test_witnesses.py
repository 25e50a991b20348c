"""Departments as witnesses of the log: three `passport witness serve` processes (market regulation, drug
administration, health insurance), the service submitting each new checkpoint to them (PASSPORT_WITNESSES), the
checkpoint served with their cosignatures, `passport log verify --witness` requiring a quorum.

One witness offline (the others still cosign, and it catches up when it comes back), one that never answers (the
service keeps serving, logs it, retries), one shown a forked log first (it refuses, and the service says so in its
log and in GET /v1/log/witnesses). Cosignatures are checked with PyNaCl over the message tlog-cosignature spells
out, written here, not with the code under test. On SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx2 as httpx
import nacl.signing
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import update

from app.api.witness_app import create_witness_app
from app.cli import main
from app.db.models import LogKey, LogWitness
from app.domain.checkpoint import ED25519, checkpoint_body, sign_note
from app.domain.signing import open_private_key
from app.domain.witness import WitnessEndpoint, cosign, parse_signer_key, parse_verifier_key
from app.main import create_app
from app.services.log import LOG_KEY_TAG
from app.services.runtime import Runtime
from app.services.witness import Witness, load_key_file, trusted_logs
from app.services.witnessing import Witnessing, witness_views
from tests.helpers import MASTER_KEY, free_port, serving, settings_for

PASSPORT = str(Path(sys.executable).with_name("passport"))
DEPARTMENTS = ("samr.example.gov.cn/witness", "nmpa.example.gov.cn/witness", "nhsa.example.gov.cn/witness")
b64 = base64.b64decode


@contextmanager
def _witness(key_file: Path, log_key: str, port: int, log: Path) -> Iterator[str]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            [PASSPORT, "witness", "serve", "--key-file", str(key_file), "--log-key", log_key, "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("PASSPORT_")},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            with suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            time.sleep(0.1)
        yield url
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


@contextmanager
def _witness_in_process(key_file: Path, log_key: str, state: Path) -> Iterator[str]:
    """The same witness app in a thread of the test (for the tests about the service, not the witness process)."""
    key, seed = load_key_file(key_file)
    logs = trusted_logs([parse_verifier_key(log_key, ED25519)])
    with serving(create_witness_app(Witness(key, seed, logs, state))) as url:
        yield url


@pytest.fixture
def witness_keys(tmp_path, capsys) -> list[tuple[Path, str]]:
    keys = []
    for name in DEPARTMENTS:
        key_file = tmp_path / f"{name.split('.')[0]}.key"
        assert main(["witness", "init", "--name", name, "--key-file", str(key_file)]) == 0
        keys.append((key_file, capsys.readouterr().out.strip()))
    return keys


@pytest.fixture
def log_vkey(client) -> str:
    return str(client.get("/.well-known/passport-log-key").json()["verifier_key"])


@contextmanager
def _service(database_url: str, witnesses: list[tuple[str, str]], **settings: Any) -> Iterator[str]:
    """The service with PASSPORT_WITNESSES, behind a real uvicorn (the auditor reads it over HTTP)."""
    configured = settings_for(
        database_url,
        witnesses="; ".join(f"{url} {vkey}" for url, vkey in witnesses),
        witness_retry_seconds=0.3,
        witness_timeout_seconds=2,
        **settings,
    )
    runtime = Runtime.start(configured)
    try:
        with serving(create_app(configured, runtime)) as url:
            yield url
    finally:
        runtime.close()


def _journey(client, maker, batch, issue, make_org, hops: int = 1) -> None:
    dist = make_org("distributor", "drug_wholesale")
    for code in [c["uri"] for c in issue(batch["id"], hops)]:
        for org, body in (
            (maker, {"action": "ship", "codes": [code], "to": dist.id, "region": "CN-31"}),
            (dist, {"action": "receive", "codes": [code], "region": "CN-32"}),
        ):
            response = client.post("/v1/events", json=body, headers=org.headers)
            assert response.status_code == 201, response.text


def _until(what: Callable[[], Any], seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = what()
        if value:
            return value
        assert time.monotonic() < deadline, f"not reached in {seconds} s"
        time.sleep(0.1)


def _standing(url: str) -> dict[str, dict[str, Any]]:
    return {w["name"]: w for w in httpx.get(f"{url}/v1/log/witnesses", timeout=30).json()["witnesses"]}


def _cosigned(url: str, size: int, names: set[str]) -> dict[str, Any] | None:
    checkpoint = httpx.get(f"{url}/v1/log/checkpoint", timeout=30).json()
    return checkpoint if checkpoint["tree_size"] == size and names <= set(checkpoint["cosigned_by"]) else None


def _check_cosignatures(note: str, vkeys: list[str]) -> set[str]:
    """The witnesses whose cosignature/v1 line in ``note`` verifies, read from the spec's bytes: the body is
    everything up to the blank line; a line is ``— name base64(key ID || u64 time || Ed25519 signature)``."""
    body, _, block = note.partition("\n\n")
    body += "\n"
    good = set()
    for vkey in vkeys:
        name, key_hex, encoded = vkey.split("+", 2)
        public = b64(encoded)
        assert public[0] == 0x04
        for line in block.splitlines():
            if line.startswith(f"— {name} "):
                raw = b64(line.split(" ")[-1])
                assert len(raw) == 76 and raw[:4].hex() == key_hex
                timestamp = int.from_bytes(raw[4:12], "big")
                message = f"cosignature/v1\ntime {timestamp}\n{body}".encode()
                nacl.signing.VerifyKey(public[1:]).verify(message, raw[12:])
                good.add(name)
    return good


def test_three_departments_cosign_one_offline_catches_up_and_verify_needs_the_quorum(
    tmp_path, database_url, client, maker, batch, issue, make_org, witness_keys, log_vkey, capsys
):
    ports = [free_port() for _ in DEPARTMENTS]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    vkeys = [vkey for _, vkey in witness_keys]
    samr, nmpa, nhsa = DEPARTMENTS
    _journey(client, maker, batch, issue, make_org)
    with (
        _witness(witness_keys[0][0], log_vkey, ports[0], tmp_path / "samr.log"),
        _witness(witness_keys[1][0], log_vkey, ports[1], tmp_path / "nmpa.log"),
        _service(database_url, list(zip(urls, vkeys, strict=True))) as service,
    ):
        # nhsa's witness is offline: the two others cosign, the checkpoint is served all the same.
        first = _until(lambda: _cosigned(service, 2, {samr, nmpa}))
        assert set(first["cosigned_by"]) == {samr, nmpa}
        assert _check_cosignatures(first["note"], vkeys) == {samr, nmpa}
        standing = _until(lambda: (s := _standing(service))[nhsa]["status"] == "unreachable" and s)
        assert standing[samr]["status"] == standing[nmpa]["status"] == "cosigned"
        assert standing[samr]["cosigned_size"] == 2 and standing[nhsa]["cosigned_size"] == 0
        assert "no answer" in standing[nhsa]["last_error"]

        # The log grows: the two online witnesses get a consistency proof from 2 and cosign 4.
        _journey(client, maker, batch, issue, make_org)
        grown = _until(lambda: _cosigned(service, 4, {samr, nmpa}))
        assert _check_cosignatures(grown["note"], vkeys) == {samr, nmpa}
        listed = httpx.get(f"{service}/v1/log/checkpoints", timeout=30).json()["checkpoints"]
        assert [(c["tree_size"], sorted(c["cosigned_by"])) for c in listed] == [(2, [nmpa, samr]), (4, [nmpa, samr])]

        # Two of three is not all three.
        code = main(["log", "verify", "--url", service, "--api-key", maker.api_key, *_witness_args(vkeys)])
        out = capsys.readouterr().out
        assert code == 1 and "no checkpoint is cosigned by 3 of the 3 witnesses given" in out
        code = main(
            ["log", "verify", "--url", service, "--api-key", maker.api_key, *_witness_args(vkeys), "--quorum", "2"]
        )
        out = capsys.readouterr().out
        assert code == 0, out
        assert f"witnessed: checkpoint {grown['id']} (size 4) cosigned by 2 of 3 witnesses (quorum 2)" in out

        # nhsa comes back: it is sent the newest checkpoint from old size 0 and cosigns it.
        with _witness(witness_keys[2][0], log_vkey, ports[2], tmp_path / "nhsa.log"):
            everyone = _until(lambda: _cosigned(service, 4, set(DEPARTMENTS)))
            assert _check_cosignatures(everyone["note"], vkeys) == set(DEPARTMENTS)
            assert _standing(service)[nhsa] | {"last_attempt_at": None, "last_cosigned_at": None} == {
                "name": nhsa,
                "verifier_key": vkeys[2],
                "status": "cosigned",
                "cosigned_size": 4,
                "last_error": None,
                "last_attempt_at": None,
                "last_cosigned_at": None,
            }
        code = main(["log", "verify", "--url", service, "--api-key", maker.api_key, *_witness_args(vkeys)])
        out = capsys.readouterr().out
        assert code == 0 and "cosigned by 3 of 3 witnesses (quorum 3)" in out, out

    # Stored: a restart without any witness configured still serves their cosignatures.
    with _service(database_url, []) as service:
        again = httpx.get(f"{service}/v1/log/checkpoint", timeout=30).json()
        assert again["id"] == everyone["id"] and again["note"] == everyone["note"]
        assert httpx.get(f"{service}/v1/log/witnesses", timeout=30).json() == {"witnesses": []}
        code = main(["log", "verify", "--url", service, "--api-key", maker.api_key, *_witness_args(vkeys)])
        assert code == 0


def _witness_args(vkeys: list[str]) -> list[str]:
    return [arg for vkey in vkeys for arg in ("--witness", vkey)]


def _fork(runtime: Runtime, size: int) -> str:
    """A checkpoint of ``size`` with another root, signed with the log's own key: what a log that forked shows."""
    with runtime.sessions() as session:
        key = session.query(LogKey).one()
        private = open_private_key(b64(MASTER_KEY), LOG_KEY_TAG, bytes(key.sealed_private_key))
        return sign_note(checkpoint_body(key.name, size, os.urandom(32)), key.name, private)


def test_a_witness_shown_a_fork_refuses_and_the_service_says_so(
    tmp_path, database_url, client, runtime, maker, batch, issue, make_org, witness_keys, log_vkey, caplog, capsys
):
    caplog.set_level(logging.WARNING, logger="passport.witnesses")
    ports = [free_port() for _ in DEPARTMENTS]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    vkeys = [vkey for _, vkey in witness_keys]
    samr, nmpa, nhsa = DEPARTMENTS
    _journey(client, maker, batch, issue, make_org)
    with (
        _witness(witness_keys[0][0], log_vkey, ports[0], tmp_path / "samr.log"),
        _witness(witness_keys[1][0], log_vkey, ports[1], tmp_path / "nmpa.log"),
        _witness(witness_keys[2][0], log_vkey, ports[2], tmp_path / "nhsa.log"),
    ):
        # Someone holding the log's key shows nhsa another tree of size 2 first: nhsa cosigns it (it knows no other).
        shown = httpx.post(f"{urls[2]}/add-checkpoint", content=b"old 0\n\n" + _fork(runtime, 2).encode(), timeout=30)
        assert shown.status_code == 200
        with _service(database_url, list(zip(urls, vkeys, strict=True))) as service:
            checkpoint = _until(lambda: _cosigned(service, 2, {samr, nmpa}))
            refused = _until(lambda: (s := _standing(service)[nhsa])["status"] == "refused" and s)
            assert "another checkpoint of size 2" in refused["last_error"] and "fork" in refused["last_error"]
            assert nhsa not in checkpoint["cosigned_by"]
            # The log grows: nhsa is sent a proof from 2 that its forked root cannot meet (422).
            _journey(client, maker, batch, issue, make_org)
            _until(lambda: _cosigned(service, 4, {samr, nmpa}))
            refused = _until(lambda: "422" in ((s := _standing(service)[nhsa])["last_error"] or "") and s)
            assert refused["status"] == "refused" and "consistency proof from size 2 to 4" in refused["last_error"]
            assert nhsa not in httpx.get(f"{service}/v1/log/checkpoint", timeout=30).json()["cosigned_by"]

            code = main(["log", "verify", "--url", service, "--api-key", maker.api_key, *_witness_args(vkeys)])
            out = capsys.readouterr().out
            assert code == 1 and "no checkpoint is cosigned by 3 of the 3 witnesses given" in out
            code = main(
                ["log", "verify", "--url", service, "--api-key", maker.api_key, *_witness_args(vkeys), "--quorum", "2"]
            )
            out = capsys.readouterr().out
            assert code == 0 and "(size 4) cosigned by 2 of 3 witnesses (quorum 2)" in out, out
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR and nhsa in r.getMessage()]
    assert any("refused the checkpoint of size 2" in m and "fork" in m for m in errors), errors
    assert any("refused the checkpoint of size 4" in m and "422" in m for m in errors), errors
    witness_log = (tmp_path / "nhsa.log").read_text()
    assert "refused to cosign" in witness_log and "does not verify" in witness_log


def test_a_witness_that_never_answers_does_not_hold_up_the_service(
    tmp_path, database_url, client, maker, batch, issue, make_org, witness_keys, log_vkey, caplog
):
    caplog.set_level(logging.WARNING, logger="passport.witnesses")
    samr = DEPARTMENTS[0]
    silent = socket.socket()  # accepts connections (the kernel does) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    vkeys = [vkey for _, vkey in witness_keys]
    _journey(client, maker, batch, issue, make_org)
    try:
        with (
            _witness_in_process(witness_keys[0][0], log_vkey, tmp_path / "samr.state") as samr_url,
            _service(
                database_url,
                [(samr_url, vkeys[0]), (f"http://127.0.0.1:{silent.getsockname()[1]}", vkeys[1])],
            ) as service,
        ):
            started = time.monotonic()
            assert httpx.get(f"{service}/v1/log/checkpoint", timeout=30).json()["tree_size"] == 2
            assert time.monotonic() - started < 1.5  # not the silent witness's 2 s timeout
            _until(lambda: _cosigned(service, 2, {samr}))
            stuck = _until(lambda: (s := _standing(service)[DEPARTMENTS[1]])["status"] == "unreachable" and s)
            assert "timed out" in stuck["last_error"]
            _journey(client, maker, batch, issue, make_org)  # still writing, still checkpointing, still cosigned
            _until(lambda: _cosigned(service, 4, {samr}))
    finally:
        silent.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(DEPARTMENTS[1] in m and "timed out" in m and "retried every" in m for m in warnings), warnings


def test_the_auditor_refuses_a_tampered_cosignature_and_checks_export_files(
    tmp_path, database_url, client, maker, batch, issue, make_org, witness_keys, log_vkey, monkeypatch, capsys
):
    vkey = witness_keys[0][1]
    _journey(client, maker, batch, issue, make_org)
    with (
        _witness_in_process(witness_keys[0][0], log_vkey, tmp_path / "samr.state") as samr_url,
        _service(database_url, [(samr_url, vkey)]) as service,
    ):
        _until(lambda: _cosigned(service, 2, {DEPARTMENTS[0]}))
    monkeypatch.setenv("PASSPORT_DATABASE_URL", database_url)
    monkeypatch.setenv("PASSPORT_MASTER_KEY", MASTER_KEY)
    export = tmp_path / "log.json"
    assert main(["log", "export", "--out", str(export)]) == 0
    assert main(["log", "verify", "--export", str(export), "--witness", vkey]) == 0
    assert "cosigned by 1 of 1 witnesses (quorum 1)" in capsys.readouterr().out
    data = json.loads(export.read_text())
    note = data["checkpoints"][-1]["note"]
    line = note.rstrip("\n").split("\n")[-1]
    raw = bytearray(b64(line.split(" ")[-1]))
    raw[20] ^= 1
    data["checkpoints"][-1]["note"] = note.replace(line, line.rsplit(" ", 1)[0] + " " + base64.b64encode(raw).decode())
    export.write_text(json.dumps(data))
    assert main(["log", "verify", "--export", str(export), "--witness", vkey]) == 1
    out = capsys.readouterr().out
    assert f"bad cosignature by {vkey}" in out and "no checkpoint is cosigned by 1 of the 1 witnesses given" in out
    other = witness_keys[1][1]
    assert main(["log", "verify", "--export", str(export), "--witness", other, "--quorum", "2"]) == 2
    assert "--quorum 2" in capsys.readouterr().err
    assert main(["log", "verify", "--export", str(export), "--witness", "nonsense"]) == 2


class _Scripted:
    """A witness that answers what the test says, recording what it was sent (a misbehaving or confused witness)."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, str, str]] = []
        self.received: list[bytes] = []

    def app(self) -> Any:
        app = FastAPI()

        @app.post("/add-checkpoint")
        async def add(request: Request) -> Response:
            self.received.append(await request.body())
            code, content_type, body = self.answers.pop(0)
            return Response(body.encode(), status_code=code, headers={"Content-Type": content_type})

        return app


def test_the_service_stores_only_cosignatures_that_verify_and_reads_every_answer(
    tmp_path, client, runtime, maker, batch, issue, make_org, witness_keys
):
    _journey(client, maker, batch, issue, make_org)
    checkpoint = client.get("/v1/log/checkpoint").json()
    body = checkpoint["note"][: checkpoint["note"].index("\n\n") + 1]
    samr_key, samr_seed = parse_signer_key(witness_keys[0][0].read_text())
    _, nmpa_seed = parse_signer_key(witness_keys[1][0].read_text())
    scripted = _Scripted()
    with serving(scripted.app()) as url:
        endpoint = WitnessEndpoint(url, samr_key)
        witnessing = Witnessing(runtime.sessions, [endpoint], timeout=2, retry=1)
        other_body = body.replace(f"\n{checkpoint['tree_size']}\n", "\n99\n")
        for answer, reason in (
            ((200, "text/plain", cosign(body, samr_key.name, nmpa_seed, 5)), "holds no cosignature"),  # another key
            ((200, "text/plain", cosign(other_body, samr_key.name, samr_seed, 5)), "bad cosignature"),  # another tree
            ((200, "text/plain", "thanks\n"), "not signature lines"),
            ((409, "text/x.tlog.size", "7\n"), "above this log's 2"),
            ((409, "text/plain", "1\n"), "409 without a tree size"),
            ((404, "text/plain", "unknown log\n"), "does not know this log's origin"),
            ((403, "text/plain", "bad signature\n"), "does not trust this log's key"),
        ):
            scripted.answers.append(answer)
            assert witnessing.submit(endpoint) == "refused"
            standing = client.get("/v1/log/witnesses")  # this client's service has no witnesses configured
            assert standing.json() == {"witnesses": []}
            with runtime.sessions() as session:
                view = witness_views(session, [endpoint])[0]
            assert view["status"] == "refused" and reason in view["last_error"], (answer, view)
            assert client.get("/v1/log/checkpoint").json()["note"] == checkpoint["note"]  # nothing stored
        scripted.answers.append((503, "text/plain", "busy\n"))
        assert witnessing.submit(endpoint) == "unreachable"

        # A witness that lost its state answers 409 with 0: the service starts again from 0 at once.
        scripted.answers += [
            (409, "text/x.tlog.size", "0\n"),
            (200, "text/plain", cosign(body, samr_key.name, samr_seed, 6)),
        ]
        with runtime.sessions.begin() as session:
            session.execute(update(LogWitness).values(cosigned_size=2))
        scripted.received.clear()
        assert witnessing.submit(endpoint) == "cosigned"
        assert [r.split(b"\n", 1)[0] for r in scripted.received] == [b"old 2", b"old 0"]
        served = client.get("/v1/log/checkpoint").json()
        assert served["cosigned_by"] == [samr_key.name] and served["note"].startswith(checkpoint["note"])
        assert witnessing.submit(endpoint) is None  # cosigned already: nothing is sent
        assert len(scripted.received) == 2


def test_the_demo_says_who_witnesses_the_log_and_how_to_require_them(witness_keys):
    from app.services.demo import _witness_lines

    vkeys = [vkey for _, vkey in witness_keys]
    configured = settings_for(
        "sqlite://", witnesses="; ".join(f"http://127.0.0.1:{7381 + i} {v}" for i, v in enumerate(vkeys))
    )
    lines = _witness_lines(configured)
    assert lines[0] == f"The log's witnesses cosign each checkpoint ({', '.join(DEPARTMENTS)}):"
    assert lines[-1].endswith(" ".join(f"--witness '{v}'" for v in vkeys))
    assert "scripts/witnesses" in " ".join(_witness_lines(settings_for("sqlite://")))
