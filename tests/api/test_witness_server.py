"""`passport witness init` and `passport witness serve` as real processes: C2SP tlog-witness add-checkpoint, every
status the spec names, state that survives SIGKILL, and one winner when submissions race from the same old size.

No Passport database here: the test signs checkpoints with a log key of its own, as any log would. Cosignatures are
checked with PyNaCl over the message written out from tlog-cosignature, not with the code under test."""

from __future__ import annotations

import base64
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, redirect_stderr, redirect_stdout, suppress
from pathlib import Path

import httpx2 as httpx
import nacl.signing
import pytest

from app.cli import main
from app.domain import merkle
from app.domain.checkpoint import checkpoint_body, sign_note, verifier_key
from tests.helpers import free_port

PASSPORT = str(Path(sys.executable).with_name("passport"))
LOG_SEED = bytes(range(100, 132))
LOG_NAME = "passport.test/log"
LEAVES = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(40)]


def _log_vkey(seed: bytes = LOG_SEED, name: str = LOG_NAME) -> str:
    public = nacl.signing.SigningKey(seed).verify_key.encode()
    return verifier_key(name, public)


def _nodes(hashes: list[bytes]) -> dict:
    nodes: dict = {}
    for index, h in enumerate(hashes):
        for position, value in merkle.completed_nodes(index, h, nodes):
            nodes[position] = value
    return nodes


NODES = _nodes(LEAVES)


def _note(size: int, leaves: list[bytes] = LEAVES, seed: bytes = LOG_SEED, name: str = LOG_NAME) -> tuple[str, str]:
    body = checkpoint_body(name, size, merkle.root_of(leaves[:size]))
    return body, sign_note(body, name, seed)


def _request(old: int, size: int, note: str | None = None, proof: list[bytes] | None = None) -> bytes:
    if proof is None:
        proof = merkle.consistency_proof(old, size, NODES) if 0 < old < size else []
    lines = [f"old {old}", *(base64.b64encode(p).decode() for p in proof)]
    return ("".join(line + "\n" for line in lines) + "\n" + (note or _note(size)[1])).encode()


def _init(tmp_path: Path, name: str) -> tuple[Path, str]:
    key_file = tmp_path / f"{name.replace('/', '_')}.key"
    code, out, err = _passport("witness", "init", "--name", name, "--key-file", str(key_file))
    assert code == 0, err
    return key_file, out.strip()


def _passport(*args: str) -> tuple[int, str, str]:
    """The command in this process (what exits before serving needs no process of its own)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


@contextmanager
def _serve(key_file: Path, log: Path, *args: str, port: int | None = None) -> Iterator[str]:
    port = port or free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [PASSPORT, "witness", "serve", "--key-file", str(key_file), "--port", str(port), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("PASSPORT_")},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
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


def _cosignature_ok(line: str, vkey: str, body: str) -> int:
    """The timestamp of a cosignature/v1 line by ``vkey`` on ``body``, checked from the spec's bytes."""
    name, key_hex, encoded = vkey.split("+", 2)
    key = base64.b64decode(encoded)
    assert key[0] == 0x04 and line.startswith(f"— {name} ") and line.endswith("\n")
    raw = base64.b64decode(line.removeprefix(f"— {name} ").rstrip("\n"), validate=True)
    assert len(raw) == 76 and raw[:4].hex() == key_hex
    timestamp = int.from_bytes(raw[4:12], "big")
    nacl.signing.VerifyKey(key[1:]).verify(f"cosignature/v1\ntime {timestamp}\n".encode() + body.encode(), raw[12:])
    return timestamp


def _post(url: str, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(f"{url}/add-checkpoint", content=body, headers=headers, timeout=30)


def test_init_prints_a_cosigner_key_and_never_overwrites(tmp_path):
    key_file, vkey = _init(tmp_path, "samr.example.gov.cn/witness")
    assert vkey.startswith("samr.example.gov.cn/witness+") and base64.b64decode(vkey.split("+", 2)[2])[0] == 0x04
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.read_text().startswith("PRIVATE+KEY+samr.example.gov.cn/witness+")
    before = key_file.read_bytes()
    code, _, err = _passport("witness", "init", "--name", "other", "--key-file", str(key_file))
    assert code == 2 and "never overwritten" in err
    assert key_file.read_bytes() == before
    code, _, err = _passport("witness", "init", "--name", "has space", "--key-file", str(tmp_path / "x.key"))
    assert code == 2 and "invalid cosigner key" in err
    assert not (tmp_path / "x.key").exists()


def test_add_checkpoint_cosigns_growth_and_answers_every_refusal_as_the_spec_says(tmp_path):
    key_file, vkey = _init(tmp_path, "nmpa.example.gov.cn/witness")
    log = tmp_path / "witness.log"
    with _serve(key_file, log, "--log-key", _log_vkey()) as url:
        first = _post(url, _request(0, 5))
        assert first.status_code == 200, first.text
        before = int(time.time())
        assert abs(_cosignature_ok(first.text, vkey, _note(5)[0]) - before) < 60

        stale = _post(url, _request(0, 8))
        assert (stale.status_code, stale.text, stale.headers["content-type"]) == (409, "5\n", "text/x.tlog.size")

        grown = _post(url, _request(5, 8))
        assert grown.status_code == 200
        _cosignature_ok(grown.text, vkey, _note(8)[0])

        proof = merkle.consistency_proof(8, 12, NODES)
        broken = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
        assert _post(url, _request(8, 12, proof=broken)).status_code == 422
        assert _post(url, _request(8, 12, proof=proof[:-1])).status_code == 422

        forked_leaves = [merkle.leaf_hash(b"fork" + i.to_bytes(4, "big")) for i in range(12)]
        fork_same_size = _request(8, 8, note=_note(8, forked_leaves)[1])
        refused = _post(url, fork_same_size)
        assert (refused.status_code, refused.text, refused.headers["content-type"]) == (409, "8\n", "text/x.tlog.size")
        fork_proof = merkle.consistency_proof(8, 12, _nodes(forked_leaves))
        assert _post(url, _request(8, 12, note=_note(12, forked_leaves)[1], proof=fork_proof)).status_code == 422

        assert _post(url, _request(9, 8)).status_code == 400  # old size above the checkpoint's
        assert _post(url, _request(8, 5)).status_code == 400  # a smaller tree after a larger one
        other_log = _note(3, name="other.example/log")[1]
        assert _post(url, _request(0, 3, note=other_log)).status_code == 404
        forged = sign_note(_note(12)[0], LOG_NAME, bytes(range(32)))  # the right name, another key
        assert _post(url, _request(8, 12, note=forged)).status_code == 403
        assert _post(url, b"old 8\n\nnot a checkpoint\n").status_code == 400
        assert _post(url, b"old 08\n\n" + _note(8)[1].encode()).status_code == 400
        assert _post(url, b"x" * 70_000).status_code == 413
        assert httpx.get(f"{url}/add-checkpoint", timeout=10).status_code == 405

        again = _post(url, _request(8, 8))  # the same checkpoint again: cosigned again
        assert again.status_code == 200
        _cosignature_ok(again.text, vkey, _note(8)[0])
    text = log.read_text()
    assert "refused to cosign passport.test/log at size 12" in text and "does not verify" in text
    assert "refused to cosign passport.test/log at size 8: a checkpoint of size 8 with another root" in text


def test_the_state_survives_sigkill_and_a_race_has_one_winner(tmp_path):
    key_file, _ = _init(tmp_path, "nhsa.example.gov.cn/witness")
    state = tmp_path / "state.sqlite"
    args = ("--log-key", _log_vkey(), "--state", str(state))
    with _serve(key_file, tmp_path / "w.log", *args) as url:
        assert _post(url, _request(0, 5)).status_code == 200
    # SIGKILLed: nothing could be flushed at exit. The cosigned size is still known, so a rollback is refused.
    with _serve(key_file, tmp_path / "w.log", *args) as url:
        stale = _post(url, _request(0, 3))
        assert (stale.status_code, stale.text) == (409, "5\n")
        sizes = list(range(6, 22))
        with ThreadPoolExecutor(max_workers=len(sizes)) as pool:
            answers = list(pool.map(lambda size: _post(url, _request(5, size)), sizes))
        winners = [size for size, answer in zip(sizes, answers, strict=True) if answer.status_code == 200]
        assert len(winners) == 1, [a.status_code for a in answers]
        assert all(a.text == f"{winners[0]}\n" for a in answers if a.status_code == 409)
        assert {a.status_code for a in answers} == {200, 409}
        assert _post(url, _request(winners[0], 30)).status_code == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--log-key", "nonsense"), "malformed verifier key"),
        (("--log-key", "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"), "want an Ed25519"),
    ],
)
def test_serve_refuses_bad_log_keys(tmp_path, args, message):
    key_file, _ = _init(tmp_path, "w.example/w")
    code, _, err = _passport("witness", "serve", "--key-file", str(key_file), "--port", str(free_port()), *args)
    assert code == 2 and message in err


def test_serve_refuses_a_missing_or_foreign_key_file(tmp_path):
    (tmp_path / "log.key").write_text("PRIVATE+KEY+x+00000000+AQ==\n")
    for key_file, message in (
        (tmp_path / "missing.key", "cannot read the witness key"),
        (tmp_path / "log.key", "signer key"),
    ):
        code, _, err = _passport(
            "witness", "serve", "--key-file", str(key_file), "--port", "1", "--log-key", _log_vkey()
        )
        assert code == 2 and message in err
