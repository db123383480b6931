"""The outcome of an upload (:class:`UploadResult`), on its own so that both the batching
queue that fills it and the errors that carry a partial one (``PreconditionFailed.partial``)
depend on it, not on each other."""

from __future__ import annotations

from dataclasses import dataclass, field

from synctools.protocol.bso import ServerTime


@dataclass
class UploadResult:
    """The outcome of an upload: per-record success and failure, and what it took."""

    collection: str
    modified: ServerTime | None = None
    success: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    posts: int = 0
    commits: int = 0
    batched: bool = True
    records: int = 0
    payload_bytes: int = 0

    @property
    def atomic(self) -> bool:
        """True when every record was applied by one committed batch."""
        return self.batched and self.commits <= 1

    @property
    def ok(self) -> bool:
        return not self.failed

    def __repr__(self) -> str:
        return (
            f"<UploadResult {self.collection}: {len(self.success)} ok, {len(self.failed)} failed, "
            f"{self.posts} POSTs, {self.commits} commits, modified={self.modified}>"
        )
