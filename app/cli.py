"""The ``passport`` command: init, serve, orgs, keys, log, webhooks, demo. It calls the same services as the API."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db.engine import make_engine, make_sessionmaker, normalise_url
from app.domain.errors import DomainError
from app.domain.orgs import LICENCE_KINDS, ROLES
from app.domain.signing import kid
from app.services import log, orgs, webhooks
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


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    load_master_key(settings)  # fail early and clearly, before workers start
    uvicorn.run(
        "app.main:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
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
            )
            view = orgs.org_view(session, org)
        view["created_at"] = view["created_at"].isoformat()  # type: ignore[union-attr]
        print(json.dumps({**view, "api_key": api_key}))
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
    source = ExportSource(args.export) if args.export else ServiceSource(args.url, args.api_key)
    report = audit(source, pinned_key=args.key)
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


def cmd_webhooks_deliver(settings: Settings, args: argparse.Namespace) -> int:
    master_key = load_master_key(settings)
    with _database(settings) as sessions:
        outcome = webhooks.deliver_due(
            sessions, master_key, limit=args.limit, allow_private=settings.webhook_private_addresses
        )
        print(json.dumps(outcome))
    return 0


def cmd_demo(settings: Settings, _args: argparse.Namespace) -> int:
    from app.services.demo import load_demo

    init(settings)
    print(load_demo(settings))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="passport", description="Product digital passports")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("init", help="create or upgrade the database and signing keys (idempotent)").set_defaults(
        func=cmd_init
    )

    serve = sub.add_parser("serve", help="run the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--no-access-log", dest="access_log", action="store_false")
    serve.set_defaults(func=cmd_serve)

    org_parser = sub.add_parser("orgs", help="organisations").add_subparsers(dest="orgs_command", required=True)
    create = org_parser.add_parser("create", help="create an organisation and print its API key once")
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--gln")
    create.add_argument("--region", help="ISO 3166-2 region, e.g. CN-31")
    create.add_argument("--licence", action="append", default=[], choices=LICENCE_KINDS)
    create.set_defaults(func=cmd_orgs_create)

    keys = sub.add_parser("keys", help="code-signing keys").add_subparsers(dest="keys_command", required=True)
    keys.add_parser("rotate", help="start signing with a new key; old codes keep verifying").set_defaults(
        func=cmd_keys_rotate
    )
    keys.add_parser("list", help="print the public keys (JWKS)").set_defaults(func=cmd_keys_list)

    log_parser = sub.add_parser("log", help="the tamper-evident log").add_subparsers(dest="log_command", required=True)
    log_parser.add_parser("checkpoint", help="sign a checkpoint of the current log now").set_defaults(
        func=cmd_log_checkpoint
    )
    export = log_parser.add_parser("export", help="write the log key, checkpoints and entries to a file")
    export.add_argument("--out", required=True)
    export.set_defaults(func=cmd_log_export)
    verify = log_parser.add_parser("verify", help="audit the log: signatures, tree, consistency, every entry")
    where = verify.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="a running Passport service, e.g. https://id.example.com")
    where.add_argument("--export", help="a file written by `passport log export`")
    where.add_argument(
        "--replay",
        action="store_true",
        help="where the database is (PASSPORT_DATABASE_URL): replay the logged events and compare every unit's "
        "custody, the containers and the lot counters with the stored ones",
    )
    verify.add_argument("--api-key", help="any organisation's key (entries are not public)")
    verify.add_argument("--key", help="pin the log's verifier key (C2SP note verifier string)")
    verify.set_defaults(func=cmd_log_verify)

    hooks = sub.add_parser("webhooks", help="signed webhooks (recall notices)").add_subparsers(
        dest="webhooks_command", required=True
    )
    deliver = hooks.add_parser("deliver", help="send the deliveries that are due now, once, and print the outcomes")
    deliver.add_argument("--limit", type=int, default=1000)
    deliver.set_defaults(func=cmd_webhooks_deliver)

    sub.add_parser("demo", help="load a demo data set and print what to open and scan").set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(Settings(), args))
    except (DomainError, MasterKeyError) as error:
        print(f"passport: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
