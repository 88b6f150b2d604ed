# Berth CGI demo: a shell script. The header block, a blank line, the body.
printf 'Content-Type: text/plain\n\n'
printf 'Hello from /bin/sh, pid %s, at %s.\n' "$$" "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
printf 'You asked for %s with %s.\n' "$REQUEST_URI" "$REQUEST_METHOD"
