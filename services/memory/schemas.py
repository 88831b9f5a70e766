"""HTTP request bodies; pydantic refuses wrong types with a 422 naming the field."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.kit.timestamps import normalise_stamp
from services.kit.wire_limits import MAX_SESSION_ID_CHARS

MAX_MESSAGES = 1000
MAX_DOCUMENTS = 500


class Message(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    role: str = Field(min_length=1, max_length=64)
    content: str


class StoreRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    session_id: str = Field(min_length=1, max_length=MAX_SESSION_ID_CHARS, strict=True)
    history: list[Message] = Field(default_factory=list, max_length=MAX_MESSAGES)
    prompt: str = Field(default="", strict=True)
    llm_response: dict[str, Any] | None = None
    stored_at: str | None = Field(default=None, strict=True)

    @field_validator("stored_at")
    @classmethod
    def _one_stamp_form(cls, value: str | None) -> str | None:
        return None if value is None else normalise_stamp(value)


class PlaybookRequest(BaseModel):
    session_id: str = Field(min_length=1, max_length=MAX_SESSION_ID_CHARS, strict=True)
    prompt: str = Field(strict=True)
    history_sequence: list[Message] = Field(max_length=MAX_MESSAGES)
    namespace: str = Field(default="", strict=True)


class IngestDocument(BaseModel):
    id: str | None = Field(default=None, min_length=1, max_length=512, strict=True)
    text: str = Field(min_length=1, strict=True)
    source: str | None = Field(default=None, max_length=1024, strict=True)


class IngestRequest(BaseModel):
    knowledge_base: str = Field(min_length=1, strict=True)
    documents: list[IngestDocument] = Field(min_length=1, max_length=MAX_DOCUMENTS)
    namespace: str = Field(default="", strict=True)
