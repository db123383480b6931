"""``DoctorView``: the doctor's report by severity, every explanation and fix in full,
the records each finding names (a click opens one), and buttons that stage a fix into
the normal review.

Reads only the doctor's public model (``Report``, ``Finding``, ``Fix``,
``finding.stage(sync)``). Staging writes nothing: *Review staged fixes* runs
``sync.merge()`` and ``sync.plan_upload()`` and shows the plan's ``UploadReview``, where
each change is accepted or rejected and committed like any other edit.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from . import _html as h
from ._source import View, html
from .browser import record_html

SEVERITY_TONES = {"error": "bad", "warning": "warn", "info": "info"}
SEVERITY_TITLES = {"error": "Errors", "warning": "Warnings", "info": "Notes"}


def finding_html(f: Any) -> str:
    where = f" in <b>{h.esc(f.collection)}</b>" if f.collection else " (account)"
    parts = [
        f"<div style='{h.FONT};margin:2px 0'>{h.badge(f.severity, SEVERITY_TONES.get(f.severity, 'info'))} "
        f"<code>{h.esc(f.check)}</code>{where}</div>",
        f"<div style='{h.FONT};overflow-wrap:anywhere;margin:4px 0'>{h.esc(f.explanation)}</div>",
    ]
    if f.record_ids:
        ids = " ".join(f"<code style='overflow-wrap:anywhere'>{h.esc(i)}</code>" for i in f.record_ids)
        parts.append(f"<div style='{h.FONT};overflow-wrap:anywhere'>record(s) ({len(f.record_ids)}): {ids}</div>")
    if f.fix is not None:
        ops = "".join(
            f"<li><code style='overflow-wrap:anywhere'>{h.esc(op.describe())}</code></li>" for op in f.fix.ops
        )
        parts.append(f"<div style='{h.FONT};margin-top:4px'><b>Proposed fix:</b> {h.esc(f.fix.description)}</div>")
        if f.fix.caution:
            parts.append(h.banner(f"Caution: {f.fix.caution}", "warn"))
        parts.append(f"<ul style='{h.FONT};margin:2px 0'>{ops}</ul>")
    else:
        parts.append(f"<div style='{h.FONT};margin-top:4px'><i>no safe automatic fix: see the explanation</i></div>")
    return "".join(parts)


class FindingCard(w.VBox):
    """One finding: its text, a record picker, and *Stage fix* when it has one."""

    def __init__(self, finding: Any, view: DoctorView) -> None:
        self.finding = finding
        self.body = html(finding_html(finding), "synctools-finding-body")
        self.stage_button = w.Button(
            description="Stage fix",
            icon="wrench",
            disabled=finding.fix is None or view.sync is None,
            tooltip="stage this fix (nothing is written; review it below)",
        )
        self.stage_button.add_class("synctools-stage-fix")
        h.paint(self.stage_button, None)
        self.stage_button.on_click(lambda _: view.stage(self))
        if finding.fix is None:  # nothing to stage: no button that can never work
            self.stage_button.layout.display = "none"
        self.record_pick = w.Dropdown(options=[("open a record…", "")] + [(i, i) for i in finding.record_ids],
                                      layout=w.Layout(width="280px"))  # fmt: skip
        self.record_pick.observe(lambda ch: view.open_record(finding.collection, ch["new"]), names="value")
        self.status = html("", "synctools-finding-status")
        bar = [self.stage_button] + ([self.record_pick] if finding.record_ids and finding.collection else [])
        super().__init__([self.body, w.HBox([*bar, self.status])])
        self.layout.border = f"1px solid {h.BORDER}"
        self.layout.border_left = f"4px solid {h.TONE_BASE[SEVERITY_TONES.get(finding.severity, 'info')]}"
        self.layout.padding = "4px 8px"
        self.layout.margin = "4px 0"
        self.add_class("synctools-finding")
        self.add_class(f"synctools-finding-{finding.severity}")


class DoctorView(View):
    """``DoctorView(report, sync=None)``: findings grouped by severity, each in full."""

    def __init__(self, report: Any, sync: Any = None, **kwargs: Any) -> None:
        self.report = report
        self.sync: Any = sync if sync is not None else getattr(report, "sync", None)
        self.staged: list[str] = []
        self.review: Any = None
        self.cards = [FindingCard(f, self) for f in report]
        self.header = html(self._header(), "synctools-doctor-header")
        self.review_button = w.Button(
            description="Review staged fixes",
            icon="eye",
            disabled=True,
            tooltip="sync.merge(), sync.plan_upload(): the normal review, nothing written",
        )
        self.review_button.add_class("synctools-review-fixes")
        self.review_button.layout.width = "auto"
        h.paint(self.review_button, None)
        self.review_button.on_click(lambda _: self.open_review())
        self.record_title = html("", "synctools-record-title")
        self.record_json = html("", "synctools-record-json")
        self.record_envelope = html("", "synctools-record-envelope")
        self.record_json.layout = w.Layout(flex="3 1 420px", min_width="0")
        self.record_envelope.layout = w.Layout(flex="2 1 320px", min_width="0")
        self.review_box = w.VBox([])
        groups: list[w.Widget] = []
        for severity, title in SEVERITY_TITLES.items():
            cards = [c for c in self.cards if c.finding.severity == severity]
            if cards:
                groups.append(html(h.heading(f"{title} ({len(cards)})")))
                groups += cards
        records = w.HBox([self.record_json, self.record_envelope], layout=w.Layout(flex_flow="row wrap", width="100%"))
        super().__init__([self.header, *groups, self.record_title, records,
                          w.HBox([self.review_button]), self.review_box], **kwargs)  # fmt: skip
        self.add_class("synctools-view")
        self.add_class("synctools-doctor")

    def _header(self) -> str:
        counts = self.report.counts
        if not len(self.report):
            return h.heading("Doctor", "no problems found") + h.banner("Nothing to fix.", "ok")
        chips = " ".join(
            h.badge(f"{counts.get(s, 0)} {SEVERITY_TITLES[s].lower()}", t) for s, t in SEVERITY_TONES.items()
        )
        fixable = len(self.report.fixable)
        note = (
            ""
            if self.sync is not None
            else h.banner(
                "Shown without its sync: pass it (DoctorView(report, sync)) to stage fixes and open records.", "info"
            )
        )
        return (h.heading("Doctor", f"{len(self.report)} finding(s), {fixable} with a proposed fix")
                + f"<div style='{h.FONT}'>{chips}</div>" + note)  # fmt: skip

    # ---------------------------------------------------------------- actions
    def stage(self, card: FindingCard) -> list[str]:
        """What *Stage fix* does: ``finding.stage(sync)``; nothing is written."""
        try:
            done: list[str] = card.finding.stage(self.sync)  # Finding.stage; the card holds it as Any
        except Exception as exc:  # shown on the card; the report stays usable
            card.status.value = h.banner(f"{type(exc).__name__}: {exc}", "bad")
            return []
        self.staged += done
        card.stage_button.disabled = True
        card.stage_button.description = "Staged"
        h.paint(card.stage_button, "ok")
        card.status.value = f"<span style='{h.FONT}'>staged {len(done)} edit(s): review them below</span>"
        self.review_button.disabled = False
        h.paint(self.review_button, "info")
        return done

    def open_review(self) -> Any:
        """What *Review staged fixes* does: merge, plan, and show the plan's review."""
        from .review import UploadReview

        self.sync.merge()
        plan = self.sync.plan_upload()
        self.review = UploadReview(self.sync, plan)
        self.review_box.children = [html(h.heading("Review the staged fixes", "accept or reject each, then commit")),
                                    self.review]  # fmt: skip
        return self.review

    def open_record(self, collection: str | None, record_id: str) -> None:
        if not record_id or not collection or self.sync is None:
            return
        self.record_title.value = h.heading(
            f"{collection}/{record_id}", "the record as decrypted, and as the server holds it"
        )
        self.record_json.value, self.record_envelope.value = record_html(self.sync, collection, record_id)
