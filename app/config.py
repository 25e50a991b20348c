"""Settings, read from ``PASSPORT_*`` environment variables; every one has a default that is safe locally."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from app.db.engine import UNPREPARED, unprepared
from app.domain.witness import WitnessError, parse_witness_list

_RATE = re.compile(r"^(0|[1-9][0-9]*/(second|minute|hour))$")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PASSPORT_", extra="ignore")

    database_url: str = "sqlite:///./passport.db"
    # Streaming standbys of the PostgreSQL primary (URLs, comma-separated) for public scans, recall traces, EPCIS
    # queries and regulator pages; unset = everything reads the primary. A standby further behind the primary than
    # max_replica_lag_seconds answers nothing until it catches up (docs/production.md, "Read replicas").
    read_database_url: str = ""
    max_replica_lag_seconds: float = Field(default=1.0, gt=0)
    base_url: str = "http://localhost:8000"
    # 32-byte AES key (base64) that seals the signing keys at rest; without it, a key file is used.
    master_key: str | None = None
    master_key_file: str = "./passport-master.key"
    verify_rate_limit: str = "120/minute"
    redis_url: str | None = None
    max_codes_per_request: int = Field(default=1_000_000, ge=1)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # POST /v1/batches/{id}/codes/import, read as a stream: a million GS1 Digital Links fit in about 120 MB.
    max_import_bytes: int = Field(default=1_073_741_824, ge=1024)
    # Signing worker processes for bulk issuance; 0 = one per CPU core.
    signing_workers: int = Field(default=0, ge=0)
    # Custody events: request size, how long a decommission may be undone, and the window in which the same
    # organisation repeating the same action on the same unit is a duplicate (a scanner firing twice).
    max_event_body_bytes: int = Field(default=16_777_216, ge=1024)
    undo_days: int = Field(default=10, ge=0)
    duplicate_window_seconds: int = Field(default=30, ge=0)
    # EPCIS capture: most events and bytes one document may carry (advertised in GS1-EPCIS-Capture-Limit and
    # GS1-EPCIS-Capture-File-Size-Limit; larger documents are refused with 413, nothing captured).
    epcis_capture_limit: int = Field(default=10_000, ge=1)
    epcis_capture_max_bytes: int = Field(default=33_554_432, ge=1024)
    # Passport documents (POST /v1/documents: PDF, PNG, JPEG): the most bytes one may have (413 beyond).
    max_document_bytes: int = Field(default=10_485_760, ge=1024)
    # The log signs a checkpoint this often when it has grown (0 = only on demand).
    checkpoint_interval_seconds: int = Field(default=300, ge=0)
    # Due webhook deliveries (recall notices) are sent this often (0 = only by `passport webhooks deliver`).
    webhook_interval_seconds: int = Field(default=10, ge=0)
    # Webhook endpoints on private, loopback or link-local addresses (receivers on an internal network); off, such
    # URLs are refused at registration and such addresses at delivery (server-side request forgery).
    webhook_private_addresses: bool = False
    # EPCIS query subscriptions (POST /epcis/queries/{name}/subscriptions) are run this often: a stream pushes
    # what was recorded since, a schedule runs when due; their deliveries go out at once (0 = not run here).
    epcis_subscription_interval_seconds: float = Field(default=1.0, ge=0)
    # Addresses (IPs or CIDR networks, comma-separated) of the reverse proxies whose X-Forwarded-For and
    # X-Forwarded-Proto are believed; from any other peer they are ignored. Default none: the client is the peer.
    trusted_proxies: str = ""
    # Early warning: scans are written in batches this often; a code scanned faster than this speed between
    # two places, or by more distinct clients than this within the window, is a suspected clone.
    scan_flush_seconds: float = Field(default=1.0, gt=0)
    # Where the batches are written: "process" (a writer process per serving process, off the requests' GIL) or
    # "inline" (in a thread of the serving process: no extra process, for tests and small installations).
    scan_writer: Literal["process", "inline"] = "process"
    clone_max_speed_kmh: float = Field(default=900.0, gt=0)
    clone_max_clients: int = Field(default=20, ge=1)
    clone_window_hours: float = Field(default=24.0, gt=0)
    # The scan log (early warning only): scans older than this many whole months are removed by
    # `passport scans prune` (0 = kept forever). On PostgreSQL the log is partitioned by month and the service
    # keeps this many months' partitions created ahead (app/db/scan_partitions.py, docs/production.md).
    scan_retention_months: int = Field(default=0, ge=0)
    scan_partitions_ahead: int = Field(default=3, ge=1, le=24)
    # "pgbouncer" when PASSPORT_DATABASE_URL points at PgBouncer in transaction pooling mode: no server-side
    # prepared statements (psycopg prepares a query it ran 5 times; under PgBouncer < 1.21 the next transaction
    # may land on a server connection that never saw it). "none": a direct connection (docs/production.md).
    database_pooler: Literal["none", "pgbouncer"] = "none"
    # Verification between trading partners: requests about units the requester never held, per hour (oracle guard).
    partner_unheld_per_hour: int = Field(default=100, ge=1)
    # How long a serving process keeps a partner key's organisation, licences and the product's manufacturer once
    # read (so a key or licence revoked applies to its answers within this many seconds; 0: read for every answer).
    partner_facts_seconds: float = Field(default=2.0, ge=0, le=60)
    # How long a serving process keeps what an API key stands for (its organisation and licence grants) once read:
    # a key or licence revoked applies to its requests within this many seconds (0: read for every request).
    api_key_seconds: float = Field(default=2.0, ge=0, le=60)
    # Witnesses of the log (C2SP tlog-witness): "URL VERIFIERKEY" pairs separated by ";". Each new checkpoint is
    # submitted to each, in the background; an answer is awaited this long, and a witness that did not cosign the
    # newest checkpoint is tried again this often (docs/witnesses.md).
    witnesses: str = ""
    witness_timeout_seconds: float = Field(default=10.0, gt=0)
    witness_retry_seconds: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _read_replicas(self) -> Settings:
        urls = [url.strip() for url in self.read_database_url.split(",") if url.strip()]
        if urls and not self.database_url.startswith(("postgresql", "postgres")):
            raise ValueError(
                "PASSPORT_READ_DATABASE_URL needs a PostgreSQL PASSPORT_DATABASE_URL: read replicas are PostgreSQL "
                "streaming standbys (unset it on SQLite)"
            )
        if any(not url.startswith(("postgresql", "postgres")) for url in urls):
            raise ValueError("PASSPORT_READ_DATABASE_URL: PostgreSQL URLs (of streaming standbys), comma-separated")
        return self

    @model_validator(mode="after")
    def _pooler(self) -> Settings:
        """Behind PgBouncer the database URL carries ``prepare_threshold=none``, which every connection the service
        makes honours (app/db/engine.py: SQLAlchemy's pools, the scan writer, the psycopg connections of lookups)."""
        if self.database_pooler == "pgbouncer":
            if not self.database_url.startswith(("postgresql", "postgres")):
                raise ValueError("PASSPORT_DATABASE_POOLER=pgbouncer needs a PostgreSQL PASSPORT_DATABASE_URL")
            if not unprepared(self.database_url):
                self.database_url = (
                    make_url(self.database_url)
                    .update_query_dict({UNPREPARED: "none"})
                    .render_as_string(hide_password=False)
                )
        return self

    @field_validator("verify_rate_limit")
    @classmethod
    def _rate_syntax(cls, value: str) -> str:
        value = value.strip()
        if not _RATE.match(value):
            raise ValueError("PASSPORT_VERIFY_RATE_LIMIT must be N/second, N/minute, N/hour or 0")
        return value

    @field_validator("witnesses")
    @classmethod
    def _witnesses(cls, value: str) -> str:
        try:
            parse_witness_list(value)
        except WitnessError as error:
            raise ValueError(f"PASSPORT_WITNESSES: {error}") from None
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: str) -> str:
        entries = [entry.strip() for entry in value.split(",") if entry.strip()]
        try:
            return ",".join(str(ipaddress.ip_network(entry, strict=False)) for entry in entries)
        except ValueError:
            raise ValueError("PASSPORT_TRUSTED_PROXIES: IP addresses or CIDR networks, comma-separated") from None

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("PASSPORT_BASE_URL must be an http(s) URL")
        return value.rstrip("/")
