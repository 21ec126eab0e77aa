"""What the well-known test images answer (netlab/runtime/replies.py): which image and argv are
served, the ports they listen on, and each reply byte for byte as the image's source writes it."""

import email.utils
import json
import re
from dataclasses import replace

import pytest

from netlab.runtime.replies import (Behaviour, Identity, Request, behaviour_of, http_date, http_reply, startup_log,
                                    tcp_greeting, udp_reply)

WHO = Identity(pod="web-7d9f-x2k", namespace="default", pod_ip="10.244.0.7", node="node-a", container="app")
NOW = 1700000000.25          # 2023-11-14 22:13:20.25 UTC
AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.39"


def get(target="/", method="GET", headers=None, body=b"", version="HTTP/1.1",
        client="10.244.1.5:43210", server="10.244.0.7:8080"):
    if headers is None:
        headers = (("Host", "10.244.0.7:8080"), ("User-Agent", "curl/8.5.0"), ("Accept", "*/*"))
    return Request(method, target, version, tuple(headers), body, client, server)


def reply(image, argv=None, env=None, request=None, **kw):
    b = behaviour_of(image, argv, env or {})
    assert b is not None and b.exits is None, b
    return http_reply(b, request or get(), WHO, now=NOW, **kw)


def header(response, name):
    return [v for k, v in response.headers if k.lower() == name.lower()]


# --- which images, which argv ----------------------------------------------------------------


@pytest.mark.parametrize("image, served", [
    ("registry.k8s.io/e2e-test-images/agnhost:2.39", "agnhost netexec"),
    ("k8s.gcr.io/e2e-test-images/agnhost:2.21", "agnhost netexec"),
    ("gcr.io/kubernetes-e2e-test-images/agnhost:2.8", "agnhost netexec"),
    ("registry.k8s.io/e2e-test-images/agnhost@sha256:" + "a" * 64, "agnhost netexec"),
    ("registry.k8s.io/e2e-test-images/agnhost:2.39@sha256:" + "b" * 64, "agnhost netexec"),
    ("hashicorp/http-echo", "hashicorp/http-echo"),
    ("docker.io/hashicorp/http-echo:latest", "hashicorp/http-echo"),
    ("index.docker.io/hashicorp/http-echo:1.0", "hashicorp/http-echo"),
    ("k8s.gcr.io/echoserver:1.4", "echoserver"),
    ("registry.k8s.io/echoserver:1.10", "echoserver"),
    ("gcr.io/google_containers/echoserver:1.4", "echoserver"),
    ("registry.k8s.io/e2e-test-images/echoserver:2.5", "echoserver"),
    ("traefik/whoami", "traefik/whoami"),
    ("containous/whoami:v1.5.0", "traefik/whoami"),
    ("nginxdemos/hello:plain-text", "nginxdemos/hello"),
    ("gcr.io/google-samples/hello-app:2.0", "hello-app"),
    ("us-docker.pkg.dev/google-samples/containers/gke/hello-app:1.0", "hello-app"),
])
def test_well_known_images_are_recognised_with_any_registry_tag_or_digest(image, served):
    argv = ["netexec"] if "agnhost" in image else None
    assert behaviour_of(image, argv, {}).image == served


@pytest.mark.parametrize("image", [
    "nginx:1.27", "busybox", "echoserver", "docker.io/library/echoserver:1.4", "example.com/agnhost:2.39",
    "hashicorp/consul", "traefik/traefik", "python:3.12", "",
])
def test_other_images_are_not_served(image):
    assert behaviour_of(image, None, {}) is None


@pytest.mark.parametrize("argv", [
    ["liveness"], ["dns-server-list"], ["/agnhost", "connect", "x:80"], ["/bin/sh", "-c", "sleep 3600"],
    ["netexec", "--help"], ["netexec", "--tls-cert-file=/localhost.crt"],
])
def test_agnhost_subcommands_and_options_netlab_does_not_serve_give_none(argv):
    assert behaviour_of(AGNHOST, argv, {}) is None


def test_agnhost_without_argv_runs_its_cmd_pause_which_listens_on_nothing():
    b = behaviour_of(AGNHOST, None, {})
    assert (b.image, b.tcp_ports, b.udp_ports) == ("agnhost pause", (), ())
    assert startup_log(b, NOW) == ["Paused"]


def test_commands_that_replace_an_image_program_are_run_as_programs():
    assert behaviour_of("hashicorp/http-echo", ["sh", "-c", "echo hi"], {}) is None
    assert behaviour_of("traefik/whoami", ["/bin/sleep", "10"], {}) is None
    assert behaviour_of("k8s.gcr.io/echoserver:1.10", ["/bin/sh"], {}) is None
    assert behaviour_of("nginxdemos/hello", ["python3", "-m", "http.server"], {}) is None
    assert behaviour_of("gcr.io/google-samples/hello-app:1.0", ["sleep", "1"], {}) is None


# --- flags and ports -------------------------------------------------------------------------


@pytest.mark.parametrize("argv, tcp, udp", [
    (["netexec"], (8080,), (8081,)),
    (["netexec", "--http-port=8000", "--udp-port=9000"], (8000,), (9000,)),
    (["netexec", "--http-port", "8000", "--udp-port", "9000"], (8000,), (9000,)),
    (["/agnhost", "netexec", "--http-port", "80"], (80,), (8081,)),
    (["agnhost", "netexec", "--udp-port=-1"], (8080,), ()),
    (["netexec", "--v=2", "--http-port=0x50"], (80,), (8081,)),
    (["--v", "4", "netexec", "--http-port=8443"], (8443,), (8081,)),
])
def test_agnhost_netexec_reads_both_flag_spellings_and_defaults(argv, tcp, udp):
    b = behaviour_of(AGNHOST, argv, {})
    assert (b.image, b.tcp_ports, b.udp_ports) == ("agnhost netexec", tcp, udp)


def test_agnhost_netexec_sctp_port_is_listed_as_not_served():
    b = behaviour_of(AGNHOST, ["netexec", "--sctp-port=9999"], {})
    assert b.unserved == ("9999/SCTP",)


@pytest.mark.parametrize("argv, message", [
    (["netexec", "--foo"], "Error: unknown flag: --foo"),
    (["netexec", "--http-port"], "Error: flag needs an argument: --http-port"),
    (["netexec", "--http-port=abc"],
     'Error: invalid argument "abc" for "--http-port" flag: strconv.ParseInt: parsing "abc": invalid syntax'),
    (["netexec", "-port=80"], "Error: unknown shorthand flag: 'p' in -port=80"),
    (["netexec", "extra"], "Error: accepts at most 0 arg(s), received 1"),
])
def test_agnhost_flag_errors_exit_as_cobra_prints_them_with_status_0(argv, message):
    b = behaviour_of(AGNHOST, argv, {})
    assert (b.exits, b.exit_code, b.tcp_ports) == (message, 0, ())    # agnhost.go ignores Execute()'s error


@pytest.mark.parametrize("argv, tcp, udp, raw", [
    (["serve-hostname"], (9376,), (), False),
    (["serve-hostname", "--port", "9000"], (9000,), (), False),
    (["serve-hostname", "--http=false", "--udp"], (), (9376,), False),
    (["serve-hostname", "--http=false", "--tcp", "--udp", "--port=53"], (53,), (53,), True),
])
def test_agnhost_serve_hostname_serves_http_by_default_and_raw_tcp_or_udp_without_it(argv, tcp, udp, raw):
    b = behaviour_of(AGNHOST, argv, {})
    assert (b.tcp_ports, b.udp_ports, b.raw_tcp) == (tcp, udp, raw)


def test_agnhost_serve_hostname_udp_with_http_still_on_exits_as_the_image_does():
    b = behaviour_of(AGNHOST, ["serve-hostname", "--udp"], {})
    assert (b.exits, b.exit_code) == ("Can't server TCP/UDP mode and HTTP mode at the same time", 1)
    assert startup_log(b, NOW) == ["2023/11/14 22:13:20 Can't server TCP/UDP mode and HTTP mode at the same time"]


@pytest.mark.parametrize("argv, port, bind, text", [
    (["-text=hello"], 5678, "", "hello"),
    (["-text", "hello world"], 5678, "", "hello world"),
    (["--text=hi", "--listen=:8080"], 8080, "", "hi"),
    (["/http-echo", "-listen", "127.0.0.1:9000", "-text=x"], 9000, "127.0.0.1", "x"),
    (None, 5678, "", "hello-world"),
])
def test_http_echo_reads_go_flags_and_defaults_to_its_port_and_image_text(argv, port, bind, text):
    b = behaviour_of("hashicorp/http-echo", argv, {})
    assert (b.tcp_ports, b.bind, b.text) == ((port,), bind, text)


def test_http_echo_takes_echo_text_from_the_environment_unless_text_is_given():
    assert behaviour_of("hashicorp/http-echo", None, {"ECHO_TEXT": "from env"}).text == "from env"
    assert behaviour_of("hashicorp/http-echo", ["-text=flag"], {"ECHO_TEXT": "from env"}).text == "flag"


@pytest.mark.parametrize("image, argv, message, code", [
    ("hashicorp/http-echo:0.2.3", None, "Missing -text option!", 127),
    ("hashicorp/http-echo:1.0", ["-text="], "Missing -text option or ECHO_TEXT env var!", 127),   # ECHO_TEXT=""
    ("hashicorp/http-echo", ["-text=a", "b"], "Too many arguments!", 127),
    ("hashicorp/http-echo", ["-foo"], "flag provided but not defined: -foo\nUsage of /http-echo:", 2),
    ("hashicorp/http-echo", ["-status-code=x"], 'invalid value "x" for flag -status-code: parse error', 2),
    ("hashicorp/http-echo:0.2.3", ["-text=a", "-status-code=404"],
     "flag provided but not defined: -status-code\nUsage of /http-echo:", 2),
    ("hashicorp/http-echo", ["-text=a", "-listen=5678"],
     "[ERR] server exited with: listen tcp: address 5678: missing port in address", 1),
])
def test_http_echo_exits_where_it_would_refuse_to_start(image, argv, message, code):
    b = behaviour_of(image, argv, {"ECHO_TEXT": ""})
    assert (b.exits, b.exit_code) == (message, code)


@pytest.mark.parametrize("argv, env, port, name", [
    (None, {}, 80, ""),
    (["--port", "8000"], {}, 8000, ""),
    (["-port=8001", "-name=iamfoo"], {}, 8001, "iamfoo"),
    (None, {"WHOAMI_PORT_NUMBER": "2001", "WHOAMI_NAME": "bar"}, 2001, "bar"),
    (["--port=3000"], {"WHOAMI_PORT_NUMBER": "2001"}, 3000, ""),
    (None, {"WHOAMI_PORT_NUMBER": ""}, 80, ""),
])
def test_whoami_port_and_name_come_from_flags_then_environment_then_80(argv, env, port, name):
    b = behaviour_of("traefik/whoami", argv, env)
    assert (b.tcp_ports, b.name) == ((port,), name)


def test_whoami_with_a_certificate_and_key_serves_tls_which_netlab_does_not():
    assert behaviour_of("traefik/whoami", ["--cert", "/c.pem", "--key", "/k.pem"], {}) is None


@pytest.mark.parametrize("image, port, plain", [
    ("nginxdemos/hello", 80, False), ("nginxdemos/hello:plain-text", 80, True),
    ("nginxdemos/nginx-hello:plain-text", 8080, True),
])
def test_nginx_hello_listens_on_its_configured_port(image, port, plain):
    b = behaviour_of(image, None, {})
    assert (b.tcp_ports, b.plain_text) == ((port,), plain)


@pytest.mark.parametrize("env, port", [({}, 8080), ({"PORT": "9090"}, 9090), ({"PORT": ""}, 8080)])
def test_hello_app_listens_on_port_from_env_default_8080(env, port):
    assert behaviour_of("gcr.io/google-samples/hello-app:1.0", None, env).tcp_ports == (port,)


def test_echoserver_listens_on_8080_and_lists_its_tls_port_as_not_served():
    b = behaviour_of("registry.k8s.io/echoserver:1.10", None, {})
    assert (b.tcp_ports, b.unserved) == ((8080,), ("8443/TCP (TLS)",))
    assert behaviour_of("k8s.gcr.io/echoserver:1.4", None, {}).unserved == ()
    assert behaviour_of("k8s.gcr.io/echoserver:1.10", ["/usr/local/bin/run.sh", "ignored"], {}) is not None


# --- agnhost netexec HTTP --------------------------------------------------------------------


def netexec(target, argv=("netexec",), run_shell=None, dial=None, **request):
    return reply(AGNHOST, list(argv), request=get(target, **request), run_shell=run_shell, dial=dial)


def test_agnhost_netexec_hostname_answers_the_pod_name():
    r = netexec("/hostname")
    assert (r.status, r.body, header(r, "Content-Type")) == (200, b"web-7d9f-x2k", ["text/plain; charset=utf-8"])
    assert netexec("/hostName").body == b"web-7d9f-x2k"


def test_agnhost_netexec_root_and_any_unknown_path_answer_now_with_go_time():
    assert netexec("/").body == b"NOW: 2023-11-14 22:13:20.25 +0000 UTC"
    assert netexec("/no/such/path").body.startswith(b"NOW: ")
    b = behaviour_of(AGNHOST, ["netexec"], {})
    r = http_reply(replace(b, started=NOW - 12.5), get("/"), WHO, now=NOW)
    assert r.body == b"NOW: 2023-11-14 22:13:20.25 +0000 UTC m=+12.500000000"


def test_agnhost_netexec_clientip_answers_the_address_the_request_came_from():
    assert netexec("/clientip").body == b"10.244.1.5:43210"
    assert netexec("/clientip", client="[fd00::5]:40000").body == b"[fd00::5]:40000"


def test_agnhost_netexec_echo_returns_msg_with_the_optional_status_code():
    assert netexec("/echo?msg=hello%20there").body == b"hello there"
    assert netexec("/echo?msg=a+b").body == b"a b"
    r = netexec("/echo?msg=teapot&code=418")
    assert (r.status, r.reason, r.body) == (418, "I'm a teapot", b"teapot")
    r = netexec("/echo?msg=x&code=299")
    assert (r.status, r.reason) == (299, "status code 299")
    r = netexec("/echo?msg=gone&code=204")
    assert (r.status, r.body, header(r, "Content-Type")) == (204, b"", [])
    assert netexec("/echo?msg=x&code=abc").body == b"argument 'code' must be an integer or empty, got \"abc\"\n"
    assert netexec("/echo?code=99").no_reply                     # WriteHeader(99) panics: no reply at all


def test_agnhost_netexec_echo_reads_a_posted_form_before_the_query():
    form = (("Host", "x"), ("Content-Type", "application/x-www-form-urlencoded"))
    assert netexec("/echo?msg=query", method="POST", headers=form, body=b"msg=body").body == b"body"
    assert netexec("/echo?msg=query", method="POST", headers=(("Host", "x"),), body=b"msg=body").body == b"query"


def test_agnhost_netexec_content_type_is_sniffed_from_the_body_as_go_does():
    assert header(netexec("/echo?msg=%3Chtml%3Ehi"), "Content-Type") == ["text/html; charset=utf-8"]
    assert header(netexec("/echo?msg=%00%01"), "Content-Type") == ["application/octet-stream"]


def test_agnhost_netexec_header_returns_one_value_or_all_headers_as_json():
    assert netexec("/header?key=user-agent").body == b"curl/8.5.0"
    assert netexec("/header?key=X-Missing").body == b""
    # Go keeps the Host header out of Request.Header; keys come canonical and sorted
    headers = (("Host", "h"), ("x-forwarded-for", "1.2.3.4"), ("Accept", "*/*"), ("X-Forwarded-For", "5.6.7.8"))
    assert netexec("/header", headers=headers).body == \
        b'{"Accept":["*/*"],"X-Forwarded-For":["1.2.3.4","5.6.7.8"]}'


def test_agnhost_netexec_shell_runs_the_command_and_answers_json_output_and_error():
    ran = []

    def shell(cmd):
        ran.append(cmd)
        return "hello\n", "", 0
    r = netexec("/shell?cmd=echo%20hello", run_shell=shell)
    assert (ran, r.status, r.body, r.shell) == (["echo hello"], 200, b'{"output":"hello\\n"}', "echo hello")
    r = netexec("/shell?shellCommand=false", run_shell=lambda cmd: ("", "oops <x>\n", 1))
    assert json.loads(r.body) == {"error": "exit status 1", "output": "oops <x>\n"}
    assert b"\\u003cx\\u003e" in r.body and r.status == 200     # Go escapes <, >, &; the status stays 200
    assert json.loads(netexec("/shell?cmd=sleep", run_shell=lambda c: ("", "", -9)).body) == {"error": "signal: killed"}
    assert netexec("/shell?cmd=ls").body == b'{"error":"fork/exec /bin/sh: no such file or directory"}'


def test_agnhost_netexec_healthz_and_readyz_answer_ok_while_a_udp_server_runs():
    assert (netexec("/healthz").status, netexec("/healthz").body) == (200, b"")
    assert (netexec("/readyz").status, netexec("/readyz").body) == (200, b"ok")
    no_udp = ("netexec", "--udp-port=-1")
    assert netexec("/healthz", argv=no_udp).status == 412
    assert netexec("/readyz", argv=no_udp).status == 412


def test_agnhost_netexec_exit_exits_with_the_code_at_once_or_after_answering():
    r = netexec("/exit?code=7")
    assert (r.no_reply, r.exit_code) == (True, 7)                # timeout 0: os.Exit before answering
    r = netexec("/exit?code=3&timeout=2s")
    assert (r.no_reply, r.status, r.body, r.exit_code) == (False, 200, b"", 3)
    assert netexec("/exit").exit_code == 0
    r = netexec("/exit?timeout=soon")
    assert r.exit_code is None
    assert r.body == b"argument 'timeout' must be a valid golang duration or empty, got \"soon\"\n"
    assert netexec("/shutdown").no_reply and netexec("/shutdown").exit_code == 0


def test_agnhost_netexec_redirect_answers_go_redirect():
    r = netexec("/redirect?location=/echo%3Fmsg%3Dfoobar&code=307")
    assert (r.status, header(r, "Location")) == (307, ["/echo?msg=foobar"])
    assert r.body == b'<a href="/echo?msg=foobar">Temporary Redirect</a>.\n\n'
    r = netexec("/redirect?location=hostname")
    assert (r.status, header(r, "Location")) == (302, ["/hostname"])


def test_agnhost_netexec_dial_reports_responses_and_errors_as_json():
    calls = []

    def dial(protocol, host, port, request):
        calls.append((protocol, host, port, request))
        if protocol == "udp":
            raise OSError("reading from udp connection failed. err:'i/o timeout'")
        return "pod-b"
    r = netexec("/dial?request=hostname&host=10.244.2.3&port=8080&protocol=http&tries=2", dial=dial)
    assert (r.status, r.body) == (200, b'{"responses":["pod-b","pod-b"]}')
    r = netexec("/dial?request=hostname&host=10.244.2.3&port=8081&protocol=udp", dial=dial)
    assert r.body == b'{"errors":["reading from udp connection failed. err:\'i/o timeout\'"]}'
    assert calls[0] == ("http", "10.244.2.3", 8080, "hostname")
    r = netexec("/dial?host=a&port=1")
    assert (r.status, r.body) == (400, b"request parameter not specified. <nil>\n")
    assert netexec("/dial?request=x&protocol=icmp").status == 400


def test_agnhost_netexec_http_override_serves_every_request_as_that_path():
    argv = ("netexec", "--http-override=/hostname")
    assert netexec("/clientip", argv=argv).body == b"web-7d9f-x2k"


def test_go_servers_redirect_unclean_paths_and_demand_a_host_header():
    r = netexec("//hostname")
    assert (r.status, header(r, "Location")) == (301, ["/hostname"])
    r = netexec("/a/../hostname?x=1")
    assert header(r, "Location") == ["/hostname?x=1"]
    r = reply(AGNHOST, ["netexec"], request=get("/hostname", headers=(("Accept", "*/*"),)))
    assert (r.status, r.body) == (400, b"400 Bad Request: missing required Host header")
    r = reply(AGNHOST, ["netexec"], request=get("/hostname", headers=(), version="HTTP/1.0"))
    assert r.body == b"web-7d9f-x2k"


def test_head_gets_the_headers_of_get_and_no_body():
    r = netexec("/hostname", method="HEAD")
    assert (r.status, r.body, header(r, "Content-Length")) == (200, b"", ["12"])


# --- agnhost UDP, serve-hostname -------------------------------------------------------------


def test_agnhost_netexec_udp_answers_hostname_echo_and_clientip():
    b = behaviour_of(AGNHOST, ["netexec", "--udp-port=8081"], {})
    assert udp_reply(b, b"hostname", "10.244.1.5:5000", WHO) == b"web-7d9f-x2k"
    assert udp_reply(b, b"  HostName\n", "10.244.1.5:5000", WHO) == b"web-7d9f-x2k"
    assert udp_reply(b, b"echo Hello World\n", "10.244.1.5:5000", WHO) == b"hello world"   # sic: lowercased
    assert udp_reply(b, b"clientip", "10.244.1.5:5000", WHO) == b"10.244.1.5:5000"
    assert udp_reply(b, b"what", "10.244.1.5:5000", WHO) is None
    assert udp_reply(b, b"", "10.244.1.5:5000", WHO) is None


def test_agnhost_serve_hostname_answers_the_hostname_over_http_udp_and_raw_tcp():
    assert reply(AGNHOST, ["serve-hostname"], request=get("/anything")).body == b"web-7d9f-x2k"
    r = reply(AGNHOST, ["serve-hostname", "--close"])
    assert header(r, "Connection") == ["close"]
    udp = behaviour_of(AGNHOST, ["serve-hostname", "--http=false", "--udp"], {})
    assert udp_reply(udp, b"", "10.0.0.1:1", WHO) == b"web-7d9f-x2k"
    raw = behaviour_of(AGNHOST, ["serve-hostname", "--http=false", "--tcp"], {})
    assert tcp_greeting(raw, WHO) == b"web-7d9f-x2k"
    assert tcp_greeting(behaviour_of(AGNHOST, ["serve-hostname"], {}), WHO) is None


def test_agnhost_netexec_startup_lines_are_its_go_log_lines():
    b = behaviour_of(AGNHOST, ["netexec", "--http-port=8080", "--udp-port=8081"], {})
    assert startup_log(b, NOW) == ["2023/11/14 22:13:20 Started HTTP server on port 8080",
                                   "2023/11/14 22:13:20 Started UDP server on port  8081"]


# --- hashicorp/http-echo ---------------------------------------------------------------------


def test_http_echo_answers_its_text_and_a_newline_on_every_path():
    r = reply("hashicorp/http-echo", ["-text=hello"], request=get("/any/path?x=1"))
    assert (r.status, r.body) == (200, b"hello\n")
    assert header(r, "X-App-Name") == ["http-echo"] and header(r, "X-App-Version") == ["1.0.0"]
    assert header(r, "Content-Type") == ["text/plain; charset=utf-8"]


def test_http_echo_health_answers_status_ok_json():
    r = reply("hashicorp/http-echo", ["-text=hello", "-status-code=503"], request=get("/health"))
    assert (r.status, r.body) == (200, b'{"status":"ok"}\n')


def test_http_echo_status_code_flag_sets_the_status_of_the_echo():
    r = reply("hashicorp/http-echo", ["-text=down", "-status-code=503"])
    assert (r.status, r.reason, r.body) == (503, "Service Unavailable", b"down\n")


def test_http_echo_0_2_3_carries_its_own_version():
    r = reply("hashicorp/http-echo:0.2.3", ["-text=old"])
    assert header(r, "X-App-Version") == ["0.2.3"] and r.body == b"old\n"


# --- echoserver ------------------------------------------------------------------------------

ECHO_110 = """

Hostname: web-7d9f-x2k

Pod Information:
\t-no pod information available-

Server values:
\tserver_version=nginx: 1.13.3 - lua: 10008

Request Information:
\tclient_address=10.244.1.5
\tmethod=GET
\treal path=/hi?a=1&amp;b=2
\tquery=a=1&amp;b=2
\trequest_version=1.1
\trequest_scheme=http
\trequest_uri=http://web.example:8080/hi?a=1&amp;b=2

Request Headers:
\taccept=*/*  
\thost=web.example:30080  
\tuser-agent=curl/8.5.0  

Request Body:
\t-no body in request-

"""


def test_echoserver_page_matches_the_nginx_lua_template_line_for_line():
    headers = (("Host", "Web.Example:30080"), ("User-Agent", "curl/8.5.0"), ("Accept", "*/*"))
    r = reply("registry.k8s.io/echoserver:1.10", request=get("/hi?a=1&b=2", headers=headers))
    assert r.body.decode() == ECHO_110.replace("host=web.example:30080", "host=Web.Example:30080")
    assert (header(r, "Server"), header(r, "Content-Type")) == (["echoserver"], ["text/plain"])


def test_echoserver_shows_pod_information_from_the_downward_api_environment():
    env = {"NODE_NAME": "node-a", "POD_NAME": "web-7d9f-x2k", "POD_NAMESPACE": "default", "POD_IP": "10.244.0.7"}
    body = reply("registry.k8s.io/echoserver:1.10", env=env).body.decode()
    assert "Pod Information:\n\tnode name:\tnode-a\n\tpod name:\tweb-7d9f-x2k\n" \
           "\tpod namespace:\tdefault\n\tpod IP:\t10.244.0.7\n\nServer values:" in body


def test_echoserver_lists_repeated_headers_once_per_value_and_drops_underscored_names():
    headers = (("Host", "h"), ("X-A", "1"), ("x-a", "2"), ("X_Bad", "no"))
    body = reply("registry.k8s.io/echoserver:1.10", request=get("/", headers=headers)).body.decode()
    assert "Request Headers:\n\thost=h  \n\tx-a=1\n\tx-a=2\n\nRequest Body:" in body


def test_echoserver_echoes_the_request_body_html_escaped():
    body = reply("registry.k8s.io/echoserver:1.10",
                 request=get("/", method="POST", body=b'{"a": "<b>"}')).body.decode()
    assert body.endswith("Request Body:\n{&quot;a&quot;: &quot;&lt;b&gt;&quot;}\n\n")
    assert "\tmethod=POST\n" in body


def test_echoserver_http_1_0_shows_version_1_and_the_server_name_for_a_missing_host():
    body = reply("registry.k8s.io/echoserver:1.10", request=get("/", headers=(), version="HTTP/1.0")).body.decode()
    assert "\trequest_version=1\n" in body and "\trequest_uri=http://_:8080/\n" in body


def test_echoserver_1_4_answers_the_older_client_values_page():
    r = reply("k8s.gcr.io/echoserver:1.4", request=get("/x"))
    assert r.body == (b"CLIENT VALUES:\nclient_address=10.244.1.5\ncommand=GET\nreal path=/x\nquery=nil\n"
                      b"request_version=1.1\nrequest_uri=http://10.244.0.7:8080/x\n\nSERVER VALUES:\n"
                      b"server_version=nginx: 1.10.0 - lua: 10001\n\nHEADERS RECEIVED:\naccept=*/*\n"
                      b"host=10.244.0.7:8080\nuser-agent=curl/8.5.0\nBODY:\n-no body in request-")
    assert header(r, "Server") == ["nginx/1.10.0"]


def test_nginx_images_reject_http_1_1_without_host_with_their_error_page():
    r = reply("registry.k8s.io/echoserver:1.10", request=get("/", headers=()))
    assert (r.status, header(r, "Content-Type")) == (400, ["text/html"])
    assert b"<center><h1>400 Bad Request</h1></center>\r\n<hr><center>nginx/1.13.3</center>" in r.body


# --- traefik/whoami --------------------------------------------------------------------------


def test_whoami_prints_hostname_ips_remote_address_then_the_request_as_go_writes_it():
    r = reply("traefik/whoami", request=get("/foo?x=1"))
    assert r.body == (b"Hostname: web-7d9f-x2k\nIP: 127.0.0.1\nIP: 10.244.0.7\nRemoteAddr: 10.244.1.5:43210\n"
                      b"GET /foo?x=1 HTTP/1.1\r\nHost: 10.244.0.7:8080\r\nUser-Agent: curl/8.5.0\r\n"
                      b"Accept: */*\r\n\r\n")
    assert header(r, "Content-Type") == ["text/plain; charset=utf-8"]


def test_whoami_lists_the_pods_addresses_and_its_name_when_given():
    who = Identity("p", "ns", "10.0.0.2", "n", "c", addresses=("127.0.0.1", "::1", "10.0.0.2", "fe80::1"))
    b = behaviour_of("traefik/whoami", ["--name=iamfoo"], {})
    body = http_reply(b, get("/"), who, now=NOW).body.decode()
    assert body.startswith("Name: iamfoo\nHostname: p\nIP: 127.0.0.1\nIP: ::1\nIP: 10.0.0.2\nIP: fe80::1\n")


def test_whoami_writes_a_posted_body_with_its_length_and_http_1_0_as_connection_close():
    r = reply("traefik/whoami", request=get("/", method="POST", body=b"hi",
                                            headers=(("Host", "h"), ("Content-Length", "2"))))
    assert r.body.endswith(b"POST / HTTP/1.1\r\nHost: h\r\nUser-Agent: Go-http-client/1.1\r\n"
                           b"Content-Length: 2\r\n\r\nhi")
    r = reply("traefik/whoami", request=get("/", version="HTTP/1.0", headers=(("User-Agent", "x"),)))
    assert r.body.endswith(b"GET / HTTP/1.1\r\nHost: \r\nUser-Agent: x\r\nConnection: close\r\n\r\n")


def test_whoami_api_answers_json_with_go_field_names():
    r = reply("traefik/whoami", request=get("/api"))
    assert header(r, "Content-Type") == ["application/json"] and r.body.endswith(b"}\n")
    assert json.loads(r.body) == {"hostname": "web-7d9f-x2k", "ip": ["127.0.0.1", "10.244.0.7"],
                                  "headers": {"Accept": ["*/*"], "User-Agent": ["curl/8.5.0"]},
                                  "url": "/api", "host": "10.244.0.7:8080", "method": "GET",
                                  "remoteAddr": "10.244.1.5:43210"}
    with_env = reply("traefik/whoami", env={"FOO": "bar"}, request=get("/api?env=true"))
    assert json.loads(with_env.body)["environ"] == {"FOO": "bar"}


def test_whoami_health_answers_the_code_last_posted():
    b = behaviour_of("traefik/whoami", None, {})
    assert http_reply(b, get("/health"), WHO).status == 200
    posted = http_reply(b, get("/health", method="POST", body=b"500"), WHO)
    assert (posted.status, posted.body) == (200, b"")
    assert http_reply(b, get("/health"), WHO).status == 500
    bad = http_reply(b, get("/health", method="POST", body=b"abc"), WHO)
    assert (bad.status, bad.body) == (400, b"invalid character 'a' looking for beginning of value\n")


def test_whoami_bench_data_and_websocket_echo():
    assert reply("traefik/whoami", request=get("/bench")).body == b"1"
    assert reply("traefik/whoami", request=get("/data?size=5")).body == b"|ABC|"
    kb = reply("traefik/whoami", request=get("/data?size=1&unit=KB")).body
    assert (len(kb), kb[:4], kb[27:29], kb[-1:]) == (1024, b"|ABC", b"-A", b"|")
    assert reply("traefik/whoami", request=get("/data?size=1")).body == b""      # sic: contentReader
    r = reply("traefik/whoami", request=get("/echo"))
    assert (r.status, r.body, header(r, "Sec-Websocket-Version")) == (400, b"Bad Request\n", ["13"])


# --- nginxdemos/hello ------------------------------------------------------------------------


def test_nginx_hello_plain_text_answers_its_five_lines():
    r = reply("nginxdemos/hello:plain-text", request=get("/some/path?q=1", server="10.244.0.7:80"))
    lines = r.body.decode().split("\n")
    assert lines[:4] == ["Server address: 10.244.0.7:80", "Server name: web-7d9f-x2k",
                         "Date: 14/Nov/2023:22:13:20 +0000", "URI: /some/path?q=1"]
    assert re.fullmatch(r"Request ID: [0-9a-f]{32}", lines[4]) and lines[5:] == [""]
    assert header(r, "Content-Type") == ["text/plain"] and header(r, "Cache-Control") == ["no-cache"]
    assert header(r, "Expires") == ["Tue, 14 Nov 2023 22:13:19 GMT"]


def test_nginx_hello_html_page_carries_the_same_fields():
    r = reply("nginxdemos/hello", request=get("/", server="10.244.0.7:80"))
    page = r.body.decode()
    assert header(r, "Content-Type") == ["text/html"]
    assert "<p><span>Server&nbsp;address:</span> <span>10.244.0.7:80</span></p>" in page
    assert "<p><span>Server&nbsp;name:</span> <span>web-7d9f-x2k</span></p>" in page
    assert "<span>14/Nov/2023:22:13:20 +0000</span>" in page and "<span>/</span>" in page
    assert re.search(r"Request ID: [0-9a-f]{32}<br/>", page)
    assert reply("nginxdemos/hello", request=get("/", method="POST")).status == 405


# --- hello-app -------------------------------------------------------------------------------


@pytest.mark.parametrize("image, version", [
    ("gcr.io/google-samples/hello-app:1.0", "1.0.0"),
    ("gcr.io/google-samples/hello-app:2.0", "2.0.0"),
    ("us-docker.pkg.dev/google-samples/containers/gke/hello-app:2.0", "2.0.0"),
])
def test_hello_app_answers_hello_world_its_version_and_hostname(image, version):
    r = reply(image, request=get("/any"))
    assert r.body == f"Hello, world!\nVersion: {version}\nHostname: web-7d9f-x2k\n".encode()
    assert header(r, "Content-Type") == ["text/plain; charset=utf-8"]


def test_behaviours_are_values_the_caller_can_copy():
    b = behaviour_of("gcr.io/google-samples/hello-app:1.0", None, {})
    assert isinstance(b, Behaviour) and b == behaviour_of("gcr.io/google-samples/hello-app:1.0", None, {})
    assert startup_log(b, NOW) == ["2023/11/14 22:13:20 Server listening on port 8080"]


@pytest.mark.parametrize("when", [0, 784111777, 951782400.5, 1700000000, 4102444799])
def test_http_dates_read_as_email_utils_writes_them(when):
    assert http_date(when) == email.utils.formatdate(when, usegmt=True)
