"""The service through PgBouncer in transaction pooling mode (issue 19): Debian's pgbouncer (installed by
scripts/test) on a free port in front of the test PostgreSQL, a real `passport serve` configured with
PASSPORT_DATABASE_POOLER=pgbouncer, and a journey through it: issue, ship, receive, sell, scans (written by the
scan writer process), an EPCIS query and an on-demand checkpoint (its advisory lock is transaction-level).

Each transaction may run on another server connection there, so nothing may rely on session state; the control
test shows the failure the setting prevents (psycopg's automatic prepared statements, PgBouncer 1.18)."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import suppress
from datetime import date, timedelta
from pathlib import Path

import httpx2 as httpx
import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.db.engine import make_engine, make_sessionmaker
from app.services import orgs
from tests.helpers import BASE_URL, GTIN, Org, free_port
from tests.subprocess_server import passport_serve

pytestmark = pytest.mark.postgres_only
PGBOUNCER = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None)
POOL_SIZE = 3  # few server connections, so the clients' transactions move between them


@pytest.fixture(scope="module")
def pgbouncer() -> Iterator[int]:
    """PgBouncer in transaction mode on a free port, in front of the test PostgreSQL; stopped at the end."""
    if PGBOUNCER is None:
        pytest.skip("pgbouncer is not installed (scripts/test installs Debian's when run as root with apt-get)")
    server = make_url(os.environ.get("PASSPORT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    work = Path(tempfile.mkdtemp(prefix="passport-pgbouncer-"))
    port = free_port()
    (work / "users.txt").write_text(f'"{server.username}" ""\n')
    (work / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={server.host or '127.0.0.1'} port={server.port or 5432}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {work / 'users.txt'}\n"
        f"pool_mode = transaction\ndefault_pool_size = {POOL_SIZE}\nmax_client_conn = 500\n"
        # the service's "-c jit=off" startup option: PgBouncer cannot pass it (docs/production.md)
        "ignore_startup_parameters = extra_float_digits, options\n"
        f"logfile = {work / 'pgbouncer.log'}\npidfile = {work / 'pgbouncer.pid'}\n"
    )
    command = [PGBOUNCER, str(work / "pgbouncer.ini")]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root: it runs as postgres
        user = pwd.getpwnam("postgres")
        os.chown(work, user.pw_uid, user.pw_gid)
        for path in work.iterdir():
            os.chown(path, user.pw_uid, user.pw_gid)
        command[1:1] = ["-u", "postgres"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, (
                f"pgbouncer exited: {process.stdout.read().decode() if process.stdout else ''}"
            )
            assert time.monotonic() < deadline, (work / "pgbouncer.log").read_text()
            with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            time.sleep(0.1)
        yield port
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        shutil.rmtree(work, ignore_errors=True)


def _through(database_url: str, port: int) -> str:
    return make_url(database_url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


def test_prepared_statements_break_under_transaction_pooling_unless_turned_off(database_url, pgbouncer):
    libpq = _through(database_url, pgbouncer).replace("postgresql+psycopg://", "postgresql://", 1)

    def run(prepare_threshold: int | None) -> None:
        with psycopg.connect(libpq, autocommit=True, prepare_threshold=prepare_threshold) as mine:
            for _ in range(8):  # psycopg prepares a query on the server once it ran it prepare_threshold times
                mine.execute("SELECT %s::int + 1", (1,)).fetchone()
            # another client's open transaction holds the server connection that has the prepared statement
            with psycopg.connect(libpq) as other:
                other.execute("SELECT 1").fetchone()
                assert mine.execute("SELECT %s::int + 1", (1,)).fetchone() == (2,)

    with pytest.raises(psycopg.errors.InvalidSqlStatementName):
        run(5)  # psycopg's default
    run(None)  # what PASSPORT_DATABASE_POOLER=pgbouncer sets on every connection


def test_a_journey_through_pgbouncer_in_transaction_mode(database_url, pgbouncer, tmp_path):
    engine = make_engine(database_url)  # set-up straight to PostgreSQL; the server only ever sees PgBouncer
    with make_sessionmaker(engine).begin() as session:
        made, key = orgs.create_org(session, name="maker", role="manufacturer", licences=["drug_manufacturing"])
        maker = Org(made.id, key, "manufacturer")
        made, key = orgs.create_org(session, name="shop", role="retailer", licences=["drug_retail"])
        shop = Org(made.id, key, "retailer")
    engine.dispose()
    log = tmp_path / "serve.log"
    with passport_serve(_through(database_url, pgbouncer), log, database_pooler="pgbouncer") as served:
        url = served.url

        def call(method: str, path: str, org: Org | None = None, **kwargs: object) -> httpx.Response:
            headers = {**(org.headers if org else {}), "Accept": "application/json"}
            return httpx.request(method, url + path, headers=headers, timeout=60, **kwargs)

        product = {"gtin": GTIN, "name": "Paracetamol 500 mg", "category": "drug_otc"}
        assert call("POST", "/v1/products", maker, json=product).status_code == 201
        today = date.today()
        lot = {
            "gtin": GTIN,
            "lot": "LOT42",
            "manufactured_on": (today - timedelta(days=10)).isoformat(),
            "expires_on": (today + timedelta(days=700)).isoformat(),
        }
        batch = call("POST", "/v1/batches", maker, json=lot)
        assert batch.status_code == 201, batch.text
        issued = call("POST", f"/v1/batches/{batch.json()['id']}/codes", maker, json={"count": 3})
        assert issued.status_code == 201, issued.text
        codes = [c["uri"] for c in issued.json()["codes"]]
        for org, body in (
            (maker, {"action": "ship", "codes": codes, "to": shop.id}),
            (shop, {"action": "receive", "codes": codes}),
            (shop, {"action": "sell", "codes": codes[:1], "channel": "offline"}),
        ):
            answer = call("POST", "/v1/events", org, json=body)
            assert answer.status_code == 201, answer.text
        resold = call("POST", "/v1/events", shop, json={"action": "sell", "codes": codes[:1], "channel": "offline"})
        assert resold.status_code in (201, 409), resold.text
        states = []
        for _ in range(4):  # the same lookups, more often than psycopg's threshold for preparing them
            for code in codes:
                scanned = call("GET", code.replace(BASE_URL, ""))
                assert scanned.status_code == 200, scanned.text
                states.append(scanned.json()["state"])
        assert states[:3] == ["sold", "in_supply_chain", "in_supply_chain"]
        queried = call("GET", "/epcis/events", shop)
        assert queried.status_code == 200, queried.text
        listed = queried.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        assert {"receive", "sell"} <= {e["passport:action"] for e in listed}, listed
        for _ in range(3):
            checkpoint = call("GET", "/v1/log/checkpoint")
            assert checkpoint.status_code == 200, checkpoint.text
        direct = create_engine(database_url)
        try:
            deadline = time.monotonic() + 30
            while True:  # the scan writer process writes through PgBouncer too
                with direct.connect() as conn:
                    written = conn.scalar(text("SELECT count(*) FROM scan"))
                if written == len(states):
                    break
                assert time.monotonic() < deadline, (written, log.read_text()[-3000:])
                time.sleep(0.2)
        finally:
            direct.dispose()
    assert "prepared statement" not in log.read_text() and "Traceback" not in log.read_text(), log.read_text()[-3000:]
