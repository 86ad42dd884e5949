"""The embedded stack for ``rollout demo`` and the tests, kept out of the product package.

Real parts on one machine: :mod:`.processes` owns the Envoy and Prometheus child processes
(and the configuration each reads), :mod:`.mesh_agent` is the stack's istiod,
:mod:`.receiver` the webhook receiver alerts land in, :mod:`.loadgen` the steady traffic,
:mod:`.demo` the demo's services, story and report, :mod:`.lifecycle` the start and stop
every part shares, and :mod:`.cli` the ``rollout demo`` and
``rollout local`` commands, which the ``rollout`` CLI finds through the
``rollout.cli_commands`` entry-point group. The Kubernetes API stand-in is :mod:`kubelite`.
Product code in :mod:`rollout` never imports this package.
"""
