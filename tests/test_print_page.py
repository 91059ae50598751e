"""A render large enough to print is offered as a print on its page; a web-sized one is not."""
from __future__ import annotations

import re

from gallery_fakes import FakeRenderer, build_gallery, cli_on


def download_link(page: str) -> str:
    return re.sub(r"<[^>]+>", "", re.search(r'<a class="download"[^>]*>.*?</a>', page).group(0))


def test_a_print_size_render_has_a_print_download_and_a_small_one_a_full_size_one(tmp_path):
    large = build_gallery(tmp_path / "large", contents=("pearl",), styles=("gogh",), render={"size": 2048})
    assert cli_on(large, FakeRenderer())(["gallery", "--no-fetch", "--quiet"]) == 0
    link = download_link((large.site.output / "render" / "pearl--gogh.html").read_text())
    assert re.fullmatch(r"Download print size \(\w+, 2048 × 1365: 17 × 12 cm at 300 dpi\)", link), link

    small = build_gallery(tmp_path / "small", contents=("pearl",), styles=("gogh",), render={"size": 512})
    assert cli_on(small, FakeRenderer())(["gallery", "--no-fetch", "--quiet"]) == 0
    link = download_link((small.site.output / "render" / "pearl--gogh.html").read_text())
    assert re.fullmatch(r"Download full size \(\w+, 512 × 341\)", link), link
