"""Property-based fuzzing (Hypothesis) of a render's time-lapse pulled from a hostile remote: any
bytes, sizes, checksums and `timelapse` fields a record may claim.

The property: a pull raises nothing, writes nowhere but the local cache, and a sound render is
always pulled; its time-lapse enters the cache only as the exact bytes its record lists, as a
WebP whose every frame decodes, and otherwise not at all (no file, no listing in the record).
The render's own checks are fuzzed in test_fuzz_readers.py.
"""
from __future__ import annotations

import hashlib
import io

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import fs_guard  # noqa: E402
from test_fuzz_readers import FUZZ, Sandbox, _mutated, _png, mostly, seldom, values  # noqa: E402
from test_remote_timelapse import lapse  # noqa: E402

REAL = [lapse(shade) for shade in (0, 90, 200)]  # (animation, still) pairs, as the renderer makes them
ANIMS, STILLS = [a for a, _ in REAL], [s for _, s in REAL]
KEY = "ab" * 32


def _webp(i: int, part: int) -> bytes:
    return REAL[i % len(REAL)][part]


def files(part: int) -> st.SearchStrategy:
    """An animation (part 0) or a still (part 1): real, damaged, or anything at all."""
    real = st.integers(0, 2).map(lambda i: _webp(i, part))
    return st.one_of(
        real, real,
        st.binary(max_size=300),
        st.binary(max_size=200).map(lambda b: b"RIFF\x10\x00\x00\x00WEBPVP8X" + b),
        st.tuples(st.integers(0, 2), st.integers(0, 10**6), st.integers(0, 3), st.integers(0, 10**6)).map(
            lambda t: _mutated(_webp(t[0], part), t[1], t[2], t[3])))


hostile_field = st.dictionaries(st.sampled_from(["sha256", "bytes", "still_sha256", "still_bytes"]),
                                values | st.sampled_from(["../" * 3 + "etc", "0" * 64, -1, 10**12]),
                                max_size=4)
deltas = st.sampled_from([0] * 6 + [1, -1, 10**13])


@FUZZ
@given(anim=files(0), picture=files(1), anim_delta=deltas, still_delta=deltas, anim_sha_bad=seldom,
       still_sha_bad=seldom, field=mostly(st.none(), hostile_field))
def test_a_hostile_remote_timelapse_never_enters_the_cache_and_never_stops_the_render(
        anim, picture, anim_delta, still_delta, anim_sha_bad, still_sha_bad, field):
    from PIL import Image

    from pipeline.plan.cache import Cache, dumps_record, timelapse_paths
    from pipeline.plan.records import record_problem
    from pipeline.plan.remote import Remote

    image = _png((16, 12), 1)
    with Sandbox() as box:
        remote = Remote((box.root / "remote").as_uri())
        shas = ["0" * 64 if anim_sha_bad else hashlib.sha256(anim).hexdigest(),
                "f" * 64 if still_sha_bad else hashlib.sha256(picture).hexdigest()]
        listing = field if field is not None else {
            "sha256": shas[0], "bytes": len(anim) + anim_delta,
            "still_sha256": shas[1], "still_bytes": len(picture) + still_delta}
        record = {"key": KEY, "image_sha256": hashlib.sha256(image).hexdigest(), "image_bytes": len(image),
                  "timelapse": listing}
        folder = box.root / "remote" / KEY[:2]
        folder.mkdir(parents=True)
        (folder / f"{KEY}.{record['image_sha256']}.png").write_bytes(image)
        (folder / f"{KEY}.{shas[0]}.webp").write_bytes(anim)
        (folder / f"{KEY}.{shas[1]}.still.webp").write_bytes(picture)
        (folder / f"{KEY}.json").write_text(dumps_record(record), encoding="utf-8")
        cache = Cache(box.root / "local")
        with fs_guard.writes_outside(box.root) as guard:
            report = remote.transfer("pull", [KEY], cache)  # anything else than a refusal raises here
        assert guard.writes == []
        assert report.error is None
        if record_problem(record, KEY):  # a mistyped listing: the record itself is refused
            assert KEY in report.damaged and not cache.record_path(KEY).exists()
            return
        assert report.done == [KEY], report  # a sound render always comes
        fresh = Cache(box.root / "local")
        assert fresh.has(KEY) and fresh.image_path(KEY).read_bytes() == image
        kept = [p for p in timelapse_paths(fresh.root, KEY) if p.exists()]
        listed = fresh.read_record(KEY).get("timelapse")
        honest = field is None and anim in ANIMS and picture in STILLS and not (anim_delta or still_delta
                                                                       or anim_sha_bad or still_sha_bad)
        hypothesis.event("time-lapse pulled" if kept else "pulled without its time-lapse")
        assert not [p for p in fresh.root.rglob("*") if p.name.endswith(".tmp")]
        if not kept:
            assert listed is None and not honest
            return
        assert len(kept) == 2 and listed == listing
        for path, data, size, sha in zip(kept, (anim, picture), (listing["bytes"], listing["still_bytes"]),
                                         (listing["sha256"], listing["still_sha256"])):
            assert path.read_bytes() == data and len(data) == size and hashlib.sha256(data).hexdigest() == sha
            with Image.open(io.BytesIO(data)) as im:
                assert im.format == "WEBP"
                for i in range(getattr(im, "n_frames", 1)):
                    im.seek(i)
                    im.load()
