"""The relational schema, one module per aggregate; Alembic migrations (``migrations/``) alone create it.

Every table module is imported here, so ``metadata`` describes the whole schema (the migrations compare against it).
"""

from __future__ import annotations

from app.db.models.alerts import ALERT_OPEN, Alert
from app.db.models.base import NEVER_REUSED_IDS, Base, metadata
from app.db.models.cases import CaseChange, CaseNotice, CaseSubject, SuspectCase
from app.db.models.catalog import Batch, Issuance, Product, SigningKey
from app.db.models.epcis import EpcisCapture, EpcisEpc, EpcisEvent, EpcisNamedQuery, EpcisSubscription
from app.db.models.events import Event, EventItem, Prescription
from app.db.models.log import LogCheckpoint, LogKey, LogNode, LogPending, LogState
from app.db.models.lots import ContainerLot, LotCustody, LotDelta, LotHop, LotRecovery, LotSale
from app.db.models.orgs import ApiKey, Licence, Organisation
from app.db.models.partners import PartnerVerification
from app.db.models.passport import Document, DocumentUpload, Passport, PassportDocumentRef, PassportVersion
from app.db.models.recalls import Recall, RecallNotice, RecallOrder, RecallOrderUnit
from app.db.models.scans import Scan
from app.db.models.settlement import Settlement
from app.db.models.units import Container, Containment, Unit
from app.db.models.webhooks import WebhookDelivery, WebhookEndpoint
from app.db.models.witnesses import LogCosignature, LogWitness

__all__ = [
    "ALERT_OPEN",
    "NEVER_REUSED_IDS",
    "Alert",
    "ApiKey",
    "Base",
    "Batch",
    "CaseChange",
    "CaseNotice",
    "CaseSubject",
    "Container",
    "ContainerLot",
    "Containment",
    "Document",
    "DocumentUpload",
    "EpcisCapture",
    "EpcisEpc",
    "EpcisEvent",
    "EpcisNamedQuery",
    "EpcisSubscription",
    "Event",
    "EventItem",
    "Issuance",
    "Licence",
    "LogCheckpoint",
    "LogCosignature",
    "LogKey",
    "LogNode",
    "LogPending",
    "LogState",
    "LogWitness",
    "LotCustody",
    "LotDelta",
    "LotHop",
    "LotRecovery",
    "LotSale",
    "Organisation",
    "PartnerVerification",
    "Passport",
    "PassportDocumentRef",
    "PassportVersion",
    "Prescription",
    "Product",
    "Recall",
    "RecallNotice",
    "RecallOrder",
    "RecallOrderUnit",
    "Scan",
    "Settlement",
    "SigningKey",
    "SuspectCase",
    "Unit",
    "WebhookDelivery",
    "WebhookEndpoint",
    "metadata",
]
