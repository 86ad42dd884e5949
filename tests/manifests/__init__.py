"""Tests of the install manifests: they build, they apply, and their RBAC fits the calls."""
