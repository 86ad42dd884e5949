"""Notifiers: tell people what a rollout did (Slack, Teams, Discord, generic webhook)."""
