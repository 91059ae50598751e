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


# ---------------------------------------------------------------- plan files and shard arguments

def plan_file(tmp_path: Path, cli, **cell_changes) -> Path:
    """`status --json` of a fresh 2x2 gallery, with `cell_changes` applied to its first cell."""
    rc, out, err = cli("status", "--json")
    assert rc == 0, err
    data = json.loads(out)
    data["cells"][0].update(cell_changes)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data, allow_nan=True))
    return path


@pytest.mark.parametrize("seconds", [float("nan"), float("inf"), float("-inf"), 1e308, -1.0, 1e12])
def test_a_plan_file_with_an_absurd_estimate_is_named(tmp_path, cli, seconds, fake_renderer):
    cli.gallery = build_gallery(tmp_path / "g")
    path = plan_file(tmp_path, cli, estimated_seconds=seconds)
    rc, out, err = cli("render", "--plan", path, "--shard", "1/2")
    no_traceback(out, err)
    assert rc == 1 and f"--plan {path}: cell pearl:gogh: \"estimated_seconds\" must be a number of seconds " \
                       "from 0 to 10000000" in err, err
    assert "write the plan again with `status --json`" in err


@pytest.mark.parametrize("shard, words", [
    ("1/99999999999999999999", "N must be at most 10000"),
    ("1/30000000", "N must be at most 10000"),
    ("1/" + "9" * 5000, "N must be at most 10000"),
    ("0/4", "want K/N with 1 <= K <= N"),
    ("5/4", "want K/N with 1 <= K <= N"),
    ("\u0661/\u0664", "want K/N with 1 <= K <= N"),  # Arabic-Indic digits: int() takes them, we do not
    ("1/4/", "want K/N with 1 <= K <= N")])
def test_a_bad_shard_argument_is_named(tmp_path, cli, shard, words, fake_renderer):
    cli.gallery = build_gallery(tmp_path / "g")
    path = plan_file(tmp_path, cli)
    rc, out, err = cli("render", "--plan", path, "--shard", shard)
    no_traceback(out, err)
    assert rc == 1 and f"--shard {shard[:40]}" in err and words in err and "e.g. --shard 2/4" in err, err


def test_a_plan_file_that_is_not_a_regular_file_or_too_big_is_named(tmp_path, cli, fake_renderer):
    import os

    cli.gallery = build_gallery(tmp_path / "g")
    fifo = tmp_path / "plan.fifo"
    os.mkfifo(fifo)  # opening it would wait for a writer forever
    rc, out, err = cli("render", "--plan", fifo, "--shard", "1/2")
    assert rc == 1 and f"--plan {fifo}: not a regular file" in err, err
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.truncate(300 << 20)  # sparse: no disk used
    rc, out, err = cli("render", "--plan", big, "--shard", "1/2")
    assert rc == 1 and f"--plan {big}: 314572800 bytes, more than a plan" in err, err


def test_a_shard_costs_the_same_whatever_n_is():
    """The k-th of N shards is found without a set (or a load) per shard: N = 10**15 takes what
    N = 4 takes, and deals the keys one a shard, longest first."""
    import tracemalloc

    from pipeline.plan.shards import balance, shard_of

    seconds = {f"{i:064x}": float(i % 7 + 1) for i in range(200)}
    for n in (1, 3, 4, 199, 200, 201):
        assert [shard_of(seconds, k, n) for k in range(1, n + 1)] == balance(seconds, n)
    longest_first = sorted(seconds, key=lambda k: (-round(seconds[k] * 10), k))
    tracemalloc.start()
    try:
        assert shard_of(seconds, 1, 10**15) == {longest_first[0]}
        assert shard_of(seconds, 200, 10**15) == {longest_first[199]}
        assert shard_of(seconds, 10**15, 10**15) == set()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000, peak


def test_status_refuses_a_shard_length_that_is_not_a_positive_number(tmp_path, cli):
    cli.gallery = build_gallery(tmp_path / "g")
    for bad in ("nan", "-5", "0"):
        rc, out, err = cli("status", "--json", "--shard-seconds", bad)
        no_traceback(out, err)
        assert rc == 1 and f"--shard-seconds {bad}: want a number of seconds above 0" in err, err
