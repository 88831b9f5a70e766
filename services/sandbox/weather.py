"""weather_tool: a demo stub with fixed values, labelled as such in every answer."""

from __future__ import annotations

from typing import Any

from services.sandbox.errors import InvalidToolArgs
from services.sandbox.outcome import ToolOutcome


def weather_report(args: dict[str, Any]) -> ToolOutcome:
    city = args.get("city", "")
    if not isinstance(city, str) or not city.strip():
        raise InvalidToolArgs("weather_tool: 'city' must be a non-empty string")
    return ToolOutcome.from_json(
        "ok",
        {
            "city": city.strip(),
            "temperature": "22C",
            "conditions": "Sunny",
            "demo_stub": True,
            "note": "demo stub: fixed values, not real weather data",
        },
    )
