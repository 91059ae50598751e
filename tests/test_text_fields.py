"""Text a page, the feed or a terminal cannot carry is refused by validation, with the file, the
line, the entry and the fix: lone surrogates (what a non-UTF-8 byte becomes), noncharacters
(U+FFFE, U+FFFF, U+FDD0..U+FDEF, the last two of each plane) and control characters."""
from __future__ import annotations

import pytest

from conftest import snapshot


def _entry_line(path, id: str) -> int:
    return next(i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                if line.strip().lstrip("- ") == f"id: {id}")


@pytest.mark.parametrize("escape, code, what", [
    ("\\uDCE9", "U+DCE9", "lone surrogate"),
    ("\\uD83D", "U+D83D", "lone surrogate"),
    ("\\uFFFE", "U+FFFE", "noncharacter"),
    ("\\uFFFF", "U+FFFF", "noncharacter"),
    ("\\uFDD0", "U+FDD0", "noncharacter"),
    ("\\U0001FFFF", "U+1FFFF", "noncharacter"),
])
@pytest.mark.parametrize("key", ["title", "credit"])
def test_text_an_entry_cannot_carry_is_refused_with_line_entry_and_fix(make_gallery, cli, tmp_path,
                                                                      escape, code, what, key):
    path = make_gallery(styles=["gogh"])
    text = path.read_text(encoding="utf-8")
    line = _entry_line(path, "gogh")
    # typed in the manifest as a YAML escape in a double-quoted string
    path.write_text(text.replace("  title: Gogh\n", f'  title: Gogh\n  {key}: "Caf{escape}"\n', 1)
                    if key == "credit" else text.replace("title: Gogh", f'title: "Caf{escape}"'), encoding="utf-8")
    before = snapshot(tmp_path)
    rc, out, err = cli("validate", "--config", path)
    assert rc == 2 and "Traceback" not in err, err
    problem = next(l for l in err.splitlines() if code in l).removeprefix("error: ")
    assert problem.startswith(f"{path}:{line + (2 if key == 'credit' else 1)}: styles[0] (id 'gogh'): '{key}' contains")
    assert what in problem and ("write the character it stands for" in problem or "remove it" in problem)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("section, key", [("site", "title"), ("site", "description"), ("site", "base_url")])
def test_site_text_is_checked_the_same_way(make_gallery, cli, section, key):
    path = make_gallery(site={key: "https://example.org/caf\udce9" if key == "base_url" else "Caf\udce9"})
    text = path.read_bytes().decode("utf-8", "surrogatepass")
    rc, out, err = cli("validate", "--config", path)
    assert rc == 2 and f"site: '{key}' contains U+DCE9" in err and "Traceback" not in err, (text, err)


def test_private_use_and_emoji_stay_allowed(make_gallery, cli):
    path = make_gallery(contents=[{"id": "pearl", "title": "Perle \U0001F308 \uE000 \u00e9\u0301"}])
    rc, out, err = cli("validate", "--config", path)
    assert rc == 0, err
