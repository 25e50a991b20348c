"""Request and response bodies of the JSON API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter

from app.domain.errors import InvalidInput, UnsupportedMediaType
from app.domain.regions import check_region


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def json_body(body_type: Any) -> dict[str, Any]:
    """``openapi_extra`` describing the JSON body of a route that reads and checks its body by hand.

    The schema is inlined (no ``$ref``): a route's extra cannot add to the document's components.
    """
    schema = TypeAdapter(body_type).json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(value) for value in node]
        return node

    return {"requestBody": {"required": True, "content": {"application/json": {"schema": inline(schema)}}}}


async def require_json(request: Request) -> None:  # async: a header check needs no worker thread
    """A body sent without ``Content-Type: application/json`` is refused with a 415 that says so.

    Without this, FastAPI reads such a body as text and answers a puzzling 422 "Input should be a valid dictionary".
    """
    headers = request.headers
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    if headers.get("content-length", "0") in ("", "0") and "transfer-encoding" not in headers:
        return  # no body (POST /v1/recalls/{id}/complete)
    media = headers.get("content-type", "").partition(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return
    raise UnsupportedMediaType(
        f"send the body as JSON with the header Content-Type: application/json (got {media or 'no Content-Type'})",
        code="unsupported_media_type",
    )


JsonOnly = Depends(require_json)


def _region(value: str) -> str:
    try:
        return check_region(value)
    except InvalidInput as error:
        raise ValueError(error.detail) from None


Region = Annotated[str, AfterValidator(_region)]


class OrgIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    role: str
    gln: str | None = None
    region: Region | None = Field(default=None, max_length=10)
    licences: list[str] = Field(default_factory=list, max_length=10)


class OrgOut(BaseModel):
    id: str
    name: str
    role: str
    gln: str | None
    region: str | None
    licences: list[str]
    created_at: datetime


class OrgCreated(OrgOut):
    api_key: str


class LicenceIn(Strict):
    kind: str
    valid_from: date | None = Field(default=None, description="the first day it stands (UTC); today when absent")
    valid_until: date | None = Field(default=None, description="its last day (included); no end when absent")
    number: str | None = Field(default=None, max_length=80, description="the authority's licence number")


class LicenceRenewal(Strict):
    valid_until: date | None = Field(description="the new last day (included); null for no end")


class ProductIn(Strict):
    gtin: str = Field(min_length=1, max_length=14)
    name: str = Field(min_length=1, max_length=200)
    category: str
    description: str | None = Field(default=None, max_length=2000)
    cn_drug_id: str | None = Field(default=None, max_length=7, description="the 7-digit 药品标识码 of its codes")


class ManufacturerOut(BaseModel):
    id: str
    name: str | None


class ProductOut(BaseModel):
    gtin: str
    name: str
    category: str
    description: str | None
    manufacturer: ManufacturerOut
    created_at: datetime
    cn_drug_id: str | None = None


class ProductList(BaseModel):
    products: list[ProductOut]


class BatchIn(Strict):
    gtin: str = Field(min_length=1, max_length=14)
    lot: str = Field(min_length=1, max_length=20)
    manufactured_on: date
    expires_on: date


class BatchOut(BaseModel):
    id: int
    gtin: str
    lot: str
    manufactured_on: date
    expires_on: date
    created_at: datetime


class BatchList(BaseModel):
    batches: list[BatchOut]


class CodesIn(Strict):
    count: int = Field(ge=1, strict=True)  # "1000" is refused, not read as 1000


class IssuanceOut(BaseModel):
    id: int
    batch_id: int
    key_id: str
    count: int
    created_at: datetime
    codes_url: str


class IssuanceList(BaseModel):
    issuances: list[IssuanceOut]


# The EPCIS 2.0 REST binding: every EPCIS answer names the versions of the standards it speaks.
EPCIS_VERSION_HEADERS = {"GS1-EPCIS-Version": "2.0.0", "GS1-CBV-Version": "2.0.0"}


class NamedQueryIn(Strict):
    """``POST /epcis/queries``: a name and the query in the standard's JSON form (query-schema.json)."""

    name: str = Field(min_length=1, max_length=100)
    query: dict[str, Any]
