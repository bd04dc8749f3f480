"""A SIP test harness: the shipped Kamailio SBC and sipp callers/answerers on loopback.

Used by the plugin's SIP tests and by `bench/sip.py`:

    with Kamailio(tmp_path / "sbc", addr="127.0.0.3") as kam:   # started, JSON-RPC answering
        sbc = kam.sbc()                                           # an Sbc for the driver
        with Uas(tmp_path / "pbx", addr="127.0.0.4") as pbx:      # answers every call
            result = uac(kam.addr, kam.sip_port, "+441632960001", local_addr="127.0.0.2",
                         folder=tmp_path / "carrier")
            assert result.successful == 1 and pbx.received() == ["01632960001"]

Every role has its own 127.0.0.x address (Linux routes all of 127/8 to lo) and free ports;
every process has a timeout, and everything started is stopped and reaped.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from fusion_siptrunk.sbc import Sbc

KAMAILIO = "kamailio"
SIPP = "sipp"


def package_file(*parts: str) -> Path:
    return Path(str(resources.files("fusion_siptrunk").joinpath(*parts)))


SHIPPED_CFG = package_file("kamailio", "kamailio.cfg")
RELAY_CFG = package_file("kamailio", "relay.cfg")
SCENARIOS = package_file("siptest_scenarios")


def missing_binaries() -> list[str]:
    return [b for b in (KAMAILIO, SIPP) if shutil.which(b) is None]


def need_sip_binaries() -> None:
    """Skip a test when kamailio or sipp is missing; fail instead with FUSION_REQUIRE_SERVICES=1."""
    import pytest

    missing = missing_binaries()
    if missing:
        message = f"{' and '.join(missing)} not installed (Debian: kamailio, sip-tester)"
        if os.environ.get("FUSION_REQUIRE_SERVICES") == "1":
            pytest.fail(message + " (FUSION_REQUIRE_SERVICES=1)")
        pytest.skip(message)


def free_port(addr: str) -> int:
    """A port free for both UDP and TCP on `addr`."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((addr, 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((addr, port))
                except OSError:
                    continue
                return port
    raise RuntimeError(f"no free port on {addr}")


def _stop(proc: subprocess.Popen | None, timeout: float = 10) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


# --- Kamailio -------------------------------------------------------------------------------


class Kamailio:
    """The SBC: Kamailio in the foreground with a config (the shipped one by default), its
    SQLite database, run folder and log in `folder`."""

    def __init__(
        self,
        folder: Path,
        addr: str = "127.0.0.3",
        cfg: Path | None = None,
        children: int = 2,
        defines: dict[str, str] | None = None,
        memory_mb: int = 64,
        pkg_mb: int = 32,
    ) -> None:
        self.folder = Path(folder)
        self.addr = addr
        self.cfg = Path(cfg or SHIPPED_CFG)
        self.children = children
        self.defines = dict(defines or {})
        self.memory_mb = memory_mb
        self.pkg_mb = pkg_mb  # private memory per process: an htable reload holds its table
        self.folder.mkdir(parents=True, exist_ok=True)
        self.run_dir = self.folder / "run"
        self.db_path = self.folder / "sbc.db"
        self.log_path = self.folder / "kamailio.log"
        self.sip_port = free_port(addr)
        self.rpc_port = free_port(addr)
        self.proc: subprocess.Popen | None = None

    @property
    def db_url(self) -> str:
        """The SBC database as a SQLAlchemy URL (the driver's settings.db_url)."""
        return f"sqlite:///{self.db_path}"

    @property
    def rpc_url(self) -> str:
        return f"http://{self.addr}:{self.rpc_port}/RPC"

    def sbc(self, name: str = "test-sbc") -> Sbc:
        return Sbc(
            name=name,
            driver="kamailio",
            signalling_host=self.addr,
            signalling_port=self.sip_port,
            settings={"db_url": self.db_url, "rpc_url": self.rpc_url},
        )

    def command(self) -> list[str]:
        defines = {
            "SIP_ADDR": f'"{self.addr}"',
            "SIP_PORT": str(self.sip_port),
            "RPC_ADDR": f'"{self.addr}"',
            "RPC_PORT": str(self.rpc_port),
            "DBURL": f'"sqlite://{self.db_path}"',
            "CTL_SOCK": f'"unix:{self.run_dir}/kamailio_ctl"',
            "CHILDREN": str(self.children),
            "TCP_CHILDREN": "2",
            **self.defines,
        }
        cmd = [KAMAILIO, "-f", str(self.cfg), "-DD", "-E", "-Y", str(self.run_dir)]
        cmd += ["-P", str(self.run_dir / "kamailio.pid"), "-m", str(self.memory_mb)]
        cmd += ["-M", str(self.pkg_mb)]
        for name, value in defines.items():
            cmd += ["-A", f"{name}={value}"]
        return cmd

    def start(self, timeout: float = 20) -> Kamailio:
        from fusion_siptrunk.sbc.kamailio import engine_for, ensure_schema

        if self.running:
            return self
        ensure_schema(engine_for(self.db_url))  # the modules load their tables at start
        self.run_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.folder,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kamailio exited ({self.proc.returncode}):\n{self.log[-4000:]}")
            if self.rpc_ready():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"kamailio did not answer JSON-RPC in {timeout} s:\n{self.log[-4000:]}")

    def rpc_ready(self) -> bool:
        body = b'{"jsonrpc": "2.0", "method": "core.version", "id": 1}'
        try:
            with urllib.request.urlopen(
                urllib.request.Request(self.rpc_url, data=body, method="POST"), timeout=1
            ) as answer:
                return b"kamailio" in answer.read()
        except OSError:
            return False

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None

    @property
    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> Kamailio:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --- sipp -----------------------------------------------------------------------------------


@dataclass
class CallResult:
    """What a sipp caller saw: calls that completed, calls that failed, final response codes."""

    successful: int = 0
    failed: int = 0
    codes: Counter = field(default_factory=Counter)  # final response code -> calls
    returncode: int | None = None
    output: str = ""  # sipp's errors file and the tail of its screen, for messages

    def __str__(self) -> str:
        return (
            f"successful={self.successful} failed={self.failed} codes={dict(self.codes)} "
            f"rc={self.returncode}\n{self.output[-3000:]}"
        )


_REFUSAL = re.compile(r"received 'SIP/2\.0 (\d{3})")


class Uac:
    """A sipp caller running in the background; `wait()` gives its CallResult."""

    def __init__(
        self,
        host: str,
        port: int,
        number: str,
        *,
        local_addr: str,
        folder: Path,
        calls: int = 1,
        rate: float = 10,
        limit: int | None = None,
        hold_ms: int = 0,
        caller: str = "sipp",
        timeout: float = 30,
        scenario: Path | None = None,
        extra: list[str] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = f"{time.monotonic_ns()}"
        self.stat_path = self.folder / f"uac-{stamp}-stat.csv"
        self.err_path = self.folder / f"uac-{stamp}-errors.log"
        self.screen_path = self.folder / f"uac-{stamp}-screen.log"
        self.timeout = timeout
        if scenario is None and not hold_ms:
            # No hold: the BYE follows the ACK at once, so a 180 that the 200 overtook arrives
            # while the BYE is answered, where uac.xml ignores it (see the scenario).
            scenario = self.folder / "uac-nohold.xml"
            scenario.write_text((SCENARIOS / "uac.xml").read_text().replace("  <pause/>\n", ""))
        cmd = [SIPP, f"{host}:{port}", "-sf", str(scenario or SCENARIOS / "uac.xml")]
        cmd += ["-i", local_addr, "-bind_local", "-p", str(free_port(local_addr))]
        cmd += ["-s", number, "-key", "caller", caller, "-m", str(calls)]
        cmd += ["-r", f"{rate:g}", "-d", str(hold_ms), "-nostdin"]
        if limit:
            cmd += ["-l", str(limit)]
        cmd += ["-timeout", f"{int(timeout)}s", "-timeout_error", "-recv_timeout", "10000"]
        cmd += ["-trace_err", "-error_file", str(self.err_path)]
        cmd += ["-trace_stat", "-stf", str(self.stat_path), "-fd", "1"]
        cmd += ["-trace_screen", "-screen_file", str(self.screen_path)]
        cmd += list(extra or [])
        self.command = cmd
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            cwd=self.folder,
            start_new_session=True,
        )

    def wait(self) -> CallResult:
        try:
            _, stderr = self.proc.communicate(timeout=self.timeout + 15)
        except subprocess.TimeoutExpired:
            _stop(self.proc)
            _, stderr = self.proc.communicate()
        result = CallResult(returncode=self.proc.returncode)
        stats = _last_stat(self.stat_path)
        result.successful = int(stats.get("SuccessfulCall(C)", 0) or 0)
        result.failed = int(stats.get("FailedCall(C)", 0) or 0)
        errors = _read(self.err_path)
        result.codes.update(_REFUSAL.findall(errors))
        if result.successful:
            result.codes["200"] += result.successful
        result.output = errors[-6000:] + (stderr or b"").decode(errors="replace")[-2000:]
        return result

    def stop(self) -> None:
        _stop(self.proc)


def uac(host: str, port: int, number: str, **kwargs) -> CallResult:
    """Place calls to `number` at host:port and wait for them (see `Uac` for the options)."""
    return Uac(host, port, number, **kwargs).wait()


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _last_stat(path: Path) -> dict[str, str]:
    text = _read(path)
    rows = list(csv.reader(text.splitlines(), delimiter=";"))
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1], strict=False))


class Uas:
    """A sipp answerer in the background (a PBX or a carrier gateway) on `addr`: answers every
    call, or refuses it with `code`. `received()` lists the R-URI users of the INVITEs."""

    def __init__(
        self, folder: Path, addr: str, code: int | None = None, port: int | None = None
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.addr = addr
        self.port = port or free_port(addr)
        self.code = code
        self.log_path = self.folder / f"uas-{self.port}.log"
        self.err_path = self.folder / f"uas-{self.port}-errors.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Uas:
        scenario = SCENARIOS / ("uas.xml" if self.code is None else "uas_refuse.xml")
        cmd = [SIPP, "-sf", str(scenario), "-i", self.addr, "-bind_local", "-p", str(self.port)]
        cmd += ["-nostdin", "-trace_logs", "-log_file", str(self.log_path)]
        cmd += ["-trace_err", "-error_file", str(self.err_path)]
        cmd += ["-key", "code", str(self.code or 200)]
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            cwd=self.folder,
            start_new_session=True,
        )
        time.sleep(0.2)  # sipp binds its socket at once; give it the moment
        if self.proc.poll() is not None:
            raise RuntimeError(f"sipp UAS exited ({self.proc.returncode}): {_read(self.err_path)}")
        return self

    def received(self) -> list[str]:
        """R-URI users of the INVITEs received so far, in order."""
        return [m.split()[1] for m in self.invites()]

    def callers(self) -> list[str]:
        """From users (calling numbers) of the INVITEs received so far, in order."""
        return [m.split(" FROM ", 1)[1].split()[0] for m in self.invites()]

    def invites(self) -> list[str]:
        return [line for line in _read(self.log_path).splitlines() if line.startswith("INVITE ")]

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None

    @property
    def destination(self):
        from fusion_siptrunk.sbc import Destination

        return Destination(host=self.addr, port=self.port)

    def __enter__(self) -> Uas:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
