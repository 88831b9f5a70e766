"""The web console at /console: static pages served by the planner, on its public API."""
