"""Damaged JSON anywhere (a lock file, a record, the memo, a plan file, the site's own state) and
damaged shard arguments give the damaged-file handling of that file: a message naming it, or the
entry counted as missing and rendered again; never a traceback, never the wrong file blamed.

Renders are 8x8 fakes (tests/gallery_fakes.py): no torch.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from gallery_fakes import build_gallery, fill_cache
from test_hardening import cached_gallery

DEEP = "[" * 200_000 + "]" * 200_000  # RecursionError in json.loads


def no_traceback(out: str, err: str) -> None:
    assert "Traceback" not in out + err and "RecursionError" not in out + err, out + err


# ---------------------------------------------------------------- JSON nested too deep

def test_a_deeply_nested_lock_file_is_named_by_every_command(make_gallery, cli, tmp_path, fake_renderer):
    path = cached_gallery(make_gallery)
    lock = path.with_suffix(".lock.json")
    lock.write_text(DEEP)
    for command in (["status"], ["render"], ["build"], ["gallery", "--no-fetch"]):
        rc, out, err = cli(*command, "--config", path)
        no_traceback(out, err)
        if command != ["build"]:  # the site does not read the lock file
            assert rc == 1 and f"error: {lock}: not valid JSON (nested deeper than 64 levels)" in err, (command, err)
            assert "delete it" in err


def test_a_deeply_nested_render_record_counts_as_corrupt_and_renders_again(make_gallery, cli, tmp_path,
                                                                            fake_renderer):
    path = cached_gallery(make_gallery)
    [record] = (tmp_path / "renders").glob("[0-9a-f][0-9a-f]/*.json")
    record.write_text(DEEP)
    rc, out, err = cli("status", "--config", path)
    no_traceback(out, err)
    assert rc == 0 and f"record {record.name} cannot be read (nested deeper than 64 levels)" in out, out
    rc, out, err = cli("build", "--config", path)
    no_traceback(out, err)
    assert rc == 0 and "1 cells not rendered" in out
    rc, out, err = cli("render", "--config", path)
    assert rc == 0 and "rendered 1 cell" in out, out + err
    assert json.loads(record.read_text())["key"] == record.stem


def test_a_deeply_nested_memo_is_rebuilt_and_never_blamed_on_the_manifest(make_gallery, cli, tmp_path):
    path = cached_gallery(make_gallery)
    memo = tmp_path / "renders" / ".memo.json"
    memo.write_text(DEEP)
    for command in ("validate", "status", "build"):
        rc, out, err = cli(command, "--config", path)
        no_traceback(out, err)
        assert rc == 0 and "nested too deeply" not in err, (command, err)
    assert json.loads(memo.read_text())["version"] == 2  # written again, whole


def test_the_sites_own_state_files_nested_deep_cost_a_rebuild_only(make_gallery, cli, tmp_path):
    path = cached_gallery(make_gallery)
    assert cli("build", "--config", path)[0] == 0
    damaged = [*(tmp_path / "renders" / ".site").glob("*.json"),
               *(tmp_path / "renders" / "variants").glob("*/*/index.json")]
    assert len(damaged) >= 3
    for p in damaged:
        p.write_text(DEEP)
    rc, out, err = cli("build", "--config", path)
    no_traceback(out, err)
    assert rc == 0 and (tmp_path / "site" / "index.html").is_file()
    rc, out, err = cli("prune", "--config", path)
    no_traceback(out, err)
    assert rc == 0


def test_a_deeply_nested_plan_file_is_named(tmp_path, cli):
    cli.gallery = build_gallery(tmp_path / "g")
    plan = tmp_path / "plan.json"
    plan.write_text(DEEP)
    rc, out, err = cli("render", "--plan", plan, "--shard", "1/2")
    no_traceback(out, err)
    assert rc == 1 and f"--plan {plan}: not a plan (nested deeper than 64 levels)" in err, err


# ---------------------------------------------------------------- a damaged lock entry, said once

def test_a_damaged_lock_entry_is_reported_once_a_command(tmp_path, cli, fake_renderer):
    gallery = cli.gallery = build_gallery(tmp_path / "g")
    fill_cache(gallery)
    data = json.loads(gallery.lock_path.read_text())
    data["cells"]["pearl:gogh"]["seconds"] = "slow"
    sibling = gallery.lock_path.with_name("other.lock.json")  # another manifest's: its own commands say
    sibling.write_text(json.dumps(data))
    remote = (tmp_path / "remote").as_uri()
    for command in (["status"], ["render"], ["gallery", "--no-fetch"], ["pull", "--remote", remote],
                    ["prune"]):
        gallery.lock_path.write_text(json.dumps(data))
        rc, out, err = cli(*command)
        assert rc in (0, 1) and err.count("entry ignored") == 1, (command, err)
        assert f"{gallery.lock_path}: cell 'pearl:gogh': entry ignored ('seconds'" in err


def test_the_json_reader_refuses_nesting_past_its_limit_and_nothing_else():
    from pipeline.util import jsonload

    assert jsonload.loads("[" * 64 + "]" * 64) is not None
    assert jsonload.loads('{"a": ' * 63 + "1" + "}" * 63) is not None
    for text in ("[" * 65 + "]" * 65, DEEP, '{"a": ' * 65 + "1" + "}" * 65, "[" * 999):
        with pytest.raises(ValueError, match="nested deeper than 64 levels|Expecting"):
            jsonload.loads(text)
