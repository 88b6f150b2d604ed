"""Berth CGI demo: echoes the fields of a GET query and of a POSTed form."""
import html
import os
import sys
from urllib.parse import parse_qsl

method = os.environ.get("REQUEST_METHOD", "GET")
query = parse_qsl(os.environ.get("QUERY_STRING", ""), keep_blank_values=True)
posted = []
if method == "POST":
    length = int(os.environ.get("CONTENT_LENGTH") or 0)
    body = sys.stdin.buffer.read(length).decode("utf-8", "replace")
    if os.environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        posted = parse_qsl(body, keep_blank_values=True)
    else:
        posted = [("(body)", body)]


def rows(fields):
    if not fields:
        return "<p><em>none</em></p>"
    cells = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in fields
    )
    return f"<table>{cells}</table>"


page = f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Berth CGI form</title>
<link rel="stylesheet" href="/style.css"></head>
<body><main>
<h1>A CGI form</h1>
<p>This page is printed by <code>{html.escape(os.environ.get("SCRIPT_NAME", ""))}</code>,
a Python script Berth runs for each request ({html.escape(method)}).</p>
<h2>GET fields</h2>{rows(query)}
<h2>POST fields</h2>{rows(posted)}
<form method="get" action="form.py"><p>
<input name="name" value="sailor"> <button>Send with GET</button></p></form>
<form method="post" action="form.py"><p>
<input name="message" value="ahoy"> <button>Send with POST</button></p></form>
<p><a href="/">Back home</a></p>
</main></body></html>
"""
sys.stdout.write("Content-Type: text/html; charset=utf-8\r\n\r\n" + page)
