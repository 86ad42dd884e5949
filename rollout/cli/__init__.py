"""The command line: ``rollout validate``, ``plan``, ``run``, ``status``, ``promote``, ...."""
