"""How long it takes to read and validate a spec repository of 1,000 rollouts.

    python -m bench.validation [--specs N] [--repeat K] [--json PATH]

A real Git repository is made in a temporary directory with N rollout specs (one per file,
plus a few repository policies) and read the way the controller reads it: ``GitSource.sync``
(clone, then a no-change re-sync) and ``catalog.load_texts`` (parse with line numbers,
validate every spec, resolve every policy reference and template).

The baseline, measured in the same run on the same files, is the floor any YAML-based tool
pays: a plain safe load of every file (libyaml's loader when
present, as ours uses). Machines here are shared and noisy, so the figure to
compare across runs is the ratio to that baseline; absolute seconds are printed too.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from rollout.source.files import read_catalog
from rollout.source.git import GitSource
from rollout.spec import catalog

SPEC = """\
apiVersion: canary.rollout.dev/v1alpha1
kind: Rollout
metadata:
  name: svc-{i}
  namespace: team-{team}
spec:
  version: v{version}
  workload:
    deployment: svc-{i}-{{version}}
  traffic:
    host: svc-{i}.team-{team}.svc.cluster.local
    destinationRule: svc-{i}
    virtualServices:
      - name: svc-{i}
      - name: svc-{i}-gateway
        routes: [api]
  steps:
    - setWeight: 5
    - analyze: {{duration: 1m}}
    - setWeight: 25
    - pause: {{duration: 2m}}
    - setWeight: 50
    - pause: {{}}
    - setWeight: 100
  analysis:
    interval: 15s
    policies:
      - name: istio-error-ratio
        params: {{maxErrorRatio: 0.02}}
      - name: istio-latency-p99
      - name: team-saturation
  alerts:
    - name: team
      type: slack
      url: {{secretRef: {{name: alerts, key: slack}}}}
"""

POLICY = """\
apiVersion: canary.rollout.dev/v1alpha1
kind: Policy
metadata:
  name: team-saturation
spec:
  type: value
  params: {maxUtilisation: 0.9}
  query: max(container_cpu_utilisation{namespace="{{ namespace }}",pod=~"{{ workload }}-.*"})
  max: "{{ maxUtilisation }}"
"""


def make_repository(root: Path, specs: int) -> Path:
    work = root / "work"
    (work / "rollouts").mkdir(parents=True)
    for i in range(specs):
        text = SPEC.format(i=i, team=i % 20, version=2 + i % 5)
        (work / "rollouts" / f"svc-{i:04d}.yaml").write_text(text)
    (work / "rollouts" / "policies.yaml").write_text(POLICY)

    def run(*args: str) -> None:
        subprocess.run(args, cwd=work, check=True, capture_output=True)

    run("git", "init", "-q", "-b", "main")
    run("git", "add", ".")
    run("git", "-c", "user.name=bench", "-c", "user.email=b@localhost", "commit", "-qm", "specs")
    return work


def timed(action: Callable[[], object], repeat: int) -> tuple[float, object]:
    samples = []
    result: object = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), result


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        work = make_repository(root, args.specs)
        source = GitSource(str(work), branch="main", path="rollouts", cache_dir=root / "cache")
        started = time.perf_counter()
        snapshot = source.sync()
        first_sync = time.perf_counter() - started
        resync, _ = timed(source.sync, args.repeat)
        files = dict(snapshot.files)
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        baseline, _ = timed(
            lambda: [yaml.load(t, Loader=loader) for t in files.values()], args.repeat
        )
        validate, loaded = timed(lambda: read_catalog(files, commit=snapshot.sha), args.repeat)
        source.close()
    assert isinstance(loaded, catalog.Catalog)
    if loaded.problems or len(loaded.rollouts) != args.specs:
        raise SystemExit(f"benchmark specs did not validate: {loaded.problems[:3]}")
    figures = {
        "specs": float(args.specs),
        "first_sync_seconds": first_sync,
        "resync_seconds": resync,
        "validate_seconds": validate,
        "yaml_baseline_seconds": baseline,
        "validate_vs_yaml_ratio": validate / baseline,
        "read_and_validate_seconds": first_sync + validate,
        "resync_and_validate_seconds": resync + validate,
    }
    print(f"spec repository: {args.specs} rollouts, 1 policy file, median of {args.repeat}")
    print(f"  git clone + read at one commit   {first_sync:7.3f} s")
    print(f"  git re-sync (no change)          {resync:7.3f} s")
    print(f"  parse + validate (load_texts)    {validate:7.3f} s")
    print(f"  baseline: plain YAML safe load   {baseline:7.3f} s")
    print(f"  validate / baseline              {validate / baseline:7.2f} x")
    print(f"  read + validate, first time      {first_sync + validate:7.3f} s  (target < 2 s)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()
