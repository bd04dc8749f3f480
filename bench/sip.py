"""SIP call rate of the SIP-trunk SBC: the shipped Kamailio config against a bare stateful relay.

    python -m bench sip [--step-seconds 4] [--max-rate 4000] [--children 4]

Three targets run one after the other in the same run, each a Kamailio of its own on loopback
with sipp callers and answerers (fusion_siptrunk.siptest):

* `relay` — `kamailio/relay.cfg`: record-route and relay every INVITE to the answerer;
* `inbound` — the shipped `kamailio.cfg` with a trunk provisioned by the driver: carrier ->
  DID -> the trunk's PBX (permissions, htable, dialog profiles, dispatcher, realm);
* `outbound` — the same SBC: PBX -> normalisation, block lists, calling plan -> carrier.

Each call is INVITE / 180 / 200 / ACK / BYE / 200 with no hold. For each target the rate
(`sipp -r`) is raised by half each step until a step fails (>= 1% failed calls, or sipp could
not place the calls in the step's time), then bisected twice between the last good and the
first bad rate. The figure is the highest rate with < 1% failed calls; the target is
inbound and outbound each >= 0.7 x relay. sipp's callers and answerers share the machine's
cores with Kamailio, so the figures are those of the whole loopback rig; the Kamailio CPU
per call (all its processes, from /proc) is reported beside them and moves less with load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_RATIO = 0.7
MAX_FAILED = 0.01
CARRIER, SBC, PBX, RELAY = "127.0.0.42", "127.0.0.43", "127.0.0.44", "127.0.0.45"
DID = "+441632960001"


def say(message: str) -> None:
    print(message, flush=True)


def group_cpu_seconds(pgid: int) -> float:
    """utime + stime of every process of a process group (Kamailio's main and children)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:  # fields after "pid (comm)": state ppid pgrp ...
            total += int(fields[11]) + int(fields[12])
    return total / tick


def step(kam, number: str, caller_addr: str, rate: float, seconds: float, folder: Path) -> dict:
    from fusion_siptrunk import siptest

    calls = max(int(rate * seconds), 10)
    cpu_before = group_cpu_seconds(kam.proc.pid)
    started = time.perf_counter()
    result = siptest.uac(
        kam.addr,
        kam.sip_port,
        number,
        local_addr=caller_addr,
        folder=folder,
        calls=calls,
        rate=rate,
        timeout=seconds * 3 + 10,
    )
    elapsed = time.perf_counter() - started
    cpu = group_cpu_seconds(kam.proc.pid) - cpu_before
    attempts = result.successful + result.failed
    failed = (calls - result.successful) / calls
    # sipp places `calls` calls at `rate`: if it needed far longer, the rate was not offered
    kept_up = elapsed <= seconds * 1.5 + 3
    return {
        "rate": rate,
        "calls": calls,
        "successful": result.successful,
        "failed": result.failed,
        "attempted": attempts,
        "failed_ratio": round(failed, 4),
        "elapsed_s": round(elapsed, 2),
        "kept_up": kept_up,
        "kamailio_cpu_ms_per_call": round(cpu * 1000 / max(attempts, 1), 3),
        "codes": dict(result.codes),
        "ok": failed < MAX_FAILED and kept_up,
    }


def find_rate(name: str, kam, number: str, caller: str, args, folder: Path) -> dict[str, Any]:
    steps = []
    rate, good, bad = args.start_rate, None, None
    while rate <= args.max_rate:
        s = step(kam, number, caller, rate, args.step_seconds, folder)
        steps.append(s)
        say(f"  {name:<8} {rate:>7.0f} calls/s: {s['successful']}/{s['calls']} ok, "
            f"{s['elapsed_s']} s, kamailio {s['kamailio_cpu_ms_per_call']} ms/call")  # fmt: skip
        if s["ok"]:
            good = s
            rate = round(rate * 1.5)
        else:
            bad = s
            break
    if good and bad:
        low, high = good["rate"], bad["rate"]
        for _ in range(args.bisect):
            mid = round((low + high) / 2)
            if mid in (low, high):
                break
            s = step(kam, number, caller, mid, args.step_seconds, folder)
            steps.append(s)
            say(f"  {name:<8} {mid:>7.0f} calls/s: {s['successful']}/{s['calls']} ok")
            if s["ok"]:
                good, low = s, mid
            else:
                high = mid
    best = good or {"rate": 0, "kamailio_cpu_ms_per_call": None}
    return {
        "max_rate": best["rate"],
        "kamailio_cpu_ms_per_call": best["kamailio_cpu_ms_per_call"],
        "capped_by_max_rate": bad is None and good is not None,
        "steps": steps,
    }


def run(args, scratch: Path) -> dict[str, Any]:
    from fusion_siptrunk import siptest
    from fusion_siptrunk.sbc import CallingPlan, ClassRule, DidRoute, SharedState, TrunkState
    from fusion_siptrunk.sbc.kamailio import KamailioDriver

    quiet = {"LOG_LEVEL": "1"}
    results: dict[str, Any] = {}
    with (
        siptest.Uas(scratch / "pbx", PBX) as pbx,
        siptest.Uas(scratch / "gw", CARRIER) as gateway,
    ):
        relay_defines = {**quiet, "RELAY_TO": f'"sip:{PBX}:{pbx.port}"'}
        with siptest.Kamailio(
            scratch / "relay", RELAY, siptest.RELAY_CFG, args.children, relay_defines
        ) as relay:
            say("relay.cfg (baseline) …")
            results["relay"] = find_rate("relay", relay, DID, CARRIER, args, scratch / "uac")
        with siptest.Kamailio(scratch / "sbc", SBC, None, args.children, quiet) as kam:
            driver, sbc = KamailioDriver(), kam.sbc()
            driver.apply_shared(
                sbc,
                SharedState(
                    carrier_sources=(CARRIER,),
                    carrier_gateways=(gateway.destination,),
                    block=("+4490",),
                    plans=(
                        CallingPlan(
                            1,
                            "GB",
                            (
                                ClassRule("premium", r"^\+449", 0),
                                ClassRule("mobile", r"^\+447", 1),
                                ClassRule("national_fixed", r"^\+44[123]", 2),
                            ),
                        ),
                    ),
                ),
            )
            driver.apply_trunk(
                sbc,
                TrunkState(
                    key=100, name="bench", subscription_key="bench", inbound=True,
                    outbound=True, max_calls=100_000, subscription_max_calls=100_000,
                    sources=(PBX,), destinations=(pbx.destination,), realm="pbx.bench.example",
                    country_code="44", national_prefix="0", international_prefix="00",
                    format_in="national", format_out="national", dr_active=False, dr_to=None,
                    dids=(DidRoute(DID, "01632960001"),), block=("+44163296099",),
                    plan=1, allowed_classes=("national_fixed", "mobile"),
                ),
            )  # fmt: skip
            say("kamailio.cfg inbound (carrier -> DID -> PBX) …")
            results["inbound"] = find_rate("inbound", kam, DID, CARRIER, args, scratch / "uac")
            say("kamailio.cfg outbound (PBX -> carrier) …")
            results["outbound"] = find_rate(
                "outbound", kam, "01632960123", PBX, args, scratch / "uac"
            )
    relay_rate = results["relay"]["max_rate"]
    for name in ("inbound", "outbound"):
        r = results[name]
        r["ratio_to_relay"] = round(r["max_rate"] / relay_rate, 3) if relay_rate else None
        r["pass"] = bool(relay_rate) and r["max_rate"] >= TARGET_RATIO * relay_rate
    return results


def versions() -> dict[str, str]:
    def first_line(cmd: list[str]) -> str:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (out.stdout or out.stderr).strip().splitlines()[0].strip()
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "not installed"

    return {
        "python": platform.python_version(),
        "kamailio": first_line(["kamailio", "-v"]),
        "sipp": first_line(["sipp", "-v"]),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench sip", description=__doc__)
    p.add_argument("--step-seconds", type=float, default=4, help="seconds of calls per step")
    p.add_argument("--start-rate", type=float, default=100, help="calls/s of the first step")
    p.add_argument("--max-rate", type=float, default=4000, help="stop raising here")
    p.add_argument("--bisect", type=int, default=2, help="bisection steps after the first failure")
    p.add_argument("--children", type=int, default=4, help="Kamailio UDP worker processes")
    p.add_argument("--output", type=Path)
    args = p.parse_args(argv)

    from fusion_siptrunk import siptest

    missing = siptest.missing_binaries()
    if missing:
        say(
            f"needs {' and '.join(missing)} (Debian: kamailio, kamailio-sqlite-modules, sip-tester)"
        )
        return 2
    started = datetime.now(UTC)
    clock = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="fusion-bench-sip-"))
    try:
        targets = run(args, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result = {
        "bench": "sip",
        "started_at": started.isoformat(timespec="seconds"),
        "machine": {"nproc": os.cpu_count(), "loadavg_at_end": list(os.getloadavg())},
        "versions": versions(),
        "settings": {
            "step_seconds": args.step_seconds,
            "start_rate": args.start_rate,
            "max_rate": args.max_rate,
            "kamailio_children": args.children,
            "max_failed_ratio": MAX_FAILED,
            "target_ratio_to_relay": TARGET_RATIO,
            "call": "INVITE/180/200/ACK/BYE/200, no hold, UDP",
        },
        "sip": targets,
        "elapsed_seconds": round(time.perf_counter() - clock, 1),
    }
    result["pass"] = all(targets[n]["pass"] for n in ("inbound", "outbound"))
    output = args.output or RESULTS / f"sip-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    for name, r in targets.items():
        line = (
            f"{name:<9} {r['max_rate']:>7.0f} calls/s with < 1% failed  "
            f"kamailio {r['kamailio_cpu_ms_per_call']} ms CPU/call"
        )
        if "ratio_to_relay" in r:
            line += f"  ratio {r['ratio_to_relay']}  -> {'PASS' if r['pass'] else 'FAIL'}"
        if r["capped_by_max_rate"]:
            line += "  (reached --max-rate)"
        say(line)
    say(f"result: {output}")
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
