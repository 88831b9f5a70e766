"""Who a gRPC error is about. The model gateway marks errors about its upstream provider
(its own deadline, a provider's 5xx or refusal) with trailing metadata, so a caller can
tell "the gateway process is unwell" (count it against the gateway) from "the provider
is" (the gateway's own per-provider cooldown deals with that)."""

from __future__ import annotations

import grpc

ERROR_SOURCE_METADATA = "x-pagi-error-source"
PROVIDER_SOURCE = "provider"


def reported_by_provider(exc: grpc.aio.AioRpcError) -> bool:
    """Whether the server marked this error as being about its upstream provider."""
    for key, value in exc.trailing_metadata() or ():
        if key == ERROR_SOURCE_METADATA and value == PROVIDER_SOURCE:
            return True
    return False
