"""A headless Chromium driven through the DevTools protocol over a pipe
(--remote-debugging-pipe: JSON messages separated by NUL bytes on file
descriptors 3 and 4), with the Python standard library only.

    with Browser(chromium_path, profile_dir) as b:
        page = b.open("file:///.../report.html", width=1360, height=900)
        page.evaluate("document.title")
        page.screenshot("out.png", clip_top=0)

A page records what a reader would see go wrong: console errors, uncaught
exceptions, log entries of level error (a broken image, a refused
resource), and every request to anything but file: and data: URLs.
"""
import base64
import json
import os
import select
import subprocess
import time


class CDPError(RuntimeError):
    pass


class Browser:
    def __init__(self, chromium, profile, timeout=60):
        self.timeout = timeout
        r3, w3 = os.pipe()  # Chromium reads commands from its fd 3
        r4, w4 = os.pipe()  # and writes replies and events to its fd 4

        def child_fds():
            os.dup2(r3, 3)
            os.dup2(w4, 4)

        args = [chromium, "--headless=new", "--remote-debugging-pipe", "--no-sandbox",
                "--disable-gpu", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking",
                "--disable-sync", "--disable-component-update", "--hide-scrollbars",
                "--font-render-hinting=none", "--user-data-dir=" + profile, "about:blank"]
        self.proc = subprocess.Popen(args, pass_fds=(3, 4), preexec_fn=child_fds,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        os.close(r3)
        os.close(w4)
        self.out = os.fdopen(w3, "wb")
        self.inp = r4
        self.buf = b""
        self.next_id = 0
        self.events = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.proc.poll() is None:
            try:
                self.send("Browser.close")
            except OSError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        try:
            self.out.close()
        except OSError:
            pass
        os.close(self.inp)

    def send(self, method, params=None, session=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.out.write(json.dumps(msg).encode() + b"\0")
        self.out.flush()
        return self.next_id

    def receive(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CDPError("Chromium did not answer within %d s" % self.timeout)
            ready, _, _ = select.select([self.inp], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.inp, 1 << 20)
            if not chunk:
                raise CDPError("Chromium closed the pipe (it crashed or could not start)")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, session=None):
        want = self.send(method, params, session)
        deadline = time.monotonic() + self.timeout
        while True:
            msg = self.receive(deadline)
            if msg.get("id") == want:
                if "error" in msg:
                    raise CDPError("%s: %s" % (method, msg["error"].get("message")))
                return msg.get("result", {})
            self.events.append(msg)

    def wait_event(self, method, session, deadline):
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == method and e.get("sessionId") == session:
                    return self.events.pop(i)
            self.events.append(self.receive(deadline))

    def open(self, url, width=1360, height=900):
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, target, session)
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(domain + ".enable", session=session)
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                  session=session)
        page.navigate(url)
        return page


class Page:
    def __init__(self, browser, target, session):
        self.b = browser
        self.target = target
        self.session = session
        self.problems = []  # console errors, exceptions, error log entries
        self.requests = []  # every URL the page asked for

    def _collect(self):
        keep = []
        for e in self.b.events:
            if e.get("sessionId") != self.session:
                keep.append(e)
                continue
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
                self.problems.append("console.%s: %s" % (p["type"], text))
            elif m == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                self.problems.append("exception: %s" % d.get("exception", {}).get("description", d.get("text")))
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                en = p["entry"]
                self.problems.append("log error (%s): %s %s" % (en.get("source"), en.get("text"), en.get("url", "")))
            elif m == "Network.requestWillBeSent":
                self.requests.append(p.get("request", {}).get("url", ""))
            elif m == "Network.loadingFailed":
                self.problems.append("failed to load: %s" % p.get("errorText"))
            else:
                keep.append(e)
        self.b.events = keep

    def navigate(self, url):
        self.b.call("Page.navigate", {"url": url}, session=self.session)
        deadline = time.monotonic() + self.b.timeout
        self.b.wait_event("Page.loadEventFired", self.session, deadline)
        self._collect()

    def evaluate(self, expression):
        r = self.b.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                             "awaitPromise": True}, session=self.session)
        self._collect()
        if "exceptionDetails" in r:
            raise CDPError("evaluating %s: %s" % (expression[:80], r["exceptionDetails"].get("text")))
        return r["result"].get("value")

    def screenshot(self, path, top=0, width=1360, height=900):
        r = self.b.call("Page.captureScreenshot",
                        {"format": "png", "captureBeyondViewport": True,
                         "clip": {"x": 0, "y": top, "width": width, "height": height, "scale": 1}},
                        session=self.session)
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))
        self._collect()

    def close(self):
        self.b.call("Target.closeTarget", {"targetId": self.target})
