"""`python -m services.agent_planner`: wire clients, audit log and notifications into the
loop and serve HTTP until SIGTERM/SIGINT. Every dependency may be down at start-up."""

from __future__ import annotations

from services.agent_planner.components import SERVICE, add_console, build_app, open_dependencies
from services.agent_planner.http import add_routes
from services.agent_planner.limits import LoopLimits
from services.agent_planner.loop import AgentLoop
from services.agent_planner.runs.setup import open_runs
from services.agent_planner.settings import PlannerSettings
from services.kit.runtime import Cleanup, run, serve, start_service


async def main() -> None:
    settings = start_service(PlannerSettings, SERVICE)
    cleanups: list[Cleanup] = []
    deps = await open_dependencies(settings, cleanups)
    loop = AgentLoop(deps, LoopLimits.from_settings(settings))
    runs = await open_runs(settings, loop, deps, cleanups)
    app = build_app(settings, deps)
    add_routes(app, loop, deps.audit, deps.audit.ping, runs)
    add_console(app, settings, deps, cleanups)
    await serve(http=(app, settings.AGENT_PLANNER_PORT), cleanups=cleanups, host=settings.BIND_HOST)


if __name__ == "__main__":
    run(main)
