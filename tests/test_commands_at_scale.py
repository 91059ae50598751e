"""Commands on a gallery of hundreds of cells: status and prune summarise (counts, then the first
few; --all for every one), render says up front how many cells and how long and shows one bar
with the time left, and the fast engine's first estimate counts its start once a run."""
from __future__ import annotations

import dataclasses
import re
import sys

from gallery_fakes import FakeRenderer, build_gallery, cli_on, fill_cache
from pipeline.plan.planner import make_plan

CONTENTS = tuple(f"c{i:02d}" for i in range(20))
STYLES = tuple(f"s{i:02d}" for i in range(20))


def _grid(tmp_path, cached_styles: int = 19, **kw):
    """20 x 20 = 400 cells; the first `cached_styles` columns rendered."""
    g = build_gallery(tmp_path, contents=CONTENTS, styles=STYLES, **kw)
    fill_cache(dataclasses.replace(g, styles=g.styles[:cached_styles]))
    return g


def test_status_at_400_cells_summarises_in_under_40_lines(tmp_path, capsys):
    g = _grid(tmp_path)
    main = cli_on(g)
    assert main(["status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) < 40, "\n".join(lines)
    text = "\n".join(lines)
    assert "20 contents x 20 styles = 400 cells: 380 cached, 20 to render, 0 excluded" in text
    assert re.search(r"why they render:\n +20  new style\n", text), text  # counts by reason first
    shown = [line for line in lines if line.startswith("  render ")]
    assert len(shown) == 15 and all(":s19" in line for line in shown)  # only what is not cached
    assert "  ... and 5 more cells not cached (`status --all` lists every cell)" in lines
    assert not any(line.startswith("  cached ") for line in lines)
    assert "to render: 20 cells" in text and re.search(r"^site: about [\d.]+ MB in [\d,]+ files", text, re.M)

    assert main(["status", "--all"]) == 0
    every = capsys.readouterr().out.splitlines()
    assert len([line for line in every if line.startswith(("  cached ", "  render "))]) == 400


def test_status_names_the_settings_that_would_fit_an_oversized_site(tmp_path, capsys):
    g = _grid(tmp_path)
    g = dataclasses.replace(g, site=dataclasses.replace(g.site, budget_mb=0.05, try_it=False, downloads="png"))
    assert cli_on(g)(["status"]) == 0  # a prediction, not an error: status still answers
    site = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("site: "))
    assert "over site.budget_mb (0.05 MB): `make site` will refuse it" in site, site


def test_prune_summarises_many_entries(tmp_path, capsys):
    g = _grid(tmp_path, cached_styles=20)
    fewer = dataclasses.replace(g, styles=g.styles[:18])  # two styles leave: 40 renders no cell uses
    main = cli_on(fewer)
    assert main(["prune"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "      40  unused (" in "\n".join(lines)
    assert len([line for line in lines if "(unused, was " in line]) == 15
    assert "  ... and 25 more (`prune --all` lists each)" in lines
    assert len(lines) < 30
    assert main(["prune", "--all"]) == 0
    assert len([line for line in capsys.readouterr().out.splitlines() if "(unused, was " in line]) == 40


def test_render_says_how_many_and_how_long_then_a_line_a_cell_with_the_time_left(tmp_path, capsys):
    g = _grid(tmp_path, cached_styles=18)
    assert cli_on(g, FakeRenderer())(["render"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"rendering 40 cells \(32 px, \w+\), about \d+ (s|min \d\d s)", out[0]), out[0]
    done = [line for line in out if ": done in " in line]
    assert len(done) == 40 and not any("rendering (" in line for line in out)  # one line a cell
    assert done[0].startswith("[1/40] c00:s18: done in ") and "left" in done[0]
    assert "left" not in done[-1]
    assert any(re.fullmatch(r"rendered 40 cells in \d+ s", line) for line in out), out[-3:]


def test_render_on_a_terminal_shows_one_bar_for_the_run(tmp_path, capsys, monkeypatch):
    g = _grid(tmp_path, cached_styles=19)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert cli_on(g, FakeRenderer())(["render"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0].startswith("rendering 20 cells ")
    assert ": done in " not in captured.out  # the bar says it
    bars = {line.split(":")[0] for line in re.split(r"[\r\n]", captured.err) if "%|" in line}
    assert bars == {"render"}, captured.err[-2000:]  # one bar: no bar per render
    assert "20/20 cells" in captured.err and "<" in captured.err  # cells done, and the time left


def test_the_fast_engines_first_estimate_counts_its_start_once_a_run(tmp_path):
    g = build_gallery(tmp_path, contents=CONTENTS[:10], styles=STYLES[:10], render={"size": 512, "engine": "fast"})
    plan = make_plan(g)
    cells = plan.missing()
    assert len(cells) == 100 and not plan.timed_renders()
    one = plan.estimate_total(cells[:1])
    hundred = plan.estimate_total(cells)
    # measured here (bench_growth): 100 cells at 512 px in 35 s; a cell alone about 2.5 s
    assert 17 < hundred < 70, hundred
    assert 1.2 < one < 5, one
    assert hundred - 100 * plan.estimate_seconds(cells[0]) < 3  # the start once, not per cell
