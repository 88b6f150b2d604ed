"""Berth CGI demo: the environment a CGI script receives (RFC 3875)."""
import os
import sys

lines = [f"{name}={value}" for name, value in sorted(os.environ.items())]
sys.stdout.write("Content-Type: text/plain; charset=utf-8\n\n" + "\n".join(lines) + "\n")
