# Shared by bench/run.sh and bench/ceiling.sh (sourced): the three servers'
# equivalent configurations and small helpers.

# A free TCP port on 127.0.0.1.
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# User + system CPU ticks of process $1 so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# The median of the arguments (the lower one of an even count's middle two).
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END { print v[int((NR + 1) / 2)] }'; }

# write_configs WORK BERTH_PORT NGINX_PORT LIGHTTPD_PORT DEFERRED(0|1):
# WORK/berth.conf, nginx.conf and lighttpd.conf serving WORK/www (logs in
# WORK/logs): access logs off, sendfile on, keep-alive with no request
# limit, /cgi-bin/*.sh as CGI (Berth, lighttpd), deferred accept when asked.
write_configs() {
  local work=$1 pb=$2 pn=$3 pl=$4 deferred=$5 defer=""
  [ "$deferred" = 1 ] && defer=" deferred"
  cat > "$work/berth.conf" <<CONF
max_connections 20000;
access_log off;
error_log $work/logs/berth-error.log;
server {
    listen 127.0.0.1:$pb$defer;
    root $work/www;
    location /cgi-bin { cgi .sh /bin/sh; }
}
CONF
  cat > "$work/nginx.conf" <<CONF
worker_processes 1;
daemon off;
master_process off;
pid $work/nginx.pid;
error_log $work/logs/nginx-error.log;
worker_rlimit_nofile 20000;
events { worker_connections 20000; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    client_body_temp_path $work/logs;
    proxy_temp_path $work/logs;
    fastcgi_temp_path $work/logs;
    uwsgi_temp_path $work/logs;
    scgi_temp_path $work/logs;
    server { listen 127.0.0.1:$pn$defer; root $work/www; }
}
CONF
  cat > "$work/lighttpd.conf" <<CONF
server.modules = ("mod_cgi")
\$HTTP["url"] =~ "^/cgi-bin/" { cgi.assign = (".sh" => "/bin/sh") }
server.document-root = "$work/www"
server.bind = "127.0.0.1"
server.port = $pl
server.defer-accept = $deferred
server.errorlog = "$work/logs/lighttpd-error.log"
server.max-keep-alive-requests = 1000000
server.max-keep-alive-idle = 75
server.network-backend = "sendfile"
server.max-connections = 20000
server.max-fds = 40000
CONF
}
