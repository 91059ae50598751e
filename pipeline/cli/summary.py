"""How `status` and `prune` speak of many cells: counts by state and reason first, then the cells
that need something (the first few; `--all` for every one), so that 40 new cells do not hide
among 1,000 cached ones; and what the site will weigh (pipeline.site.assemble.predict)."""
from __future__ import annotations

from collections import Counter

from pipeline.cli.words import human_bytes
from pipeline.site.sizes import MB, enough, mb

SHOWN = 15  # cells (or cache entries) listed by default; --all lists every one


def reason_kind(reason: str) -> str:
    """A reason as the summary counts it: file names and details that differ from cell to cell
    are cut ('the cached render is corrupt: x.png truncated' counts as 'the cached render is corrupt')."""
    for head in ("the cached render is corrupt", "render missing from the cache", "not rendered yet"):
        if reason.startswith(head):
            return head
    return reason


def status_lines(plan, on_remote: set[str], every: bool = False) -> list[str]:
    """Why the cells not cached must render, counted; then those cells (every cell with `every`),
    as '  STATE     NAME  REASONS' lines."""
    cells = plan.cells
    width = max((len(c.name) for c in cells), default=0)

    def line(c) -> str:
        state = "corrupt" if c.corrupt else c.state
        why = "; ".join(c.reasons + (("on the remote: pulled, not rendered",)
                                     if c.key in on_remote and c.state == "render" else ()))
        return f"  {state:<9} {c.name:<{width}}  {why}".rstrip()

    if every:
        return [line(c) for c in cells]
    order = {"render": 0, "excluded": 1}
    todo = sorted((c for c in cells if c.state != "cached"), key=lambda c: order.get(c.state, 2))
    out = []
    reasons = Counter(reason_kind(r) for c in todo if c.state == "render" for r in c.reasons)
    if len(todo) > SHOWN and reasons:
        out.append("why they render:")
        out += [f"  {n:>6}  {reason}" for reason, n in reasons.most_common(8)]
        if len(reasons) > 8:
            out.append(f"  {sum(n for _, n in reasons.most_common()[8:]):>6}  other reasons")
    out += [line(c) for c in todo[:SHOWN]]
    if len(todo) > SHOWN:
        out.append(f"  ... and {len(todo) - SHOWN} more cells not cached (`status --all` lists every cell)")
    return out


def site_line(gallery, cells) -> str:
    """'site: about 437 MB in 6,486 files once every cell is rendered (web images 135 MB, ...),
    under site.budget_mb (800 MB)', or what would fit it under."""
    from pipeline.site.assemble import predict

    plan = predict(gallery, cells)
    budget = gallery.site.budget_mb * MB
    pending = any(c.state == "render" for c in cells)
    head = (f"site: about {mb(plan.total)} in {len(plan.files):,} files"
            f"{' once every cell is rendered' if pending else ''} ({plan.describe()})")
    if plan.total <= budget:
        return f"{head}, under site.budget_mb ({gallery.site.budget_mb:g} MB)"
    over = plan.total - budget
    fixes = [f"`{setting}` saves {mb(saved)}" for setting, saved, _ in sorted(plan.savings, key=lambda s: -s[1])
             if enough(setting, saved, over) == "enough alone"]
    return (f"{head}, over site.budget_mb ({gallery.site.budget_mb:g} MB): `make site` will refuse it; "
            + (f"under `site:`, {' or '.join(fixes[:3])}" if fixes else "raise site.budget_mb or shrink the gallery"))


def prune_lines(entries, rendered: set[str], every: bool = False) -> list[str]:
    """The cache entries prune found, counted by what they are, then listed (the first few;
    every one with `every`)."""
    def what(g) -> str:
        if g.corrupt:
            return f"corrupt: {g.corrupt}"
        if g.interrupted:
            return "interrupted write"
        if g.preview:
            return (f"preview of {g.cell}: the site shows its full render instead" if g.cell in rendered
                    else f"unused preview, was {g.cell}" if g.cell else "unused preview")
        return f"unused, was {g.cell}" if g.cell else "unused, no record"

    def kind(g) -> str:
        if g.corrupt or g.interrupted:
            return "corrupt" if g.corrupt else "interrupted writes"
        if g.preview:
            return "previews of cells now rendered" if g.cell in rendered else "unused previews"
        return "unused"

    out = []
    if len(entries) > SHOWN and not every:
        counts, sizes = Counter(), Counter()
        for g in entries:
            counts[kind(g)] += 1
            sizes[kind(g)] += g.bytes
        out += [f"  {n:>6}  {k} ({human_bytes(sizes[k])})" for k, n in counts.most_common()]
    shown = entries if every else entries[:SHOWN]
    out += [f"  {g.key[:12]}  {human_bytes(g.bytes):>9}  ({what(g)})" for g in shown]
    if len(entries) > len(shown):
        out.append(f"  ... and {len(entries) - len(shown)} more (`prune --all` lists each)")
    return out
