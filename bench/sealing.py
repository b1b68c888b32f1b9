"""What sealing details at rest costs, measured in-process: ``createSession`` seals once,
``refreshSession`` and each listed session open once, ``verifySession`` never does (the
token carries the details). The baseline calls the same service, so its ratio to
Tessera cannot show this cost; this table does."""

from __future__ import annotations

import json
import os
import statistics
import time
from dataclasses import dataclass
from typing import Any

from bench import fixtures
from service.crypto import MasterKey
from service.details import DetailsCipher

SESSION_ID = "Q2xhc3NpY1Nlc3Npb25JZA"  # as long as a real one (16 random bytes)


@dataclass(frozen=True, slots=True)
class SealingCost:
    label: str
    plain_bytes: int
    stored_bytes: int
    seal_us: float
    open_us: float
    json_us: float  # json.loads alone, which Tessera did before details were sealed


def _per_call_us(call: Any, iterations: int, repeats: int) -> float:
    """The median over ``repeats`` of the mean time of one call, in µs."""
    means = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(iterations):
            call()
        means.append((time.perf_counter() - started) / iterations * 1e6)
    return statistics.median(means)


def measure(iterations: int = 5000, repeats: int = 5) -> list[SealingCost]:
    """Seal and open (JSON decoding included, as Tessera does) the bench's details and
    details at the 4 KiB cap."""
    cipher = DetailsCipher.for_master(MasterKey(os.urandom(32)))
    bench = json.dumps(fixtures.DETAILS, separators=(",", ":"))
    cap = json.dumps({"blob": "x" * (4096 - len('{"blob":""}'))}, separators=(",", ":"))
    costs = []
    for label, plain in (("bench details", bench), ("4 KiB cap", cap)):
        stored = cipher.seal(SESSION_ID, plain)
        assert cipher.open(SESSION_ID, stored) == json.loads(plain)
        costs.append(
            SealingCost(
                label=label,
                plain_bytes=len(plain.encode()),
                stored_bytes=len(stored),
                seal_us=_per_call_us(
                    lambda p=plain: cipher.seal(SESSION_ID, p), iterations, repeats
                ),
                open_us=_per_call_us(
                    lambda s=stored: cipher.open(SESSION_ID, s), iterations, repeats
                ),
                json_us=_per_call_us(lambda p=plain: json.loads(p), iterations, repeats),
            )
        )
    return costs


def table(costs: list[SealingCost]) -> str:
    lines = [
        "| details | JSON bytes | stored bytes | seal µs | open µs | of which JSON µs |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {c.label} | {c.plain_bytes:,} | {c.stored_bytes:,} | {c.seal_us:.1f} | "
        f"{c.open_us:.1f} | {c.json_us:.1f} |"
        for c in costs
    ]
    return "\n".join(lines)
