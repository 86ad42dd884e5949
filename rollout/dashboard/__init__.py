"""The web dashboard: every rollout, one live page each, and people's actions, behind
authentication (docs/dashboard.md). ``rollout dashboard`` serves it on a person's machine;
``rollout run --dashboard`` serves it from the controller under ``/dashboard``."""
