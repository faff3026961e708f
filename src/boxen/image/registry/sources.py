"""Where a blob came from: the distribution-source labels behind cross-repository mounts.

A registry can link a blob it already keeps in one repository into another without the
client sending a byte (``POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<repository>``),
but only if the client names a repository that has it. So every blob pulled from, or
pushed to, a registry is labelled in the content store with the repositories of that
registry that have it: ``boxen.io/distribution.source.<registry>`` =
``<repository>[,<repository>...]`` (containerd keeps the same under
``containerd.io/distribution.source.<registry>``). Pull writes the labels; push reads them
to ask for mounts, and adds the repository it pushed to.
"""

from __future__ import annotations

SOURCE_LABEL = "boxen.io/distribution.source."


def sources(labels: dict[str, str] | None, domain: str) -> list[str]:
    """The repositories of registry ``domain`` that a blob with ``labels`` is known to be in."""
    return [r for r in (labels or {}).get(SOURCE_LABEL + domain, "").split(",") if r]


def add_source(content, digest: str, domain: str, repository: str) -> None:
    """Remember that ``repository`` on ``domain`` has the blob (for cross-repository mounts)."""
    labels = dict(content.info(digest).labels or {})
    repos = sources(labels, domain)
    if repository not in repos:
        labels[SOURCE_LABEL + domain] = ",".join([*repos, repository])
        content.set_labels(digest, labels)
