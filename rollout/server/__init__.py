"""The controller's HTTP server: health, readiness, metrics and Git push hooks."""
