"""HTTP load: gunicorn serving Fusion and a bare Flask app, wrk driving each target in turn."""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"  # traffic stays on this machine
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


@dataclass
class Target:
    name: str
    base: str  # http://127.0.0.1:port
    path: str  # may hold "{id}", filled from `ids` at random for each request
    token: str | None = None
    ids: list[str] | None = None
    expect: Callable[[Any], bool] | None = None  # the probe's check of the decoded JSON body


@dataclass
class Server:
    base: str
    pid: int  # gunicorn's master; its children are the workers

    def worker_cpu_seconds(self) -> float | None:
        """CPU time (user + system) the workers have used so far; None where /proc is absent."""
        try:
            children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
            ticks = 0
            for child in children:
                fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, ValueError, IndexError):
            return None
        return ticks / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(app: str, workers: int, env: dict[str, str], probe: str, log_dir: Path):
    """Serve `app` with gunicorn (sync workers) on a free port until the block ends."""
    port = free_port()
    log = (log_dir / f"gunicorn-{port}.log").open("wb")
    cmd = [
        sys.executable, "-m", "gunicorn", "--workers", str(workers), "--worker-class", "sync",
        "--bind", f"{HOST}:{port}", "--log-level", "warning", app,
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=log, stderr=log)
    base = f"http://{HOST}:{port}"
    try:
        _wait_ready(base + probe, proc)
        yield Server(base, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _wait_ready(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer {url} within {timeout:.0f} s")


def probe(target: Target) -> dict[str, Any]:
    """One request before the load: the target must answer 200 with the expected body."""
    path = target.path.format(id=target.ids[0]) if target.ids else target.path
    request = urllib.request.Request(target.base + path)
    if target.token:
        request.add_header("Authorization", f"Bearer {target.token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read().decode()
        status = response.status
    ok = status == 200 and (target.expect is None or target.expect(json.loads(body)))
    if not ok:
        raise RuntimeError(f"{target.name}: unexpected answer {status} {body[:300]}")
    return {"status": status, "bytes": len(body)}


def lua_script(target: Target) -> str:
    """A wrk script: the bearer header, and a random id from the list for each request."""
    ids = target.ids or [""]
    lines = [
        "local ids = {" + ",".join(json.dumps(i) for i in ids) + "}",
        f"local path = {json.dumps(target.path.replace('{id}', '%s'))}",
        "local headers = {}",
    ]
    if target.token:
        lines.append(f'headers["Authorization"] = {json.dumps("Bearer " + target.token)}')
    lines += [
        "init = function(args) math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16)) end",
        "request = function()",
        "  return wrk.format('GET', string.format(path, ids[math.random(#ids)]), headers)",
        "end",
    ]
    return "\n".join(lines) + "\n"


def run_wrk(
    target: Target, duration: int, connections: int, threads: int, script_dir: Path
) -> dict[str, Any]:
    script = script_dir / f"{target.name}-{secrets.token_hex(4)}.lua"
    script.write_text(lua_script(target))
    cmd = [
        "wrk", f"--threads={threads}", f"--connections={connections}", f"--duration={duration}s",
        "--timeout=5s", "--latency", f"--script={script}", target.base,
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=True)
    result = parse_wrk(out.stdout)
    result["command"] = " ".join([*cmd[:-2], f"--script=<{target.name}.lua>", target.base])
    return result


def parse_wrk(text: str) -> dict[str, Any]:
    """Requests/s, latency percentiles (ms), errors and non-2xx/3xx answers from wrk's report."""

    def ms(value: str) -> float:
        number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
        return round(float(number) * UNITS[unit], 3)

    percentiles = {
        f"p{p}_ms": ms(v) for p, v in re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", text, re.MULTILINE)
    }
    socket_errors = dict.fromkeys(("connect", "read", "write", "timeout"), 0)
    found = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if found:
        socket_errors = dict(zip(socket_errors, map(int, found.groups()), strict=True))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    total = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    return {
        "requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
        **percentiles,
        "requests": int(total.group(1)) if total else None,
        "socket_errors": socket_errors,
        "errors": sum(socket_errors.values()),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "raw": text,
    }


def wrk_version() -> str:
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    return (out.stdout + out.stderr).splitlines()[0].strip()


def scratch_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="fusion-bench-"))
