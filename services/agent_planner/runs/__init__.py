"""Runs: agent loop executions as objects of their own — queued on a bounded pool, stored
with every event they emit, streamed over SSE, cancellable, always ending terminal."""
