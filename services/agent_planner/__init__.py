"""Agent planner: the HTTP front door that runs the agent loop over memory, the model
gateway and the sandbox, with an audit log and Redis notifications on the side."""
