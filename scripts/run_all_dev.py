#!/usr/bin/env python3
"""Run the PAGI stack on this machine, one process per service, in the foreground.

    python scripts/run_all_dev.py --profile core      # memory, sandbox, gateway, planner, notifier
    python scripts/run_all_dev.py --profile legacy    # sandbox, memory, gateway, demo agent, BFF
    python scripts/run_all_dev.py --stop              # stop the run recorded in .pids.json

Every path is relative to the working directory: service output goes to logs/<service>.log
(and, prefixed, to the console) and the running processes are recorded in .pids.json.
Ports and addresses come from the same variables the services read (environment first,
then .env). Ctrl-C or SIGTERM stops everything this runner started.

Run it with the project's virtualenv python (as `make run-dev` does); the runner itself is
the package scripts/devstack.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Started as a file, Python puts only scripts/ on the path; the runner and the services it
# reads settings from are imported from this checkout's root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.devstack.cli import main

if __name__ == "__main__":
    sys.exit(main(description=__doc__.split("\n\n")[0] if __doc__ else None))
