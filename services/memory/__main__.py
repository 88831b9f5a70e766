"""`python -m services.memory` serves HTTP and gRPC; `python -m services.memory ingest [DIR]`
ingests a knowledge-base directory once, with a progress bar, and exits."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from pathlib import Path

from services.contracts import modelgateway_pb2_grpc as pb_grpc
from services.kit.grpc_server import GrpcEndpoint
from services.kit.runtime import run, serve, start_service
from services.memory.components import MemoryComponents, build_components
from services.memory.grpc import MemoryRagServicer
from services.memory.http import SERVICE, build_app
from services.memory.ingest_command import run_ingest_command
from services.memory.settings import MemorySettings
from services.memory.startup_ingestion import ingest_at_startup


async def serve_memory(settings: MemorySettings) -> None:
    parts = await build_components(settings)
    endpoint = GrpcEndpoint.for_service(settings, settings.MEMORY_GRPC_PORT, parts.health.ready)
    endpoint.add(
        pb_grpc.add_ModelGatewayServicer_to_server,
        MemoryRagServicer(parts.retriever, parts.store),
        "modelgateway.ModelGateway",
    )
    ingestion = start_ingestion(parts)

    async def stop_ingestion() -> None:
        if ingestion is not None:
            ingestion.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ingestion

    await serve(
        http=(build_app(parts), settings.MEMORY_PORT),
        grpc_endpoint=endpoint,
        cleanups=[stop_ingestion, parts.close],
        host=settings.BIND_HOST,
    )


def start_ingestion(parts: MemoryComponents) -> asyncio.Task[None] | None:
    if not parts.settings.MEMORY_INGEST_ON_START:
        parts.tracker.state = "disabled"
        return None
    root = Path(parts.settings.KNOWLEDGE_BASES_DIR)
    return asyncio.create_task(ingest_at_startup(parts.ingestor, root, parts.tracker))


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.memory")
    commands = parser.add_subparsers(dest="command")
    ingest = commands.add_parser("ingest", help="ingest a knowledge-base directory and exit")
    ingest.add_argument("directory", nargs="?", help="default: KNOWLEDGE_BASES_DIR")
    args = parser.parse_args()
    settings = start_service(MemorySettings, SERVICE)
    if args.command == "ingest":
        report = await run_ingest_command(settings, args.directory)
        print(json.dumps(report.as_dict()), flush=True)
    else:
        await serve_memory(settings)


if __name__ == "__main__":
    run(main)
