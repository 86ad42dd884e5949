"""The rollout spec and SLO policies: models, YAML loading with line numbers, validation.

Pure data code: nothing here does network I/O or reads the clock.
"""
