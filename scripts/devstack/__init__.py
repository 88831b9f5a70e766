"""The development runner behind scripts/run_all_dev.py, one module per concern.

environment   .env and the real environment, ports (defaults from each service's Settings)
catalogue     the services, what each waits for and calls, and the profiles
probes        health checks: HTTP /health, grpc.health.v1, Redis PING, port in use
infrastructure  non-Python servers the runner starts itself (redis-server)
plan          which services a profile runs, with what ports, and the stop order
service       one started process and its state (waiting, starting, ready, ...)
process_group launching a process in its own group and stopping groups (shared with tests)
pidfile       .pids.json: recording a run, refusing a second one, stopping it from outside
console       prefixed output, the live status line, log following
runner        starting in dependency order, watching, stopping
cli           the command line
errors        RunnerError (the user must fix something) and StopRequested
"""
