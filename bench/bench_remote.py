"""Sharded rendering through a remote render cache, end to end with the real renderer.

A 4 x 4 gallery of generated images (no third-party files) at 64 px: the plan written once
(`status --json`), 4 shard processes (`render --plan --shard K/4`, each on its own empty cache)
pushing to moto's S3 server on 127.0.0.1, then a fifth machine (an empty cache) that runs
`gallery` and must render nothing: it pulls all 16 renders, checks them and builds the site.
Optionally (--baseline) the same 16 cells rendered by one process, for the ratio.

Run: `python bench/bench_remote.py [--baseline]` (needs the test extras: moto[server], s3fs).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
N, SHARDS = 4, 4


def build(root: Path) -> Path:
    """A 4 x 4 manifest of generated images: gradients and stripes, varied per entry."""
    import yaml
    from PIL import Image, ImageDraw

    data = {"site": {"title": "Remote benchmark", "output": "site"}, "cache": "renders",
            "render": {"size": 64, "preset": "draft"}, "contents": [], "styles": []}
    for role, key in (("content", "contents"), ("style", "styles")):
        for i in range(N):
            id = f"{role[0]}{i}"
            im = Image.linear_gradient("L").resize((96, 72)).convert("RGB")
            draw = ImageDraw.Draw(im)
            for x in range(0, 96, 6 + 3 * i):  # stripes: a texture for the styles to carry
                draw.line([(x, 0), (x + 30 * (role == "style"), 72)], fill=(40 * i, 200 - 30 * i, 90), width=2)
            file = root / "images" / role / f"{id}.png"
            file.parent.mkdir(parents=True, exist_ok=True)
            im.save(file)
            data[key].append({"id": id, "title": id, "file": f"images/{role}/{id}.png"})
    manifest = root / "gallery.yaml"
    manifest.write_text(yaml.safe_dump(data, sort_keys=False))
    return manifest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(args: list[str], env: dict[str, str], cwd: Path, wait: bool = True):
    cmd = [sys.executable, "-m", "pipeline", *args]
    if not wait:
        return subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    r = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{r.stdout}")
    return r.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", action="store_true", help="also render the 16 cells in one process")
    args = parser.parse_args()

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GALLERY_", "MAKE"))}
    env.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
               AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/nonexistent",
               AWS_SHARED_CREDENTIALS_FILE="/nonexistent", PYTHONPATH=str(REPO),
               GALLERY_REMOTE="s3://renders/bench", GALLERY_REMOTE_ENDPOINT=f"http://127.0.0.1:{port}")
    import boto3
    boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id="bench",
                 aws_secret_access_key="bench", region_name="us-east-1").create_bucket(Bucket="renders")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-remote-") as tmp:
            root = Path(tmp)
            manifest = build(root)
            cfg = ["--config", str(manifest)]
            cli(["validate", *cfg], env, root)
            plan = cli(["status", "--json", *cfg], env, root)
            (root / "plan.json").write_text(plan)
            print(f"plan: {json.loads(plan)['to_render']} cells to render, "
                  f"{json.loads(plan)['estimated_seconds']:.0f} s estimated")

            start = time.perf_counter()
            shard_env = dict(env, GALLERY_THREADS="1", OMP_NUM_THREADS="1")  # 4 processes, 2 cores
            procs = [cli(["render", "--quiet", "--plan", "plan.json", "--shard", f"{k}/{SHARDS}",
                          "--cache", str(root / f"shard{k}"), *cfg], shard_env, root, wait=False)
                     for k in range(1, SHARDS + 1)]
            outs = [p.communicate()[0] for p in procs]
            shards = time.perf_counter() - start
            if any(p.returncode for p in procs):
                sys.exit("a shard failed:\n" + "\n".join(outs))
            for k, out in enumerate(outs, 1):
                line = next(line for line in out.splitlines() if line.startswith(f"shard {k}/"))
                print(f"  {line}")

            start = time.perf_counter()
            out = cli(["gallery", "--no-fetch", "--cache", str(root / "fifth"), *cfg], env, root)
            fifth = time.perf_counter() - start
            rendered = [line for line in out.splitlines() if "rendering (" in line]
            pulled = next((line for line in out.splitlines() if line.startswith("pulled ")), "pulled nothing")
            pulled = pulled.split(" from ")[0]
            if rendered:
                sys.exit(f"the fifth cache rendered {len(rendered)} cells:\n{out}")
            print(f"4 shards through s3 (moto, 127.0.0.1): {shards:.1f} s wall for 16 renders")
            print(f"fifth, empty cache: {fifth:.1f} s for `gallery` ({pulled}; 0 rendered; site built)")

            if args.baseline:
                start = time.perf_counter()
                cli(["render", "--quiet", "--cache", str(root / "single"), "--remote", "none", *cfg],
                    dict(env, GALLERY_REMOTE="none"), root)
                print(f"baseline, one process, both cores, no remote: {time.perf_counter() - start:.1f} s")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
