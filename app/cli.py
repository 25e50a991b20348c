"""The ``passport`` command: init, serve, orgs, keys, log, webhooks, scans, demo; the same services as the API."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import scan_partitions
from app.db.engine import WRITE_OPTIONS, make_engine, make_sessionmaker, normalise_url
from app.db.models import SigningKey
from app.domain.errors import DomainError
from app.domain.orgs import LICENCE_KINDS, ROLES, Role
from app.domain.signing import kid
from app.domain.witness import WitnessError
from app.services import licences, log, nodes, orgs, webhooks
from app.services.clock import utcnow
from app.services.keys import (
    KeyRing,
    MasterKeyError,
    create_signing_key,
    ensure_signing_key,
    jwks,
    load_master_key,
)

ROOT = Path(__file__).resolve().parents[1]


def alembic_config(database_url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", normalise_url(database_url).replace("%", "%%"))
    return config


def init(settings: Settings) -> dict[str, object]:
    """Create or upgrade the schema and make sure a signing key exists. Safe to run again."""
    master_key = load_master_key(settings, create=True)
    command.upgrade(alembic_config(settings.database_url), "head")
    with _database(settings) as sessions, sessions.begin() as session:
        key = ensure_signing_key(session, master_key)
        KeyRing(sessions, master_key).current_signer(session)  # the master key must open it
        log_key = log.ensure_log_key(session, master_key, log.log_origin(settings.base_url))
        return {"database": "ready", "signing_key": kid(key.key_tag), "log": log_key.name}


@contextmanager
def _database(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """Sessions on the configured database for one command; the engine is closed afterwards."""
    engine = make_engine(settings.database_url)
    try:
        yield make_sessionmaker(engine)
    finally:
        engine.dispose()


def cmd_init(settings: Settings, _args: argparse.Namespace) -> int:
    print(json.dumps(init(settings)))
    return 0


def serving_loop(choice: str, database_url: str, workers: int) -> str:
    """The event loop ``passport serve`` runs (docs/benchmarks.md, sold packs' fifth pass). uvloop accepts one
    connection per loop iteration: a single worker whose loop SQLite's lookups saturate left new connections
    waiting 0.6-1.9 s and scans p99 190-1,190 ms, against 25-150 ms on asyncio's loop (same data and load, ~3-5 %
    more CPU), which accepts all that is pending at once. With two workers on SQLite uvloop met the goals on a
    quiet machine and asyncio did not do better; on PostgreSQL the loop waits on round trips and uvloop served
    sold packs faster (asyncio 0.58-0.91 of its rate): uvloop there."""
    if choice != "auto":
        return choice
    sqlite = not database_url.startswith(("postgresql", "postgres"))
    return "asyncio" if sqlite and workers == 1 else "uvloop"


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    load_master_key(settings)  # fail early and clearly, before workers start
    uvicorn.run(
        "app.main:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop=serving_loop(args.loop, settings.database_url, args.workers),
        http="app.api.http_protocol:NoDelayHttpToolsProtocol",  # TCP_NODELAY on every connection, on any loop
        log_level=args.log_level,
        access_log=args.access_log,
        # Forwarded headers only from PASSPORT_TRUSTED_PROXIES. uvicorn's default believes X-Forwarded-For from
        # 127.0.0.1 (or $FORWARDED_ALLOW_IPS): any local process could choose the address the rate limit counts.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies,
    )
    return 0


def cmd_orgs_create(settings: Settings, args: argparse.Namespace) -> int:
    with _database(settings) as sessions:
        with sessions.begin() as session:
            org, api_key = orgs.create_org(
                session,
                name=args.name,
                role=args.role,
                gln=args.gln,
                licences=args.licence,
                region=args.region,
                licensed_from=args.licensed_from,
            )
            view = orgs.org_view(session, org)
        view["created_at"] = view["created_at"].isoformat()  # type: ignore[union-attr]
        print(json.dumps({**view, "api_key": api_key}))
    return 0


# The operator at the console grants, renews and revokes licences as the admin would through the API.
OPERATOR = orgs.Principal(org_id="operator", name="operator (CLI)", role=Role.ADMIN, licences=frozenset())


def _day(text: str) -> date | None:
    """A day as YYYY-MM-DD, or ``none`` for no end."""
    if text.lower() == "none":
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day as YYYY-MM-DD (or none)") from None


def cmd_orgs_licence(settings: Settings, args: argparse.Namespace) -> int:
    with _database(settings) as sessions:
        with sessions.begin() as session:
            if args.orgs_command == "grant":
                row = licences.grant(
                    session,
                    OPERATOR,
                    args.org,
                    kind=args.kind,
                    valid_from=args.valid_from,
                    valid_until=args.valid_until,
                    number=args.number,
                )
            elif args.orgs_command == "renew":
                row = licences.renew(session, OPERATOR, args.licence_id, valid_until=args.valid_until)
            else:
                row = licences.revoke(session, OPERATOR, args.licence_id)
            print(json.dumps(licences.view(row)))
    return 0


def cmd_keys_rotate(settings: Settings, _args: argparse.Namespace) -> int:
    master_key = load_master_key(settings)
    with _database(settings) as sessions:
        with sessions.begin() as session:
            key = create_signing_key(session, master_key)
            print(json.dumps({"kid": kid(key.key_tag), "created_at": key.created_at.isoformat()}))
    return 0


def cmd_keys_list(settings: Settings, _args: argparse.Namespace) -> int:
    with _database(settings) as sessions:
        with sessions() as session:
            print(json.dumps(jwks(session), indent=2))
    return 0


def cmd_log_checkpoint(settings: Settings, _args: argparse.Namespace) -> int:
    master_key = load_master_key(settings)
    with _database(settings) as sessions:
        with sessions.begin() as session:
            print(json.dumps(log.checkpoint_view(log.make_checkpoint(session, master_key))))
    return 0


def cmd_log_key(settings: Settings, _args: argparse.Namespace) -> int:
    with _database(settings) as sessions, sessions() as session:
        print(log.log_key_view(log.current_log_key(session))["verifier_key"])
    return 0


def cmd_log_export(settings: Settings, args: argparse.Namespace) -> int:
    with _database(settings) as sessions:
        with sessions() as session:
            data = log.export(session)
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    print(json.dumps({"entries": len(data["entries"]), "checkpoints": len(data["checkpoints"]), "out": args.out}))  # type: ignore[arg-type]
    return 0


def cmd_log_verify(settings: Settings, args: argparse.Namespace) -> int:
    from app.audit import ExportSource, ServiceSource, audit

    if args.replay:
        return _log_replay(settings)
    from app.domain.witness import COSIGNATURE_V1, parse_verifier_key

    witnesses = [parse_verifier_key(text, COSIGNATURE_V1) for text in args.witness]
    if args.quorum is not None and not 1 <= args.quorum <= len(witnesses):
        raise WitnessError(
            f"--quorum {args.quorum}: give between 1 and the number of --witness keys ({len(witnesses)})"
        )
    source = ExportSource(args.export) if args.export else ServiceSource(args.url, args.api_key)
    report = audit(source, pinned_key=args.key, witnesses=witnesses, quorum=args.quorum)
    print(report.text())
    return 0 if report.ok else 1


def _log_replay(settings: Settings) -> int:
    """Replay the logged events where the database is and compare the derived state (docs/audit-replay.md)."""
    import time

    from app.services.audit_replay import replay_database

    shown = [time.monotonic()]

    def progress(stage: str, done: int, total: int) -> None:
        if time.monotonic() - shown[0] >= 5:  # a line every few seconds on long runs, none on short ones
            shown[0] = time.monotonic()
            print(f"replay: {stage} {done}" + (f" of {total}" if total else ""), file=sys.stderr, flush=True)

    engine = make_engine(settings.database_url)
    try:
        report = replay_database(engine, progress=progress)
    finally:
        engine.dispose()
    print(report.text())
    return 0 if report.ok else 1


def cmd_witness_init(_settings: Settings, args: argparse.Namespace) -> int:
    from app.services.witness import create_key_file

    print(create_key_file(Path(args.key_file), args.name).text)
    return 0


def cmd_witness_serve(_settings: Settings, args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from app.api.witness_app import create_witness_app
    from app.domain.checkpoint import ED25519
    from app.domain.witness import parse_verifier_key
    from app.services.witness import Witness, load_key_file, trusted_logs

    key, seed = load_key_file(Path(args.key_file))
    logs = trusted_logs([parse_verifier_key(text, ED25519) for text in args.log_key])
    state = Path(args.state or f"{args.key_file}.state")
    witness = Witness(key, seed, logs, state)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("passport.witness").info(
        "witness %s for %s, state in %s", key.text, ", ".join(sorted(logs)), state.resolve()
    )
    uvicorn.run(create_witness_app(witness), host=args.host, port=args.port, log_level=args.log_level)
    return 0


def cmd_webhooks_deliver(settings: Settings, args: argparse.Namespace) -> int:
    master_key = load_master_key(settings)
    with _database(settings) as sessions:
        outcome = webhooks.deliver_due(
            sessions, master_key, limit=args.limit, allow_private=settings.webhook_private_addresses
        )
        print(json.dumps(outcome))
    return 0


def cmd_scans_partitions(settings: Settings, args: argparse.Namespace) -> int:
    ahead = settings.scan_partitions_ahead if args.ahead is None else args.ahead
    with _database(settings) as sessions:
        created = nodes.tend_scan_partitions(sessions, ahead, utcnow())
        with sessions() as session:
            present = scan_partitions.partitions(session.connection())
    print(json.dumps({"partitioned": bool(present), "created": created, "partitions": present}))
    return 0


def cmd_scans_prune(settings: Settings, args: argparse.Namespace) -> int:
    months = settings.scan_retention_months if args.months is None else args.months
    if months < 1:
        print(
            "passport scans prune: no retention set (PASSPORT_SCAN_RETENTION_MONTHS=0 keeps every scan); "
            "give --months N or set it",
            file=sys.stderr,
        )
        return 2
    with _database(settings) as sessions, sessions.begin() as session:
        pruned = scan_partitions.prune(session.connection(execution_options=WRITE_OPTIONS), utcnow(), months)
    print(
        json.dumps(
            {"before": pruned.cutoff.isoformat(), "partitions_dropped": pruned.partitions, "rows_deleted": pruned.rows}
        )
    )
    return 0


class NotReady(RuntimeError):
    """The database or master key the settings name is not an initialised installation's: refuse, never guess."""


_POINT_AT_THE_SERVER = (
    "The demo writes into the database your server reads and signs with its keys, so that the server verifies the "
    "codes it prints. Run it in the directory the server runs in (scripts/run runs there from the checkout), or "
    "set PASSPORT_DATABASE_URL and PASSPORT_MASTER_KEY (or PASSPORT_MASTER_KEY_FILE) to the server's; to start a "
    "new installation here, run `passport init` first."
)


def _sqlite_file(settings: Settings) -> Path | None:
    url = make_url(settings.database_url)
    if url.drivername.startswith("sqlite") and url.database not in (None, "", ":memory:"):
        return Path(url.database)
    return None


def _where(settings: Settings) -> str:
    """The database as a reader can find it: a SQLite file's absolute path, any other URL without its password."""
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    path = _sqlite_file(settings)
    if path is None:
        return shown
    relative = "" if path.is_absolute() else ", relative to the directory you run in"
    return f"{path.resolve()} (PASSPORT_DATABASE_URL={shown}{relative})"


def check_installation(settings: Settings) -> None:
    """The database exists and `passport init` has built it (schema at this checkout's head, a signing key), and
    the master key opens its signing keys: otherwise ``NotReady`` naming what was looked at. Creates nothing."""
    where = _where(settings)
    path = _sqlite_file(settings)
    if path is not None and not path.exists():
        raise NotReady(f"no database at {where}. {_POINT_AT_THE_SERVER}")
    head = ScriptDirectory.from_config(alembic_config(settings.database_url)).get_current_head()
    with _database(settings) as sessions:
        try:
            with sessions() as session:
                revision = MigrationContext.configure(session.connection()).get_current_revision()
                keys = session.scalar(select(func.count()).select_from(SigningKey)) if revision else 0
        except OperationalError as error:
            reason = str(error.orig or error).strip().splitlines()[0]
            raise NotReady(f"cannot open the database {where}: {reason}. {_POINT_AT_THE_SERVER}") from None
        if revision is None or not keys:
            raise NotReady(f"the database {where} has not been initialised. {_POINT_AT_THE_SERVER}")
        if revision != head:
            raise NotReady(
                f"the database {where} is at schema revision {revision}, this checkout at {head}: "
                "run `passport init` to upgrade it (the server needs it too)"
            )
        try:
            master_key = load_master_key(settings)
        except MasterKeyError as error:
            looked = "" if settings.master_key else f" (looked for {Path(settings.master_key_file).resolve()})"
            raise NotReady(f"{error}{looked}. {_POINT_AT_THE_SERVER}") from None
        try:
            with sessions() as session:
                KeyRing(sessions, master_key).current_signer(session)
        except MasterKeyError as error:
            source = "PASSPORT_MASTER_KEY" if settings.master_key else str(Path(settings.master_key_file).resolve())
            raise NotReady(
                f"{error}: the master key from {source} is not the one that sealed the signing keys of {where}, so "
                "the server would call every code the demo signed forged. Set PASSPORT_MASTER_KEY or "
                "PASSPORT_MASTER_KEY_FILE to the server's key."
            ) from None


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from app.services.demo import load_demo

    try:
        check_installation(settings)
    except NotReady as error:
        print(f"passport demo: {error}", file=sys.stderr)
        return 2
    print(load_demo(settings, qr_dir=args.qr_dir))
    return 0


class _HelpWithDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default, except where there is none to show (required options, flags,
    options that are unset unless given: their help says so)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        default = action.default
        if action.required or default is None or isinstance(default, bool) or default == []:
            return action.help
        return super()._get_help_string(action)


def _subcommands(parser: argparse.ArgumentParser, dest: str) -> argparse._SubParsersAction:  # type: ignore[type-arg]
    return parser.add_subparsers(dest=dest, required=True, metavar="COMMAND")


def _command(sub: argparse._SubParsersAction, name: str, text: str) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    return sub.add_parser(name, help=text, description=text, formatter_class=_HelpWithDefaults)  # type: ignore[no-any-return]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="passport",
        description="Product digital passports. Settings come from PASSPORT_* environment variables "
        "(docs/configuration.md); the database and master key file default to ./passport.db and "
        "./passport-master.key in the directory you run in.",
        formatter_class=_HelpWithDefaults,
    )
    sub = _subcommands(parser, "command")

    _command(sub, "init", "create or upgrade the database and signing keys (idempotent)").set_defaults(func=cmd_init)

    serve = _command(sub, "serve", "run the API")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    serve.add_argument("--port", type=int, default=8000, help="TCP port to listen on")
    serve.add_argument("--workers", type=int, default=1, help="serving processes")
    serve.add_argument(
        "--loop",
        default="auto",
        choices=["auto", "asyncio", "uvloop"],
        help="each serving process's event loop; auto: asyncio for one worker on SQLite, else uvloop",
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug", "trace"],
        help="the server's log level",
    )
    serve.add_argument(
        "--no-access-log",
        dest="access_log",
        action="store_false",
        help="do not log a line per request (logged unless given)",
    )
    serve.set_defaults(func=cmd_serve)

    org_parser = _subcommands(_command(sub, "orgs", "organisations"), "orgs_command")
    create = _command(org_parser, "create", "create an organisation and print its API key once")
    create.add_argument("--name", required=True, help="the organisation's name (required)")
    create.add_argument("--role", required=True, choices=ROLES, help="what it does in the supply chain (required)")
    create.add_argument("--gln", help="its GS1 Global Location Number, 13 digits (none unless given)")
    create.add_argument("--region", help="ISO 3166-2 region, e.g. CN-31 (none unless given)")
    create.add_argument(
        "--licence",
        action="append",
        default=[],
        choices=LICENCE_KINDS,
        metavar="KIND",
        help=f"a licence it holds; repeat for each ({', '.join(LICENCE_KINDS)}; none unless given)",
    )
    create.add_argument(
        "--licensed-from",
        type=_day,
        metavar="DAY",
        help="the first day its licences stand, YYYY-MM-DD, for one bringing its history (today unless given)",
    )
    create.set_defaults(func=cmd_orgs_create)
    grant = _command(org_parser, "grant", "grant an organisation a licence and print it")
    grant.add_argument("--org", required=True, help="the organisation's id (required)")
    grant.add_argument("--kind", required=True, choices=LICENCE_KINDS, metavar="KIND", help="the kind (required)")
    grant.add_argument("--from", dest="valid_from", type=_day, help="its first day, YYYY-MM-DD (today unless given)")
    grant.add_argument("--until", dest="valid_until", type=_day, help="its last day, YYYY-MM-DD (no end unless given)")
    grant.add_argument("--number", help="the authority's licence number (none unless given)")
    grant.set_defaults(func=cmd_orgs_licence)
    renew = _command(org_parser, "renew", "move a licence's last day (a revoked one is refused)")
    renew.add_argument("--licence", dest="licence_id", type=int, required=True, help="the licence id (required)")
    renew.add_argument(
        "--until", dest="valid_until", type=_day, required=True, help="its new last day, or none (required)"
    )
    renew.set_defaults(func=cmd_orgs_licence)
    revoke = _command(org_parser, "revoke", "revoke a licence from now on")
    revoke.add_argument("--licence", dest="licence_id", type=int, required=True, help="the licence id (required)")
    revoke.set_defaults(func=cmd_orgs_licence)

    keys = _subcommands(_command(sub, "keys", "code-signing keys"), "keys_command")
    _command(keys, "rotate", "start signing with a new key; old codes keep verifying").set_defaults(
        func=cmd_keys_rotate
    )
    _command(keys, "list", "print the public keys (JWKS)").set_defaults(func=cmd_keys_list)

    log_parser = _subcommands(_command(sub, "log", "the tamper-evident log"), "log_command")
    _command(log_parser, "checkpoint", "sign a checkpoint of the current log now").set_defaults(func=cmd_log_checkpoint)
    _command(log_parser, "key", "print the log's verifier key (what witnesses take as --log-key)").set_defaults(
        func=cmd_log_key
    )
    export = _command(log_parser, "export", "write the log key, checkpoints and entries to a file")
    export.add_argument("--out", required=True, metavar="FILE", help="the JSON file to write (required)")
    export.set_defaults(func=cmd_log_export)
    verify = _command(log_parser, "verify", "audit the log: signatures, tree, consistency, every entry")
    where = verify.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="a running Passport service, e.g. https://id.example.com")
    where.add_argument("--export", metavar="FILE", help="a file written by `passport log export`")
    where.add_argument(
        "--replay",
        action="store_true",
        help="where the database is (PASSPORT_DATABASE_URL): replay the logged events and compare every unit's "
        "custody, the containers and the lot counters with the stored ones",
    )
    verify.add_argument(
        "--api-key", help="any organisation's key, with --url: entries are not public (none unless given)"
    )
    verify.add_argument("--key", help="pin the log's verifier key (C2SP note verifier string; not pinned unless given)")
    verify.add_argument(
        "--witness",
        action="append",
        default=[],
        metavar="VERIFIER",
        help="a witness's verifier key (C2SP vkey, type 0x04); repeat for each: a checkpoint must be cosigned by a "
        "quorum of them (none required unless given)",
    )
    verify.add_argument(
        "--quorum",
        type=int,
        metavar="N",
        help="how many of the --witness keys must cosign one checkpoint (all of them unless given)",
    )
    verify.set_defaults(func=cmd_log_verify)

    hooks = _subcommands(_command(sub, "webhooks", "signed webhooks (recall notices)"), "webhooks_command")
    deliver = _command(hooks, "deliver", "send the deliveries that are due now, once, and print the outcomes")
    deliver.add_argument("--limit", type=int, default=1000, help="most deliveries to send in this run")
    deliver.set_defaults(func=cmd_webhooks_deliver)

    scans = _subcommands(_command(sub, "scans", "the scan log (early warning)"), "scans_command")
    parts = _command(scans, "partitions", "create the coming months' scan log partitions (PostgreSQL) and list them")
    parts.add_argument("--ahead", type=int, help="months after this one; PASSPORT_SCAN_PARTITIONS_AHEAD unless given")
    parts.set_defaults(func=cmd_scans_partitions)
    prune = _command(scans, "prune", "remove scans older than the retention: whole month partitions on PostgreSQL")
    prune.add_argument(
        "--months", type=int, help="whole months kept before this one; PASSPORT_SCAN_RETENTION_MONTHS unless given"
    )
    prune.set_defaults(func=cmd_scans_prune)

    witness = _subcommands(
        _command(sub, "witness", "a C2SP tlog-witness: cosign the checkpoints of logs it checked"), "witness_command"
    )
    winit = _command(witness, "init", "create a witness key and print its verifier key (C2SP vkey, type 0x04)")
    winit.add_argument("--name", required=True, help="the witness's name, e.g. samr.example.gov.cn/witness (required)")
    winit.add_argument(
        "--key-file", required=True, metavar="FILE", help="where to write the key; never overwritten (required)"
    )
    winit.set_defaults(func=cmd_witness_init)
    wserve = _command(witness, "serve", "serve POST /add-checkpoint for the logs given by --log-key")
    wserve.add_argument(
        "--key-file", required=True, metavar="FILE", help="the key `passport witness init` wrote (required)"
    )
    wserve.add_argument(
        "--log-key",
        required=True,
        action="append",
        metavar="VERIFIER",
        help="a log's verifier key (its name is the checkpoints' origin), as /.well-known/passport-log-key shows "
        "it; repeat for each log (required)",
    )
    wserve.add_argument("--port", type=int, required=True, help="TCP port to listen on (required)")
    wserve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    wserve.add_argument(
        "--state",
        metavar="FILE",
        help="the SQLite file of the cosigned checkpoints (the key file's name + .state unless given)",
    )
    wserve.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"], help="log level"
    )
    wserve.set_defaults(func=cmd_witness_serve)

    demo = _command(
        sub,
        "demo",
        "load a demo data set into the server's database (initialised by `passport init`) and print what to open "
        "and scan",
    )
    demo.add_argument(
        "--qr-dir",
        metavar="DIR",
        help="also write the QR code of every printed code there, as PNG (not written unless given)",
    )
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(Settings(), args))
    except (DomainError, MasterKeyError, WitnessError) as error:
        print(f"passport: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
