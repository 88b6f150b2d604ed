#!/usr/bin/env python3
"""Drives headless Chromium through the demo's write-side pages, as a person
would: the upload form sends two files, the stored-files page lists them and
its Delete button removes one, the session page counts visits and its button
ends the session. Speaks the DevTools protocol over a small stdlib
WebSocket client (no packages). Exits non-zero on the first difference.

Usage: scripts/demo-browser-check.py [BASE_URL] [SCREENSHOT_DIR]
  BASE_URL defaults to http://127.0.0.1:8080 (berth started with the
  repository's berth.conf from the repository's root; it writes into
  www/uploads, and removes what it uploaded). Needs `chromium`.
"""
import base64, json, os, shutil, socket, struct, subprocess, sys, tempfile, time, urllib.request

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
SHOTS = sys.argv[2] if len(sys.argv) > 2 else None
STORE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "www", "uploads")
PORT = 9333


def check(what, got, want):
    if got != want:
        sys.exit(f"demo-browser-check: {what}: got {got!r}, want {want!r}")
    print(f"ok: {what}: {got!r}")


class Tab:
    """One page target over a WebSocket (RFC 6455: masked text frames out)."""

    def __init__(self, ws_url):
        host, path = ws_url[len("ws://"):].split("/", 1)
        name, port = host.rsplit(":", 1)
        self.sock = socket.create_connection((name, int(port)))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET /{path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.sock.recv(4096)
        self.buf = self.buf.split(b"\r\n\r\n", 1)[1]
        self.next_id = 0

    def _send(self, obj):
        data = json.dumps(obj).encode()
        mask = os.urandom(4)
        n = len(data)
        if n < 126:
            head = bytes([0x81, 0x80 | n])
        elif n < 65536:
            head = bytes([0x81, 0x80 | 126]) + struct.pack(">H", n)
        else:
            head = bytes([0x81, 0x80 | 127]) + struct.pack(">Q", n)
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                sys.exit("demo-browser-check: the browser closed the connection")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _recv(self):
        _, b1 = self._exact(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", self._exact(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", self._exact(8))[0]
        return json.loads(self._exact(n))

    def call(self, method, **params):
        self.next_id += 1
        self._send({"id": self.next_id, "method": method, "params": params})
        while True:
            m = self._recv()
            if m.get("id") == self.next_id:
                if "error" in m:
                    sys.exit(f"demo-browser-check: {method}: {m['error']}")
                return m.get("result", {})

    def js(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, awaitPromise=True, returnByValue=True)
        return r["result"].get("value")

    def settle(self):
        time.sleep(0.3)
        for _ in range(100):
            if self.js("document.readyState") == "complete":
                time.sleep(0.3)
                return
            time.sleep(0.1)

    def goto(self, url):
        self.call("Page.navigate", url=url)
        self.settle()

    def shot(self, name):
        if SHOTS:
            data = self.call("Page.captureScreenshot", format="png")["data"]
            with open(os.path.join(SHOTS, name), "wb") as f:
                f.write(base64.b64decode(data))


def main():
    work = tempfile.mkdtemp(prefix="berth-browser-")
    files = {"browser-check-a.txt": b"first file\n", "browser-check-b.bin": bytes(range(256)) * 20}
    for name, data in files.items():
        with open(os.path.join(work, name), "wb") as f:
            f.write(data)
    chrome = subprocess.Popen(
        ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,900",
         f"--remote-debugging-port={PORT}", f"--user-data-dir={work}/profile", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        targets = None
        for _ in range(100):
            try:
                targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{PORT}/json"))
                break
            except OSError:
                time.sleep(0.1)
        if not targets:
            sys.exit("demo-browser-check: chromium did not start")
        tab = Tab([t for t in targets if t["type"] == "page"][0]["webSocketDebuggerUrl"])
        for domain in ("Page", "Runtime", "DOM"):
            tab.call(f"{domain}.enable")

        # The upload form, two files at once.
        tab.goto(BASE + "/upload.html")
        root = tab.call("DOM.getDocument")["root"]["nodeId"]
        node = tab.call("DOM.querySelector", nodeId=root, selector="#files")["nodeId"]
        tab.call("DOM.setFileInputFiles", nodeId=node,
                 files=[os.path.join(work, n) for n in files])
        tab.js("document.querySelector('form').submit()")
        tab.settle()
        text = tab.js("document.body.innerText")
        check("page after the upload", text.splitlines()[0], "Stored")
        for name, data in files.items():
            with open(os.path.join(STORE, name), "rb") as f:
                check(f"{name} stored byte for byte", f.read() == data, True)

        # The list, and the Delete button of the first file.
        tab.goto(BASE + "/stored.html")
        tab.shot("stored.png")
        listed = tab.js("[...document.querySelectorAll('#files a')].map(a => a.textContent)")
        for name in files:
            check(f"{name} listed", name in listed, True)
        first = "browser-check-a.txt"
        tab.js(f"[...document.querySelectorAll('#files tr')].find(r => r.textContent.includes('{first}'))"
               ".querySelector('button').click()")
        time.sleep(1)
        check("message after Delete", tab.js("document.getElementById('message').textContent"),
              f"Deleted {first}.")
        check(f"{first} removed from the store", os.path.exists(os.path.join(STORE, first)), False)
        listed = tab.js("[...document.querySelectorAll('#files a')].map(a => a.textContent)")
        check(f"{first} gone from the list", first in listed, False)

        # The session page: visits counted, then the session ended.
        for want in ("1", "2", "3"):
            tab.goto(BASE + "/session")
            check("session visits", tab.js("document.getElementById('visits').textContent"), want)
        tab.shot("session.png")
        tab.js("document.querySelector('form').submit()")
        tab.settle()
        check("visits after ending the session",
              tab.js("document.getElementById('visits').textContent"), "1")
    finally:
        chrome.terminate()
        chrome.wait()
        shutil.rmtree(work, ignore_errors=True)
        for name in files:
            try:
                os.remove(os.path.join(STORE, name))
            except FileNotFoundError:
                pass
    print("demo-browser-check: every step passed")


main()
