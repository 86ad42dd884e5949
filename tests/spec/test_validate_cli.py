"""``rollout validate`` and ``rollout plan`` as a user runs them: files in, lines, exit codes out.

The broken specs in ``tests/spec/broken/`` each carry known mistakes; the expected output,
one line per problem, is kept next to them in ``expected-output.txt``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from rollout.cli.main import main

BROKEN = Path(__file__).parent / "broken"
EXAMPLE_ROLLOUTS = sorted((Path(__file__).parents[2] / "examples" / "rollouts").glob("*.yaml"))


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rollout", *args], capture_output=True, text=True, check=False
    )


def test_examples_are_valid(repo_root: Path) -> None:
    result = run("validate", str(repo_root / "examples"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert "0 problem(s)" in result.stderr


def test_broken_specs_give_one_line_per_problem(repo_root: Path) -> None:
    result = run("validate", "tests/spec/broken")
    expected = (BROKEN / "expected-output.txt").read_text()
    assert result.returncode == 1
    assert result.stdout == expected
    assert "Traceback" not in result.stderr
    assert "1 rollout(s) valid" in result.stderr


def test_every_line_names_file_line_and_field() -> None:
    for line in (BROKEN / "expected-output.txt").read_text().splitlines():
        path, line_number, rest = line.split(":", 2)
        assert path.startswith("tests/spec/broken/")
        assert int(line_number) > 0
        assert rest.strip()


def test_json_output_lists_problems_and_valid_rollouts() -> None:
    result = CliRunner().invoke(main, ["validate", "--output", "json", str(BROKEN)])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert report["rollouts"] == ["shop/valid"]
    fields = {problem["field"] for problem in report["problems"]}
    assert "spec.trafic" in fields
    assert "spec.steps[0].setWeight" in fields
    assert all(problem["line"] for problem in report["problems"])


def test_missing_path_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    result = run("validate", str(tmp_path / "nope"))
    assert result.returncode == 1
    assert "no such file or directory" in result.stdout
    assert "Traceback" not in result.stderr


def test_plan_prints_steps_and_shortest_time(repo_root: Path) -> None:
    result = run("plan", str(repo_root / "examples" / "rollouts" / "checkout.yaml"))
    assert result.returncode == 0, result.stderr
    assert "set the canary weight to 5%" in result.stdout
    assert "shortest time to full promotion: 5m" in result.stdout


def test_plan_counts_manual_gates_and_implied_promotion(tmp_path: Path) -> None:
    spec = tmp_path / "gated.yaml"
    spec.write_text(
        """apiVersion: canary.rollout.dev/v1alpha1
kind: Rollout
metadata: {name: gated}
spec:
  version: v2
  traffic: {host: gated, destinationRule: gated, virtualServices: [{name: gated}]}
  steps:
    - setWeight: 10
    - pause: {duration: 90s}
    - setWeight: 50
    - pause: {}
"""
    )
    result = run("plan", str(spec))
    assert result.returncode == 0, result.stderr
    assert "pause until a person promotes" in result.stdout
    assert "full promotion (implied)" in result.stdout
    assert "shortest time to full promotion: 1m30s, plus 1 manual promotion(s)" in result.stdout


def test_plan_of_an_invalid_file_fails_cleanly() -> None:
    result = run("plan", str(BROKEN / "weights.yaml"))
    assert result.returncode == 1
    assert "weights never decrease" in result.stderr
    assert "Traceback" not in result.stderr


def test_write_back_status_files_are_not_specs(tmp_path: Path) -> None:
    (tmp_path / "checkout.status.yaml").write_text("rollout: shop/checkout\noutcome: rolledBack\n")
    result = run("validate", str(tmp_path))
    assert result.returncode == 0, result.stdout
    assert result.stdout == ""


def test_a_non_numeric_parameter_is_named_as_the_user_wrote_it(
    repo_root: Path, tmp_path: Path
) -> None:
    checkout = (repo_root / "examples" / "rollouts" / "checkout.yaml").read_text()
    spec = tmp_path / "checkout.yaml"
    spec.write_text(checkout.replace("{maxErrorRatio: 0.01}", "{maxErrorRatio: lots}"))
    result = run("validate", str(spec))
    assert result.returncode == 1
    (line,) = result.stdout.splitlines()
    assert line.endswith(
        ": spec.analysis.policies[0].params.maxErrorRatio: 'lots' is not a number "
        "(it sets the policy's max)"
    )


@pytest.mark.parametrize("text", ["", "# nothing here yet\n", "---\n"])
def test_an_empty_spec_file_is_an_error(tmp_path: Path, text: str) -> None:
    spec = tmp_path / "empty.yaml"
    spec.write_text(text)
    result = run("validate", str(spec))
    assert result.returncode == 1
    assert result.stdout == (
        f"{spec}: empty file: no YAML document in it (a spec file holds a Rollout or a Policy)\n"
    )


@pytest.mark.parametrize("example", EXAMPLE_ROLLOUTS, ids=lambda path: path.name)
def test_plan_finds_the_repository_policies_of_every_example(example: Path) -> None:
    result = run("plan", str(example))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "shortest time to full promotion" in result.stdout


def copy_payments(repo_root: Path, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    spec = into / "payments.yaml"
    spec.write_text((repo_root / "examples" / "rollouts" / "payments.yaml").read_text())
    return spec


def test_plan_takes_policies_from_the_given_paths(repo_root: Path, tmp_path: Path) -> None:
    spec = copy_payments(repo_root, tmp_path / "specs")
    result = run("plan", str(spec), "--policies", str(repo_root / "examples" / "policies"))
    assert result.returncode == 0, result.stderr
    assert "rollout shop/payments" in result.stdout


def test_an_unknown_policy_says_where_policies_were_looked_for(
    repo_root: Path, tmp_path: Path
) -> None:
    spec = copy_payments(repo_root, tmp_path / "specs")
    result = run("plan", str(spec))
    assert result.returncode == 1
    assert "unknown policy 'payments-declined-ratio'" in result.stderr
    assert (
        "policies were looked for in the file itself, the shipped ones (istio-error-ratio, "
        "istio-latency-p99, istio-slow-request-ratio) and the YAML files in "
        f"{spec.parent} (not in a Git repository) (found: none); --policies PATH looks elsewhere"
    ) in result.stderr


def test_validate_says_an_unknown_policy_may_be_in_a_path_not_given(
    repo_root: Path, tmp_path: Path
) -> None:
    spec = copy_payments(repo_root, tmp_path / "specs")
    alone = run("validate", str(spec.parent))
    assert alone.returncode == 1
    assert "unknown policy 'payments-declined-ratio'" in alone.stdout
    assert (
        "hint: policies are the shipped ones (istio-error-ratio, istio-latency-p99, "
        f"istio-slow-request-ratio) and those in the paths given ({spec.parent}; found: none)"
    ) in alone.stderr
    together = run("validate", str(spec.parent), str(repo_root / "examples" / "policies"))
    assert together.returncode == 0, together.stdout
    assert "hint:" not in together.stderr


def test_plan_looks_through_the_git_repository_around_the_file(
    repo_root: Path, tmp_path: Path
) -> None:
    (tmp_path / ".git").mkdir()
    spec = copy_payments(repo_root, tmp_path / "deep" / "specs")
    policies = tmp_path / "elsewhere"
    policies.mkdir()
    for path in (repo_root / "examples" / "policies").glob("*.yaml"):
        (policies / path.name).write_text(path.read_text())
    result = run("plan", str(spec))
    assert result.returncode == 0, result.stderr
    assert "rollout shop/payments" in result.stdout


@pytest.mark.parametrize("api_version", ["rollout.dev/v1", "canary.rolout.dev/v1alpha1"])
def test_our_kind_in_a_near_miss_of_our_api_group_is_an_error(
    tmp_path: Path, api_version: str
) -> None:
    (tmp_path / "checkout.yaml").write_text(
        f"apiVersion: {api_version}\nkind: Rollout\nmetadata:\n  name: checkout\n"
    )
    result = run("validate", str(tmp_path))
    assert result.returncode == 1
    assert "checkout.yaml:1: apiVersion: unknown API group" in result.stdout
    assert "did you mean 'canary.rollout.dev/v1alpha1'" in result.stdout


def test_documents_of_other_apis_are_skipped_and_counted(tmp_path: Path) -> None:
    (tmp_path / "argo.yaml").write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: checkout\n"
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: checkout\n"
    )
    result = run("validate", str(tmp_path))
    assert result.returncode == 0, result.stdout
    assert result.stdout == ""
    assert "2 document(s) of other APIs skipped" in result.stderr


def test_a_broken_per_pod_query_is_named_with_its_line(repo_root: Path, tmp_path: Path) -> None:
    shipped = (repo_root / "policies" / "istio-error-ratio.yaml").read_text()
    head, tail = shipped.split("  podTotal:", 1)
    broken = head + "  podTotal:" + tail.replace("{{ workload }}", "{{ wrkload }}", 1)
    policy = tmp_path / "errors.yaml"
    policy.write_text(broken.replace("name: istio-error-ratio", "name: my-errors"))
    result = run("validate", str(policy))
    assert result.returncode == 1
    line = broken.splitlines().index("  podTotal: >-") + 1
    assert result.stdout == (
        f"{policy}:{line}: spec.podTotal: unknown placeholder {{{{ wrkload }}}}"
        " (did you mean 'workload'?)\n"
    )


def test_the_shipped_policies_are_valid(repo_root: Path) -> None:
    result = run("validate", str(repo_root / "policies"))
    assert result.returncode == 0, result.stdout
    assert "3 policy file(s) checked, 0 problem(s)" in result.stderr + result.stdout
