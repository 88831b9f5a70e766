"""Notifier: subscribes to the planner's Redis notifications channel and logs every payload."""
