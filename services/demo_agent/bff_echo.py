"""The wiring check: one echo round trip to the BFF before the agent starts planning."""

from __future__ import annotations

from typing import Any

import httpx

from services.kit.outbound import DownstreamFailure, request_json


class BffEcho:
    def __init__(
        self, client: httpx.AsyncClient, base_url: str, timeout: float, service: str
    ) -> None:
        self._client = client
        self._base_url = base_url
        self._timeout = timeout
        self._service = service

    async def ping(self, request_id: str) -> Any:
        """The BFF's echo answer, or `{"error","status":"failed"}`; never raises."""
        try:
            _, payload = await request_json(
                self._client,
                "POST",
                f"{self._base_url}/api/v1/echo",
                request_id,
                self._timeout,
                {"ping": self._service, "request_id": request_id},
            )
        except DownstreamFailure as exc:
            return {"error": str(exc), "status": "failed"}
        return payload
