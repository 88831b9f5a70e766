"""`python -m services.model_gateway`: gRPC ModelGateway on 50051, HTTP on 8005."""

from __future__ import annotations

from services.contracts import modelgateway_pb2_grpc as pb_grpc
from services.kit.grpc_server import GrpcEndpoint
from services.kit.logs import get_logger
from services.kit.runtime import Cleanup, run, serve, start_service
from services.model_gateway.chain_config import configured_keys, provider_chain
from services.model_gateway.components import build_planner, open_memory
from services.model_gateway.grpc import GatewayServicer
from services.model_gateway.http import create_gateway_app
from services.model_gateway.redaction import Redactor
from services.model_gateway.reporting import Reporter
from services.model_gateway.settings import GatewaySettings

SERVICE = "model_gateway"
log = get_logger(SERVICE)


async def main() -> None:
    settings = start_service(GatewaySettings, SERVICE)
    chain = provider_chain(settings)
    redact = Redactor(configured_keys(settings, chain))
    cleanups: list[Cleanup] = []
    memory = open_memory(settings, cleanups)
    planner = build_planner(settings, chain, memory, redact, cleanups)
    endpoint = GrpcEndpoint.for_service(settings, settings.MODEL_GATEWAY_GRPC_PORT, planner.ready)
    reporter = Reporter(settings.LLM_PRICES_PER_1K)
    timeout = settings.REQUEST_TIMEOUT_SECONDS
    servicer = GatewayServicer(planner, memory, timeout, redact, reporter)
    endpoint.add(pb_grpc.add_ModelGatewayServicer_to_server, servicer, "modelgateway.ModelGateway")
    app = create_gateway_app(planner, memory, timeout, settings.internal_key())
    log.info(
        "gateway_configured",
        provider=planner.name,
        model=planner.model,
        chain=[f"{link.name}:{link.model}" for link in chain],
        memory=settings.RAG_GRPC_ADDR,
        timeout_s=timeout,
    )
    await serve(
        http=(app, settings.MODEL_GATEWAY_HTTP_PORT),
        grpc_endpoint=endpoint,
        cleanups=cleanups,
        host=settings.BIND_HOST,
    )


if __name__ == "__main__":
    run(main)
