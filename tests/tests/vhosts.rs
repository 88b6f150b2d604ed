//! Virtual hosts and listeners: servers told apart by Host on one port, the
//! default server, and several ports served at once.
#![forbid(unsafe_code)]

use tests::{Berth, TempDir};

const TWO_HOSTS: &str = "\
server {
    listen 127.0.0.1:{port0};
    server_name alpha.test;
    root {dir}/alpha;
}
server {
    listen 127.0.0.1:{port0};
    server_name beta.test www.beta.test;
    root {dir}/beta;
}
";

const DEFAULT_SECOND: &str = "\
server {
    listen 127.0.0.1:{port0};
    server_name alpha.test;
    root {dir}/alpha;
}
server {
    listen 127.0.0.1:{port0} default_server;
    server_name beta.test;
    root {dir}/beta;
}
";

const SEVERAL_PORTS: &str = "\
server {
    listen 127.0.0.1:{port0};
    listen 127.0.0.1:{port1};
    server_name alpha.test;
    root {dir}/alpha;
}
server {
    listen 127.0.0.1:{port2};
    server_name beta.test;
    root {dir}/beta;
}
";

const IPV6_AND_IPV4: &str = "\
server {
    listen [::1]:{port0};
    listen 127.0.0.1:{port1};
    root {dir}/alpha;
}
";

fn two_sites(dir: &TempDir) {
    dir.file("alpha/index.html", "alpha home\n").file("beta/index.html", "beta home\n");
}

fn get_host(berth: &Berth, port: usize, host: &str) -> String {
    let mut c = berth.connect_to(port);
    c.send(format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n"));
    c.read_response().assert_status(200).text()
}

tests::backend_tests! {
    /// Two servers on one port are told apart by Host.
    fn two_servers_on_one_port_by_host(backend) {
        let berth = Berth::start(backend, TWO_HOSTS, two_sites);
        assert_eq!(get_host(&berth, 0, "alpha.test"), "alpha home\n");
        assert_eq!(get_host(&berth, 0, "beta.test"), "beta home\n");
        assert_eq!(get_host(&berth, 0, "www.beta.test"), "beta home\n");
    }

    /// Host matching ignores case and the port.
    fn host_match_ignores_case_and_port(backend) {
        let berth = Berth::start(backend, TWO_HOSTS, two_sites);
        let port = berth.port(0);
        assert_eq!(get_host(&berth, 0, "BETA.Test"), "beta home\n");
        assert_eq!(get_host(&berth, 0, &format!("beta.test:{port}")), "beta home\n");
    }

    /// An unknown Host goes to the first server listed for the address.
    fn unknown_host_goes_to_first_server(backend) {
        let berth = Berth::start(backend, TWO_HOSTS, two_sites);
        assert_eq!(get_host(&berth, 0, "gamma.test"), "alpha home\n");
        assert_eq!(get_host(&berth, 0, "127.0.0.1"), "alpha home\n");
    }

    /// HTTP/1.0 without Host goes to the default server too.
    fn http10_without_host_goes_to_first_server(backend) {
        let berth = Berth::start(backend, TWO_HOSTS, two_sites);
        let mut c = berth.connect();
        c.send("GET / HTTP/1.0\r\n\r\n");
        assert_eq!(c.read_response().assert_status(200).text(), "alpha home\n");
    }

    /// `default_server` wins over file order for unknown hosts.
    fn default_server_flag_wins(backend) {
        let berth = Berth::start(backend, DEFAULT_SECOND, two_sites);
        assert_eq!(get_host(&berth, 0, "gamma.test"), "beta home\n");
        assert_eq!(get_host(&berth, 0, "alpha.test"), "alpha home\n");
    }

    /// Several ports at once, each routed to its own server.
    fn several_ports_at_once(backend) {
        let berth = Berth::start(backend, SEVERAL_PORTS, two_sites);
        assert_eq!(get_host(&berth, 0, "x"), "alpha home\n");
        assert_eq!(get_host(&berth, 1, "x"), "alpha home\n");
        assert_eq!(get_host(&berth, 2, "x"), "beta home\n");
        // Host does not move a request to a server of another address.
        assert_eq!(get_host(&berth, 2, "alpha.test"), "beta home\n");
        // Connections on all ports open at the same time are all served.
        let mut conns: Vec<_> = (0..3).map(|i| berth.connect_to(i)).collect();
        for c in &mut conns {
            c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        }
        for c in &mut conns {
            c.read_response().assert_status(200);
        }
    }

    /// An IPv6 listener and an IPv4 one in the same server.
    fn ipv6_and_ipv4_listeners(backend) {
        let berth = Berth::start(backend, IPV6_AND_IPV4, two_sites);
        assert!(berth.addr(0).is_ipv6());
        assert_eq!(get_host(&berth, 0, "[::1]"), "alpha home\n");
        assert_eq!(get_host(&berth, 1, "127.0.0.1"), "alpha home\n");
    }
}
