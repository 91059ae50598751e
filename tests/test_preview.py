"""`gallery --preview` (make preview): every cell by the fast engine, in one process, into the
same cache under other keys; the site says which cells are previews; the lock file is untouched."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")

from pipeline.cli import main  # noqa: E402
from pipeline.render.fast import models  # noqa: E402


def test_preview_renders_every_cell_in_one_process_and_the_site_says_so(make_gallery, monkeypatch, capsys):
    manifest = make_gallery(contents=("pearl", "vinci", "dancer"), styles=("gogh", "munch"),
                            render={"size": 64, "style_weight": 8}, size=(48, 36),
                            site={"try_it": False})  # its style vectors would load the networks too
    loads = []
    real = models.new_session
    monkeypatch.setattr(models, "new_session", lambda *a, **kw: loads.append(1) or real(*a, **kw))
    models.sessions.cache_clear()
    monkeypatch.delenv("MAKEFLAGS", raising=False)

    assert main(["gallery", "--preview", "--no-fetch", "--config", str(manifest)]) == 0
    out = capsys.readouterr().out
    assert "preview: --preview over the manifest's parameters" in out
    assert "pearl:gogh: done in " in out and "(64 px, fast engine)" in out
    assert len(loads) == 2  # the two networks, once each, for all 6 cells: one process

    root = Path(manifest).parent
    assert not (root / "gallery.lock.json").exists()  # a preview leaves the lock file alone
    records = [json.loads(p.read_text()) for p in (root / "renders").glob("??/*.json")]
    assert len(records) == 6 and {r["engine"] for r in records} == {"fast"}
    index = (root / "site" / "index.html").read_text(encoding="utf-8")
    assert index.count('class="preview-badge"') == 6
    page = (root / "site" / "render" / "pearl--gogh.html").read_text(encoding="utf-8")
    assert 'class="preview-note"' in page and "Painted in about a second by a fast network" in page
    assert "make " not in page and "make " not in index  # pages are for visitors: no commands

    # The full gallery's cells are other keys: nothing of the preview is taken for them...
    assert main(["status", "--config", str(manifest)]) == 0
    assert "0 cached, 6 to render" in capsys.readouterr().out
    # ...but until they are rendered, the site shows their previews, not placeholders.
    (root / "site" / "index.html").unlink()
    assert main(["site", "--config", str(manifest)]) == 0
    index = (root / "site" / "index.html").read_text(encoding="utf-8")
    assert index.count('class="preview-badge"') == 6 and "0 cells not rendered" in capsys.readouterr().out
    # and the preview again renders nothing
    loads.clear()
    assert main(["gallery", "--preview", "--no-fetch", "--quiet", "--config", str(manifest)]) == 0
    assert loads == [] and "6 cells rendered, 0 missing" in capsys.readouterr().out


def test_prune_keeps_the_previews_the_site_shows(make_gallery, cli, fake_renderer):
    manifest = make_gallery(contents=("pearl", "vinci"), styles=("gogh",), render={"size": 64},
                            size=(48, 36), site={"try_it": False})
    root = Path(manifest).parent
    assert cli("gallery", "--preview", "--no-fetch", "--quiet", "--config", manifest)[0] == 0
    # nothing is fully rendered: the site shows both previews, so nothing is unused
    rc, out, err = cli("prune", "--config", manifest)
    assert rc == 0 and "nothing to prune" in out, out
    # pearl:gogh gets its full render: its preview is no longer shown, and prune says so
    assert cli("render", "--cell", "pearl:gogh", "--quiet", "--config", manifest)[0] == 0
    rc, out, err = cli("prune", "--config", manifest)
    assert "(preview of pearl:gogh: the site shows its full render instead)" in out
    assert "vinci:gogh" not in out and "1 cache entry no cell uses" in out
    assert cli("prune", "--yes", "--config", manifest)[0] == 0
    assert cli("site", "--config", manifest)[0] == 0
    index = (root / "site" / "index.html").read_text(encoding="utf-8")
    assert index.count('class="preview-badge"') == 1 and "Not rendered yet" not in index
