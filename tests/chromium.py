"""Headless Chromium driven over the DevTools protocol on a pipe (stdlib only, no websocket).

``--remote-debugging-pipe`` makes Chromium read protocol commands from file descriptor 3
and write answers and events to descriptor 4, each message JSON ended by a NUL byte. The
test opens a page, records every console message, uncaught exception, log entry (a
Content-Security-Policy violation is one) and request, evaluates JavaScript in the page
and takes screenshots.

:func:`find_chromium` returns Debian's ``chromium`` and installs it with apt-get when it is
missing and the tests run as root (as ``tests/cluster/slurm_local.sh`` installs slurm-wlm);
otherwise it returns the reason to skip.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

INSTALL_TIMEOUT_S = 600


def find_chromium() -> tuple[str | None, str]:
    """``(path, "")`` of the chromium binary, or ``(None, reason)`` when it cannot be had."""
    found = shutil.which("chromium")
    if found:
        return found, ""
    if os.geteuid() != 0:
        return None, f"chromium is not installed and this is not root (uid {os.geteuid()}): apt-get install chromium"
    if shutil.which("apt-get") is None:
        return None, "chromium is not installed and apt-get is missing (not a Debian-like system)"
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
    for command in (install, ["apt-get", "update"], install):
        done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
        if done.returncode == 0 and command is install and shutil.which("chromium"):
            return shutil.which("chromium"), ""
    last = (done.stderr or done.stdout).strip().splitlines()
    return None, f"cannot install chromium with apt-get: {last[-1] if last else 'no output'}"


class Browser:
    """One headless Chromium with one page; use as a context manager.

    Example::

        with Browser(path, tmp_path) as browser:
            browser.open(Path("site/index.html"))
            browser.evaluate("document.title")
    """

    def __init__(self, executable: str, profile: Path, width: int = 1280, height: int = 1400) -> None:
        to_browser, self._write = os.pipe()
        self._read, from_browser = os.pipe()

        def attach_pipes() -> None:  # in the child: the protocol's descriptors 3 and 4
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser, from_browser)]  # clear of 3 and 4
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self.process = subprocess.Popen(
            [
                executable,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--remote-debugging-pipe",
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                "--no-first-run",
                "--no-default-browser-check",
                "about:blank",
            ],
            preexec_fn=attach_pipes,
            pass_fds=(3, 4),  # kept open by the close that follows attach_pipes
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.call(f"{domain}.enable", session=True)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=True,
        )

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.call("Browser.close")
        except (OSError, RuntimeError):
            pass
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._write)
        os.close(self._read)

    def call(self, method: str, params: dict[str, Any] | None = None, session: bool = False) -> dict[str, Any]:
        """Send a command and return its result; events that arrive meanwhile are kept."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._receive(deadline=time.monotonic() + 60)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer["result"]
            self.events.append(answer)

    def wait_for(self, method: str, timeout: float = 60) -> dict[str, Any]:
        """The first event ``method`` (kept or arriving within ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event.get("method") == method:
                    return event
            self.events.append(self._receive(deadline))

    def open(self, page: Path) -> None:
        """Navigate to ``page`` and wait until it has loaded."""
        self.events = [event for event in self.events if event.get("method") != "Page.loadEventFired"]
        self.call("Page.navigate", {"url": page.resolve().as_uri()}, session=True)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (RuntimeError if it throws)."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        """Save a PNG of the page's viewport to ``path``."""
        data = self.call("Page.captureScreenshot", {"format": "png"}, session=True)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def problems(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions and error log entries so far."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(f"exception: {params['exceptionDetails']}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning", "assert"):
                found.append(f"console.{params['type']}: {params.get('args')}")
            elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
                found.append(f"log {params['entry']['level']}: {params['entry']['text']}")
        return found

    def requests(self) -> list[str]:
        """URLs of every request the page made so far (the navigations included)."""
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._read], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError("no answer from chromium")
            chunk = os.read(self._read, 1 << 16)
            if not chunk:
                raise RuntimeError(f"chromium closed the protocol pipe (exit status {self.process.poll()})")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)
