"""Berth CGI demo: a page that remembers this browser through its session.

Berth gives the script its session as BERTH_SESSION_* variables (the
location says `session on`) and stores what the script sends back in
X-Berth-Session headers.
"""
import html
import os
import sys

visits = int(os.environ.get("BERTH_SESSION_VAR_visits", "0") or 0) + 1
sid = os.environ.get("BERTH_SESSION_ID", "")
page = f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Berth CGI session</title>
<link rel="stylesheet" href="/style.css"></head>
<body><main>
<h1>A CGI page with a session</h1>
<p>This script has seen this browser <strong>{visits}</strong> time(s).
Reload to count; the count lives in Berth's session store, not in the script.</p>
<p>Session id (from <code>BERTH_SESSION_ID</code>): <code>{html.escape(sid[:8])}...</code>,
requests in this session: {html.escape(os.environ.get("BERTH_SESSION_REQUESTS", "?"))}.</p>
<p><a href="/">Back home</a></p>
</main></body></html>
"""
sys.stdout.write(
    "Content-Type: text/html; charset=utf-8\n"
    f"X-Berth-Session: visits={visits}\n"
    "Cache-Control: no-store\n\n" + page
)
