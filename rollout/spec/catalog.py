"""Reading a whole spec repository: rollouts and policies, checked together.

``load_texts`` takes the files of one commit (as the Git source yields them, or as
``rollout.source.files`` reads them from disk for ``rollout validate``) and returns a
``Catalog``: the valid rollouts, each with the file, line and commit it came from,
the policies they can use (shipped ones, overridden by same-named ones in the repository),
and one ``Problem`` per thing wrong. A broken document never hides a valid one.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from rollout import API_GROUP, GROUP_VERSION
from rollout.errors import TemplateError
from rollout.spec import pydantic_problems
from rollout.spec.policy import Policy, RenderedPolicy, resolve
from rollout.spec.problems import Problem, did_you_mean
from rollout.spec.rollout import Rollout
from rollout.spec.yamldocs import Document, YamlSyntaxError, load_documents

KINDS = ("Rollout", "Policy")
NEAR_MISS_RATIO = 0.75
"""How alike an API group must be to ours to be taken for a typo of it."""
STATUS_FILE_SUFFIX = ".status.yaml"
"""Write-back status files sit next to specs; they are records for people, never specs."""
EMPTY_FILE = "empty file: no YAML document in it (a spec file holds a Rollout or a Policy)"


def is_status_file(path: str) -> bool:
    """Whether ``path`` is a write-back status file (never read as a spec)."""
    return path.lower().endswith(STATUS_FILE_SUFFIX)


@dataclasses.dataclass(frozen=True)
class Origin:
    """Where a document came from: the file, the line of its first field, the commit."""

    path: str
    line: int
    commit: str | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclasses.dataclass(frozen=True)
class LoadedRollout:
    """A valid rollout with its origin and its policies resolved."""

    rollout: Rollout
    origin: Origin
    policies: tuple[RenderedPolicy, ...]

    @property
    def key(self) -> str:
        return self.rollout.key


@dataclasses.dataclass
class Catalog:
    """Everything read from one set of files."""

    rollouts: dict[str, LoadedRollout] = dataclasses.field(default_factory=dict)
    policies: dict[str, tuple[Policy, Origin | None]] = dataclasses.field(default_factory=dict)
    policy_documents: dict[str, Document] = dataclasses.field(default_factory=dict)
    problems: list[Problem] = dataclasses.field(default_factory=list)
    ignored: int = 0
    foreign: int = 0
    """Documents of other APIs (an Argo Rollouts ``Rollout``, a Deployment): not ours, skipped."""
    files: int = 0
    invalid_rollouts: dict[str, Origin] = dataclasses.field(default_factory=dict)
    """Rollouts whose document is broken, by key where the key could be read."""
    unusable_files: set[str] = dataclasses.field(default_factory=set)
    """Files no document could be read from (unreadable, not YAML, over a limit): a rollout
    mirrored from one is invalid for now, not deleted."""
    resolved: dict[tuple[str, tuple[tuple[str, str], ...]], RenderedPolicy | TemplateError] = (
        dataclasses.field(default_factory=dict, repr=False)
    )
    """Policies resolved with a given set of overrides, shared by the rollouts using them."""

    @property
    def ok(self) -> bool:
        return not self.problems


def _problem(document: Document, field_path: tuple[str | int, ...], message: str) -> Problem:
    return Problem(
        document.path,
        document.line_of(field_path),
        pydantic_problems.format_field(field_path),
        message,
    )


def _near_miss(group: str) -> bool:
    """Whether ``group`` reads as a typo of ours (``rollout.dev``, ``canary.rollout.io``)
    rather than another project's (``argoproj.io``, ``rollouts.kruise.io``)."""
    return difflib.SequenceMatcher(None, group, API_GROUP).ratio() >= NEAR_MISS_RATIO


def _classify(document: Document) -> str | Problem | None:
    """The document's kind, a Problem, or None for a document that is not ours."""
    body = document.body
    if not isinstance(body, dict):
        return _problem(document, (), f"expected a mapping, got {type(body).__name__}")
    api_version = body.get("apiVersion")
    kind = body.get("kind")
    group = api_version.split("/")[0] if isinstance(api_version, str) else None
    if group is not None and group != API_GROUP:
        if kind in KINDS and _near_miss(group):
            # one of our kinds in a near miss of our group is a typo, not another API's
            # object: skipping it would leave the rollout silently unmanaged
            return _problem(
                document,
                ("apiVersion",),
                f"unknown API group {group!r} (did you mean {GROUP_VERSION!r}?)",
            )
        return None
    if kind is None:
        return _problem(document, (), f"missing kind: expected one of {', '.join(KINDS)}")
    if kind not in KINDS:
        hint = did_you_mean(str(kind), KINDS)
        return _problem(document, ("kind",), f"unknown kind {kind!r}{hint}")
    if api_version is None:
        return _problem(document, (), f"missing apiVersion: expected {GROUP_VERSION}")
    if api_version != GROUP_VERSION:
        return _problem(
            document, ("apiVersion",), f"unknown version {api_version!r}: expected {GROUP_VERSION}"
        )
    return str(kind)


def _documents(files: Mapping[str, str], catalog: Catalog) -> Iterable[Document]:
    for path in sorted(files):
        if is_status_file(path):
            catalog.ignored += 1
            continue
        catalog.files += 1
        try:
            documents = load_documents(files[path], path)
        except YamlSyntaxError as error:
            catalog.problems.append(Problem(path, error.line, "", str(error)))
            catalog.unusable_files.add(path)
            continue
        if not documents:
            # an emptied file is more likely a broken commit than a deletion: its rollout
            # keeps its last valid spec (delete the file to delete the rollout)
            catalog.problems.append(Problem(path, None, "", EMPTY_FILE))
            catalog.unusable_files.add(path)
        yield from documents


def _key_of(body: dict[str, Any]) -> str | None:
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("name"), str):
        namespace = metadata.get("namespace", "default")
        return f"{namespace}/{metadata['name']}"
    return None


def load_texts(
    files: Mapping[str, str],
    *,
    commit: str | None = None,
    shipped: Iterable[Policy] = (),
    unreadable: Mapping[str, str] | None = None,
    known_policies: Iterable[Policy] = (),
) -> Catalog:
    """Parse and check every rollout and policy in ``files`` (path -> YAML text);
    ``unreadable`` files (path -> why, as the source found them) are problems too.

    The ``shipped`` policies, and ``known_policies`` (read and checked elsewhere, as
    ``rollout plan`` reads a repository's), may be named by rollouts; ``files`` may
    override them by name.
    """
    catalog = Catalog()
    for path, why in (unreadable or {}).items():
        catalog.problems.append(Problem(path, None, "", why))
        catalog.unusable_files.add(path)
    for policy in (*shipped, *known_policies):
        catalog.policies[policy.name] = (policy, None)
    rollout_docs: list[tuple[Document, Rollout]] = []
    repo_policies: dict[str, Origin] = {}
    for document in _documents(files, catalog):
        kind = _classify(document)
        if kind is None:
            catalog.ignored += 1
            catalog.foreign += 1
            continue
        if isinstance(kind, Problem):
            catalog.problems.append(kind)
            continue
        model: type[Rollout] | type[Policy] = Rollout if kind == "Rollout" else Policy
        try:
            parsed = model.model_validate(document.body)
        except ValidationError as error:
            catalog.problems.extend(pydantic_problems.problems_from(error, document, model))
            key = _key_of(document.body)
            if kind == "Rollout" and key:
                origin = Origin(document.path, document.start_line, commit)
                catalog.invalid_rollouts[key] = origin
            continue
        origin = Origin(document.path, document.start_line, commit)
        if isinstance(parsed, Policy):
            if parsed.name in repo_policies:
                first = repo_policies[parsed.name]
                catalog.problems.append(
                    _problem(
                        document,
                        ("metadata", "name"),
                        f"policy {parsed.name!r} is also defined at {first}",
                    )
                )
                continue
            repo_policies[parsed.name] = origin
            catalog.policy_documents[parsed.name] = document
            catalog.policies[parsed.name] = (parsed, origin)
        else:
            rollout_docs.append((document, parsed))
    broken_policies = _policy_template_problems(catalog)
    for document, rollout in rollout_docs:
        _add_rollout(catalog, document, rollout, commit, broken_policies)
    catalog.problems.sort(key=lambda p: (p.path, p.line or 0))
    return catalog


def _add_rollout(
    catalog: Catalog,
    document: Document,
    rollout: Rollout,
    commit: str | None,
    broken_policies: Mapping[str, Origin],
) -> None:
    origin = Origin(document.path, document.start_line, commit)
    if rollout.key in catalog.rollouts:
        first = catalog.rollouts[rollout.key].origin
        catalog.problems.append(
            _problem(
                document,
                ("metadata", "name"),
                f"rollout {rollout.key!r} is also defined at {first}",
            )
        )
        return
    resolved: list[RenderedPolicy] = []
    broken = False
    for index, ref in enumerate(rollout.spec.analysis.policies):
        field = ("spec", "analysis", "policies", index, "name")
        if ref.name not in catalog.policies:
            hint = did_you_mean(ref.name, catalog.policies.keys())
            catalog.problems.append(_problem(document, field, f"unknown policy {ref.name!r}{hint}"))
            broken = True
            continue
        if ref.name in broken_policies:
            where = broken_policies[ref.name]
            catalog.problems.append(
                _problem(document, field, f"policy {ref.name!r} is invalid (see {where})")
            )
            broken = True
            continue
        outcome = _resolve_once(catalog, ref.name, ref.params)
        if isinstance(outcome, TemplateError):
            params = ("spec", "analysis", "policies", index, "params")
            if outcome.param is not None:
                catalog.problems.append(_problem(document, (*params, outcome.param), str(outcome)))
            else:
                message = f"{outcome.field}: {outcome}" if outcome.field else str(outcome)
                catalog.problems.append(_problem(document, params, message))
            broken = True
        else:
            resolved.append(outcome)
    if broken:
        catalog.invalid_rollouts[rollout.key] = origin
        return
    catalog.rollouts[rollout.key] = LoadedRollout(rollout, origin, tuple(resolved))


def _resolve_once(
    catalog: Catalog, name: str, params: Mapping[str, str | int | float]
) -> RenderedPolicy | TemplateError:
    """``resolve``, once per policy and set of overrides: most rollouts of a repository
    apply the same few policies the same way."""
    key = (name, tuple(sorted((k, repr(v)) for k, v in params.items())))
    if key not in catalog.resolved:
        policy, _ = catalog.policies[name]
        try:
            catalog.resolved[key] = resolve(policy, params)
        except TemplateError as error:
            catalog.resolved[key] = error
    return catalog.resolved[key]


def _policy_template_problems(catalog: Catalog) -> dict[str, Origin]:
    """Render every repository policy with its own defaults, so a broken one is reported
    once, even when no rollout uses it yet; return the broken ones."""
    broken: dict[str, Origin] = {}
    for name, (policy, origin) in catalog.policies.items():
        if origin is None:
            continue
        try:
            resolve(policy, {})
        except TemplateError as error:
            document = catalog.policy_documents[name]
            if error.param is not None:
                field_path: tuple[str, ...] = ("spec", "params", error.param)
            else:
                field_path = ("spec", error.field) if error.field else ("spec",)
            catalog.problems.append(_problem(document, field_path, str(error)))
            broken[name] = origin
    return broken
