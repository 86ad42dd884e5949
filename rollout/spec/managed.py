"""Managed versions: the controller makes each version's Deployment from a template and
sizes it to its share of the traffic.

Part of the ``Rollout`` spec (``spec.workload.managed``, opt-in; without it the Deployments
are made by hand, as before). For a new version the controller creates
``{service}-{version}`` from the template Deployment (its pod spec, with the version's
image and a ``version`` label), owned by the Rollout, and waits for it to be ready as for
one made by hand. Every scale goes through the ``scale`` subresource:

- the canary gets ``ceil(replicas * weight / 100)`` replicas, never fewer than
  ``minReplicas``, and a weight is raised only once the canary has the ready replicas the
  new weight needs;
- the stable version gets ``replicas``;
- after a promotion the old stable is kept for ``keepStable`` (an abort within it puts
  the traffic back on it), then scaled to zero;
- a rolled-back (or superseded) canary is scaled to zero after ``scaleDownDelay``;
- with an ``autoscaler`` (a HorizontalPodAutoscaler), its ``scaleTargetRef`` is kept on
  the stable version's Deployment, the stable's replicas are the HPA's, and the canary's
  share is taken of them.

Pure data and arithmetic.
"""

from __future__ import annotations

import math

from pydantic import Field, field_validator

from rollout.spec.base import DnsLabel, DnsSubdomain, Duration, SpecModel

__all__ = ["Managed", "render_image"]


def render_image(template: str, version: str) -> str:
    """``registry.example/checkout:{version}`` for one version."""
    return template.replace("{version}", version)


class Managed(SpecModel):
    """How the controller makes and sizes the versions' Deployments."""

    template: DnsSubdomain = Field(
        description="A Deployment in the rollout's namespace whose spec each version copies."
    )
    image: str = Field(
        min_length=1, description="The version's image; {version} is replaced by the version."
    )
    container: DnsLabel | None = Field(
        None, description="The container that gets the image; the first one when not given."
    )
    replicas: int = Field(2, ge=1, le=1000, description="Replicas of the stable version.")
    min_replicas: int = Field(1, ge=1, le=1000, description="The canary never has fewer.")
    keep_stable: Duration = Field(
        "10m",
        description=(
            "How long the old stable keeps its replicas after a promotion; an abort within "
            "it puts the traffic back on it."
        ),
    )
    scale_down_delay: Duration = Field(
        0, description="How long a rolled-back canary keeps its replicas (for debugging)."
    )
    autoscaler: DnsSubdomain | None = Field(
        None,
        description=(
            "A HorizontalPodAutoscaler in the rollout's namespace that sizes the stable "
            "version: its scaleTargetRef is moved to each new stable's Deployment, the "
            "stable's replicas are left to it, and the canary gets its share of them."
        ),
    )

    @field_validator("image")
    @classmethod
    def _image_has_version(cls, value: str) -> str:
        if "{version}" not in value:
            raise ValueError(
                f"{value!r} must contain {{version}} so each version runs its own image"
            )
        return value

    def canary_replicas(self, weight: int, stable: int | None = None) -> int:
        """The replicas a canary at ``weight`` percent needs: its share of the stable's
        (``stable``, what an autoscaler gave it, else ``replicas``), never fewer than
        ``minReplicas``."""
        base = self.replicas if stable is None else stable
        share = math.ceil(base * max(0, min(weight, 100)) / 100)
        return max(self.min_replicas, share)
