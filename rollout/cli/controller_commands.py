"""``rollout run``: the controller process, configured by flags or environment variables.

Every flag has a ``ROLLOUT_*`` environment variable, so the Deployment in ``manifests/``
configures it from a ConfigMap and Secrets without a command line to maintain.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from pathlib import Path
from types import FrameType

import click

from rollout import logs
from rollout.cli.process_tuning import (
    freeze_startup_objects,
    limit_malloc_arenas,
    tune_garbage_collector,
)
from rollout.controller import Controller
from rollout.errors import RolloutError
from rollout.mesh.factory import ROUTERS
from rollout.metrics.prometheus import PrometheusSettings
from rollout.scheduler import DEFAULT_WORKERS
from rollout.settings import ControllerSettings, default_identity
from rollout.shards import ordinal_of

_option = functools.partial(click.option, show_envvar=True)

_ENVIRONMENT_ONLY = """\b
Set only in the environment (never a flag: flags show in ps):
  ROLLOUT_HOOK_SECRET                      secret the push hooks must prove
  ROLLOUT_GIT_TOKEN                        https token for the spec repository
  ROLLOUT_GIT_USERNAME                     ...its user (default: x-access-token)
  ROLLOUT_GIT_SSH_KEY                      path of an SSH private key (ssh URLs)
  ROLLOUT_GIT_KNOWN_HOSTS                  path of an SSH known_hosts file
  ROLLOUT_PROMETHEUS_BEARER_TOKEN          bearer token for Prometheus
  ROLLOUT_PROMETHEUS_BEARER_TOKEN_FILE     ...or a file holding it
  ROLLOUT_PROMETHEUS_USERNAME, _PASSWORD   basic auth for Prometheus
  ROLLOUT_PROMETHEUS_CA_FILE               CA bundle for Prometheus' certificate
  ROLLOUT_PROMETHEUS_INSECURE_SKIP_VERIFY  'true' skips the certificate check
Every flag above can also be set by the ROLLOUT_* variable shown beside it.
"""


@click.command(epilog=_ENVIRONMENT_ONLY)
@_option(
    "--source",
    type=click.Choice(["git", "cluster"]),
    default="git",
    envvar="ROLLOUT_SOURCE",
    show_default=True,
    help="Read specs from Git, or from Rollout resources applied by Argo CD or Flux.",
)
@_option("--git-url", envvar="ROLLOUT_GIT_URL", help="Spec repository (https, ssh, file).")
@_option(
    "--git-branch",
    envvar="ROLLOUT_GIT_BRANCH",
    default="main",
    show_default=True,
    help="Branch to follow.",
)
@_option(
    "--git-path",
    envvar="ROLLOUT_GIT_PATH",
    default=".",
    show_default=True,
    help="Directory of specs and policies inside the repository.",
)
@_option(
    "--cache-dir",
    envvar="ROLLOUT_CACHE_DIR",
    default="/tmp/rollout-cache",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Where the bare mirror of the spec repository is kept.",
)
@_option(
    "--poll-interval",
    envvar="ROLLOUT_POLL_INTERVAL",
    default=30.0,
    show_default=True,
    help="Seconds between Git polls (a push webhook syncs at once).",
)
@_option(
    "--resync-interval",
    envvar="ROLLOUT_RESYNC_INTERVAL",
    default=600.0,
    show_default=True,
    help="Seconds between runs of a rollout with nothing under way (a change runs it at once).",
)
@_option(
    "--kubeconfig",
    envvar="KUBECONFIG",
    default=None,
    help="Kubeconfig file; in a pod the service account is used.",
)
@_option(
    "--context",
    envvar="ROLLOUT_KUBE_CONTEXT",
    default=None,
    help="Kubeconfig context (default: the current one).",
)
@_option(
    "--prometheus-url",
    envvar="ROLLOUT_PROMETHEUS_URL",
    default="http://prometheus.istio-system:9090",
    show_default=True,
    help="Prometheus that holds the mesh metrics the policies query (its base URL).",
)
@_option(
    "--listen",
    envvar="ROLLOUT_LISTEN",
    default="0.0.0.0:8080",
    show_default=True,
    help="host:port for /healthz, /readyz, /metrics and /hooks/git.",
)
@_option(
    "--leader-election/--no-leader-election",
    envvar="ROLLOUT_LEADER_ELECTION",
    default=True,
    show_default=True,
    help="Act only while holding the Lease, so several replicas can run.",
)
@_option(
    "--lease-namespace",
    envvar="ROLLOUT_LEASE_NAMESPACE",
    default="rollout-system",
    show_default=True,
    help="Namespace of the leader-election Lease.",
)
@_option(
    "--lease-name",
    envvar="ROLLOUT_LEASE_NAME",
    default="rollout-controller",
    show_default=True,
    help="Name of the leader-election Lease.",
)
@_option(
    "--identity",
    envvar="ROLLOUT_IDENTITY",
    default=None,
    help="Leader-election identity (default: hostname-pid).",
)
@_option(
    "--workers",
    envvar="ROLLOUT_WORKERS",
    type=click.IntRange(min=1),
    default=DEFAULT_WORKERS,
    show_default=True,
    help="Rollouts run at once (a run mostly waits on the API server and Prometheus).",
)
@_option(
    "--shards",
    envvar="ROLLOUT_SHARDS",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Split the rollouts over this many Leases (<lease-name>-<i>), held by the replicas.",
)
@_option(
    "--replicas",
    envvar="ROLLOUT_REPLICAS",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Replicas meant to share the shards (replica k prefers shards i % replicas == k).",
)
@_option(
    "--replica-ordinal",
    envvar="ROLLOUT_REPLICA_ORDINAL",
    type=click.IntRange(min=0),
    default=None,
    help="This replica's k (default: the number ending the identity, as in a StatefulSet).",
)
@_option(
    "--policies",
    "policy_paths",
    envvar="ROLLOUT_POLICY_PATHS",
    multiple=True,
    type=click.Path(),
    help="Extra policy files or directories (cluster mode).",
)
@_option(
    "--namespace",
    envvar="ROLLOUT_NAMESPACE",
    default=None,
    help="Cluster mode: read Rollouts of this namespace only (default: all namespaces).",
)
@_option(
    "--git-author",
    envvar="ROLLOUT_GIT_AUTHOR",
    default="rollout-controller <rollout-controller@users.noreply.local>",
    show_default=True,
    help="Author and committer of write-back commits, as 'Name <email>'.",
)
@_option(
    "--router",
    type=click.Choice(ROUTERS),
    envvar="ROLLOUT_ROUTER",
    default="istio",
    show_default=True,
    help="Traffic router; nop moves no traffic (the analysis and alerts still run).",
)
@_option(
    "--dashboard/--no-dashboard",
    envvar="ROLLOUT_DASHBOARD",
    default=False,
    show_default=True,
    help="Serve the dashboard at /dashboard (Kubernetes token sign-in; RBAC decides).",
)
@_option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    envvar="ROLLOUT_LOG_FORMAT",
    default="text",
    show_default=True,
    help="json: one object per line, for log collectors.",
)
@_option(
    "--log-level",
    envvar="ROLLOUT_LOG_LEVEL",
    default="info",
    show_default=True,
    help="debug, info, warning or error.",
)
def run(
    source: str,
    git_url: str | None,
    git_branch: str,
    git_path: str,
    cache_dir: Path,
    poll_interval: float,
    resync_interval: float,
    kubeconfig: str | None,
    context: str | None,
    prometheus_url: str,
    listen: str,
    leader_election: bool,
    lease_namespace: str,
    lease_name: str,
    identity: str | None,
    workers: int,
    shards: int,
    replicas: int,
    replica_ordinal: int | None,
    policy_paths: tuple[str, ...],
    namespace: str | None,
    git_author: str,
    router: str,
    dashboard: bool,
    log_format: str,
    log_level: str,
) -> None:
    """Run the controller until SIGTERM or Ctrl-C."""
    logs.configure(level=log_level, fmt=log_format)
    limit_malloc_arenas()  # before any worker thread allocates
    tune_garbage_collector()
    host, _, port = listen.rpartition(":")
    author_name, _, author_email = git_author.partition("<")
    identity = identity or default_identity()
    if replica_ordinal is None:
        replica_ordinal = (ordinal_of(identity) or 0) if replicas > 1 else 0
    try:
        settings = ControllerSettings(
            prometheus=PrometheusSettings.from_env(url=prometheus_url),
            source="cluster" if source == "cluster" else "git",
            git_url=git_url,
            git_branch=git_branch,
            git_path=git_path,
            cache_dir=cache_dir,
            poll_interval=poll_interval,
            resync_interval=resync_interval,
            kubeconfig=kubeconfig,
            context=context,
            listen_host=host or "0.0.0.0",
            listen_port=int(port),
            hook_secret=os.environ.get("ROLLOUT_HOOK_SECRET") or None,
            leader_election=leader_election,
            lease_namespace=lease_namespace,
            lease_name=lease_name,
            identity=identity,
            workers=workers,
            shards=shards,
            replicas=replicas,
            replica_ordinal=replica_ordinal,
            policy_paths=policy_paths,
            namespace=namespace or None,
            git_author_name=author_name.strip() or "rollout-controller",
            git_author_email=author_email.rstrip(">").strip()
            or "rollout-controller@users.noreply.local",
            router="nop" if router == "nop" else "istio",
            dashboard=dashboard,
        )
        controller = Controller(settings)
        controller.start()
        freeze_startup_objects()
    except (RolloutError, ValueError) as error:
        click.echo(f"rollout run: {error}", err=True)
        sys.exit(1)

    def stop(signum: int, frame: FrameType | None) -> None:
        controller.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    controller.wait()
