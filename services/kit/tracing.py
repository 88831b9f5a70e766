"""OpenTelemetry: an OTLP gRPC exporter only when OTEL_EXPORTER_OTLP_ENDPOINT is set.

Without an endpoint the global provider stays the no-op one, so spans cost nothing.
Spans are exported from a background batch processor and never block a request.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Mapping, MutableMapping
from typing import Any

from opentelemetry import propagate, trace

_exporting = False  # set once an exporting provider is installed
_NO_SPAN = contextlib.nullcontext()


def configure_tracing(service_name: str, endpoint: str) -> bool:
    """Install the exporting provider; returns whether tracing is on."""
    if not endpoint.strip():
        return False
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    exporter = OTLPSpanExporter(endpoint=endpoint, insecure=_is_plaintext(endpoint), timeout=5)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
    trace.set_tracer_provider(provider)
    global _exporting
    _exporting = True
    return True


def shutdown_tracing() -> None:
    provider = trace.get_tracer_provider()
    shutdown = getattr(provider, "shutdown", None)
    if callable(shutdown):
        shutdown()


def _is_plaintext(endpoint: str) -> bool:
    return not endpoint.startswith("https://")


def get_tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def inject_context(carrier: MutableMapping[str, str]) -> None:
    """Add W3C traceparent (when a span is active) to outgoing headers or metadata."""
    propagate.inject(carrier)


@functools.cache
def _propagation_fields() -> frozenset[str]:
    return frozenset(propagate.get_global_textmap().fields)


def server_span(
    tracer: trace.Tracer, name: str, carrier: Mapping[str, str]
) -> contextlib.AbstractContextManager[Any]:
    """The span of a call this service answers, child of the caller's trace context in
    carrier. Without an exporter and without a caller's context there is nothing to record
    or carry on, so no span is made (the no-op one costs several microseconds a call)."""
    if _exporting or not _propagation_fields().isdisjoint(carrier):
        return tracer.start_as_current_span(name, context=propagate.extract(carrier))
    return _NO_SPAN
