"""The floor: the same requests from a bare aiohttp client, 32 in flight, bodies read and dropped.

``python -m bench.probe --api-url URL --workspace WS`` with the key in ``ROBOFLOW_API_KEY``.
It makes evals-etl's requests: the list call, every panel of every eval, every image page, and
one ``model-evals/compare?project=P&version=V`` per project version with a done eval (the
rule of ``bench.workload.compare_versions``). No decoding (except the listing and
``totalImages`` of each first image page), no retries, no output. What it reaches is what
the simulator, loopback and this machine allow; the gap between it and the R x L / C bound
is not the exporter's, the gap between it and evals-etl is.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import aiohttp
import msgspec

from bench.workload import PAGE, SPLITS, listed_compare_versions

CONCURRENCY = 32


class _Listing(msgspec.Struct):
    evals: list[dict[str, object]]


class _Total(msgspec.Struct):
    totalImages: int


class Probe:
    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session, self.base = session, base
        self.slots = asyncio.Semaphore(CONCURRENCY)
        self.bytes = 0

    async def get(self, path: str, **params: str) -> bytes:
        async with self.slots, self.session.get(f"{self.base}/{path}", params=params) as r:
            body = await r.read()
            if r.status != 200:
                raise RuntimeError(f"{r.status} for {path}?{params}: {body[:200]!r}")
        self.bytes += len(body)
        return body

    async def one_eval(self, eval_id: str) -> None:
        panel = f"model-evals/{eval_id}"
        calls = [self.get(panel), self.get(f"{panel}/map-results"),
                 self.get(f"{panel}/confidence-sweep"), self.get(f"{panel}/recommendations"),
                 self.get(f"{panel}/vector-analysis"), self.images(f"{panel}/image-predictions")]
        calls += [self.get(f"{panel}/performance-by-class", split=s) for s in SPLITS]
        calls += [self.get(f"{panel}/confusion-matrix", split=s) for s in SPLITS]
        await asyncio.gather(*calls)

    async def images(self, path: str) -> None:
        first = await self.get(path, split="all", limit=str(PAGE), offset="0")
        total = msgspec.json.decode(first, type=_Total).totalImages
        await asyncio.gather(*(self.get(path, split="all", limit=str(PAGE), offset=str(o))
                               for o in range(PAGE, total, PAGE)))


async def run(api_url: str, workspace: str, key: str) -> int:
    headers = {"Authorization": f"Bearer {key}"}
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:
        probe = Probe(session, f"{api_url}/{workspace}")
        listing = msgspec.json.decode(await probe.get("model-evals", limit="200"), type=_Listing)
        versions = listed_compare_versions(listing.evals)
        await asyncio.gather(*(probe.one_eval(str(e["evalId"])) for e in listing.evals),
                             *(probe.get("model-evals/compare", project=project, version=version)
                               for project, version in versions))
        return probe.bytes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.probe", description=__doc__)
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--workspace", required=True)
    args = parser.parse_args(argv)
    received = asyncio.run(run(args.api_url.rstrip("/"), args.workspace,
                               os.environ["ROBOFLOW_API_KEY"]))
    print(f"{received} bytes received")
    return 0


if __name__ == "__main__":
    sys.exit(main())
