"""Sharded rendering as the Pages workflow runs it, on one machine: a plan written once, N shard
processes on their own cache folders, a gather step. It must give exactly the cells and a
byte-identical site of a single-machine run, whether the renders are handed on as copied
folders (the workflow's artifacts) or through a remote render cache.
"""
from __future__ import annotations

import dataclasses
import json
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gallery_fakes import build_gallery, run_driver
from s3server import s3, s3_server  # noqa: F401 - fixtures
from pipeline.plan.shards import balance, read_plan_file, shard_count
from pipeline.util.errors import GalleryError

# Renders made at another time differ in their records' "created" (the site's feed shows it), so
# both runs stamp the same time: the comparison is of what sharding changes, not of the clock.
FAKE = {"FAKE_RENDER": "1", "FAKE_CREATED": "2026-01-02T03:04:05+00:00"}
SHAPE = dict(contents=("a", "b", "c"), styles=("x", "y", "z"), render={"size": 32},
             style_render={"z": {"size": 64}})  # z's cells take longer: a balance by time differs from one by count


# ---- balance

def test_balance_is_a_deterministic_partition_close_to_even():
    rng = random.Random(7)
    seconds = {f"{i:064x}": rng.choice([10.0, 10.0, 25.0, 60.0, 3.5]) for i in range(40)}
    for n in (1, 2, 3, 5, 40, 45):
        shards = balance(seconds, n)
        assert len(shards) == n and set().union(*shards) == set(seconds)
        assert sum(len(s) for s in shards) == len(seconds)  # no key twice
        loads = [sum(seconds[k] for k in s) for s in shards if s]
        assert max(loads) - min(loads) <= max(seconds.values())  # greedy longest-first's bound
        shuffled = dict(sorted(seconds.items(), key=lambda kv: rng.random()))
        assert balance(shuffled, n) == shards  # the order keys come in does not matter
    # by time, not by count: one long cell weighs as much as six short ones
    assert balance({"a" * 64: 60.0, **{f"{i:064x}": 10.0 for i in range(6)}}, 2)[0] == {"a" * 64}


def test_shard_count_from_the_estimates():
    assert shard_count([], 3600, 16) == 0
    assert shard_count([100.0], 3600, 16) == 1
    assert shard_count([3000.0] * 10, 3600, 16) == 9  # 30000 s / 3600 s, rounded up
    assert shard_count([3000.0] * 10, 3600, 4) == 4
    assert shard_count([99999.0] * 3, 3600, 16) == 3  # never more shards than cells


def test_a_bad_plan_file_is_named(tmp_path):
    with pytest.raises(GalleryError, match="no such file"):
        read_plan_file(tmp_path / "plan.json")
    (tmp_path / "plan.json").write_text("{")
    with pytest.raises(GalleryError, match="not a plan"):
        read_plan_file(tmp_path / "plan.json")
    (tmp_path / "plan.json").write_text(json.dumps({"cells": [{"state": "render", "key": "x",
                                                              "cell": "a:x"}]}))
    with pytest.raises(GalleryError, match="cell a:x: want a 64-hex"):
        read_plan_file(tmp_path / "plan.json")


# ---- the workflow's shard and gather steps

def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def entries(cache: Path) -> set[str]:
    """Keys of complete entries (image and record) in a cache folder."""
    return {p.stem for p in cache.glob("[0-9a-f][0-9a-f]/*.json") if p.with_suffix(".png").exists()}


@pytest.fixture(params=["artifacts", "file", "s3"])
def hand_on(request, tmp_path) -> dict[str, str]:
    """How shards hand their renders on: env for the processes ({} for copied folders)."""
    if request.param == "artifacts":
        return {}
    if request.param == "file":
        return {"GALLERY_REMOTE": (tmp_path / "remote").as_uri()}
    server = request.getfixturevalue("s3")  # moto on 127.0.0.1 (tests/s3server.py)
    import os
    return {"GALLERY_REMOTE": "s3://renders/gallery", "GALLERY_REMOTE_ENDPOINT": server.endpoint,
            **{k: os.environ[k] for k in os.environ if k.startswith("AWS_")}}


def test_shards_and_a_gather_give_the_single_machine_cells_and_site(tmp_path, hand_on):
    n = 3
    single = build_gallery(tmp_path / "single", **SHAPE)
    r = run_driver(single, "gallery", "--no-fetch", "--quiet", env={**FAKE, "GALLERY_REMOTE": "none"})
    assert r.returncode == 0, r.stderr
    want = entries(single.cache)
    assert len(want) == 9

    sharded = build_gallery(tmp_path / "sharded", **SHAPE)
    # the plan job
    r = run_driver(sharded, "status", "--json", "--shard-seconds", "1", "--max-shards", str(n),
                   env=hand_on)
    assert r.returncode == 0, r.stderr
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(r.stdout)
    assert json.loads(r.stdout)["shards"] == n
    planned = read_plan_file(plan_file)
    assert set(planned) == want and len(set(planned.values())) == 2  # two sizes, two estimates

    # N render jobs at once, each on its own (empty) cache folder and its own checkout
    procs = []
    for k in range(1, n + 1):
        job = dataclasses.replace(sharded, path=tmp_path / f"job{k}" / "gallery.yaml")
        job.path.parent.mkdir()
        procs.append(run_driver(job, "render", "--quiet", "--plan", str(plan_file), "--shard", f"{k}/{n}",
                                "--cache", str(tmp_path / f"shard{k}"), env={**FAKE, **hand_on},
                                wait=False))
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, out + err
    got = [entries(tmp_path / f"shard{k}") for k in range(1, n + 1)]
    assert got == balance(planned, n)  # each rendered its balanced share, nothing twice

    # the gather job: the shards' folders merged (artifacts), or an empty cache and the remote
    if not hand_on:
        for k in range(1, n + 1):
            for folder in (tmp_path / f"shard{k}").iterdir():
                if re.fullmatch(r"[0-9a-f]{2}", folder.name):
                    shutil.copytree(folder, sharded.cache / folder.name, dirs_exist_ok=True)
    log = tmp_path / "gather.log"
    r = run_driver(sharded, "gallery", "--no-fetch", "--quiet", env={**FAKE, **hand_on, "FAKE_LOG": str(log)})
    assert r.returncode == 0, r.stderr
    assert not log.exists()  # the gather renders nothing
    assert entries(sharded.cache) == want
    assert tree(sharded.site.output) == tree(single.site.output)  # byte-identical site
    assert (sharded.lock_path.read_text() == single.lock_path.read_text())


def test_plan_goes_with_shard(tmp_path):
    g = build_gallery(tmp_path)
    r = run_driver(g, "render", "--plan", "plan.json", env=FAKE)
    assert r.returncode == 1 and "--plan FILE goes with --shard" in r.stderr
