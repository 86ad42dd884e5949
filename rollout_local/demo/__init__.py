"""``rollout demo``: its services, cluster objects, spec repository, stack, story and report.

:mod:`.story` plays a scenario on :mod:`.stack`, which starts every part in order: the
:mod:`.service` versions, the :mod:`.cluster` objects, the :mod:`.spec_repo` Git repository;
:mod:`.monitor` watches progress through :mod:`.envoy_view`, and :mod:`.report` writes the
HTML report.
"""
