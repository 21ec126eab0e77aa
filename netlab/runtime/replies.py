"""What a well-known test image answers, decided purely: the ports it listens on and each reply.

netlab runs a tutorial's container without its image. For the images below it answers as the
image would: `behaviour_of` reads the image name and the container's argv the way the image's own
program reads them, `http_reply`, `udp_reply` and `tcp_greeting` say what goes back on the wire.
The server loop in netlab/runtime/builtin.py carries this out; any other image, or an argv the
image would not run as one of these servers, runs as a program.

The image name may carry a registry, a tag and a digest. Each format below was read from the
image's source (cited in the code next to it); the tag picks the version where answers differ.

| image                                        | argv served (entrypoint)            | listens on                       | answers |
| -------------------------------------------- | ----------------------------------- | -------------------------------- | ------- |
| `registry.k8s.io/e2e-test-images/agnhost`,   | `netexec` (`/agnhost`); flags as    | TCP `--http-port` (8080),        | `/` `NOW: <Go time>`, `/hostname`, `/clientip` (`ip:port`), `/echo?msg=&code=`, `/header?key=`, `/shell?cmd=` (JSON `output`, `error`), `/healthz`, `/readyz`, `/redirect?location=&code=`, `/exit?code=&timeout=`, `/shutdown`, `/dial?host=&port=&request=&protocol=&tries=`, `/upload`; UDP `hostname`, `echo TEXT`, `clientip` |
| `k8s.gcr.io/e2e-test-images/agnhost`,        | `--flag=v` or `--flag v`            | UDP `--udp-port` (8081; -1 none) | |
| `gcr.io/kubernetes-e2e-test-images/agnhost`  | `serve-hostname`                    | `--port` (9376): HTTP, or with `--http=false` raw `--tcp` / `--udp` | the hostname |
|                                              | none (image CMD `pause`), `pause`   | nothing                          | |
| `hashicorp/http-echo`                        | `-text=T` `-listen=:5678` `-status-code=200` (`/http-echo`) | TCP 5678          | `T` + newline on every path, `/health` `{"status":"ok"}`; tag 1.x: text defaults to `$ECHO_TEXT` or `hello-world`, tag 0.x: `-text` required |
| `k8s.gcr.io/echoserver`, `registry.k8s.io/echoserver`, `gcr.io/google_containers/echoserver`, `…/e2e-test-images/echoserver` | none, `run.sh`, `nginx …` | TCP 8080 (8443 is TLS: not served) | tag >= 1.5: the nginx+lua page `Hostname:`, `Pod Information:`, `Server values:`, `Request Information:`, `Request Headers:`, `Request Body:`; tag <= 1.4: the `CLIENT VALUES:` page |
| `traefik/whoami`, `containous/whoami`        | `--port N` `--name N` `--verbose` (`/whoami`); env `WHOAMI_PORT_NUMBER`, `WHOAMI_NAME` | TCP 80 | `Hostname:`, `IP:` per address, `RemoteAddr:`, then the request as Go writes it; `/api` JSON, `/health` (POST a status code to change it), `/bench`, `/data?size=&unit=`, `/echo` (WebSocket: the handshake errors only) |
| `nginxdemos/hello`, `nginxdemos/nginx-hello` | none, `nginx …`                     | TCP 80 (`nginx-hello`: 8080)     | an HTML page, tag `plain-text`: text; both with `Server address`, `Server name`, `Date`, `URI`, `Request ID` |
| `gcr.io/google-samples/hello-app`, `us-docker.pkg.dev/google-samples/containers/gke/hello-app` | none, `/hello-app` | TCP `$PORT` (8080) | `Hello, world!`, `Version: 1.0.0` (tag 2.0: `2.0.0`), `Hostname: POD` |

Where the image answers with addresses, the reply uses the request's (client address as seen, the
address the connection arrived at) and the pod's (Identity); dates come from `now`.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable


@dataclass(frozen=True)
class Identity:
    """Who answers."""
    pod: str                            # pod name == hostname
    namespace: str
    pod_ip: str
    node: str
    container: str
    addresses: tuple[str, ...] = ()     # every address on the pod's interfaces, in order; () -> 127.0.0.1, pod_ip


@dataclass(frozen=True)
class Request:
    """One HTTP request as read off the wire."""
    method: str
    target: str                         # "/echo?msg=hi"
    version: str                        # "HTTP/1.1"
    headers: tuple[tuple[str, str], ...]    # in order, as sent
    body: bytes
    client: str                         # "10.244.1.5:43210" (IPv6 as "[::1]:43210")
    server: str                         # "10.244.0.7:8080"


@dataclass(frozen=True)
class Response:
    """What goes back; the server adds Content-Length and Date when the headers lack them."""
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    exit_code: int | None = None        # the server exits with this after answering (agnhost /exit, /shutdown)
    shell: str | None = None            # the command agnhost /shell ran, for the server's log
    no_reply: bool = False              # close without writing anything (status 0): the image exits or panics first


@dataclass(frozen=True)
class Behaviour:
    """What an image does when it runs with a given argv."""
    image: str                          # "agnhost netexec", "hashicorp/http-echo", ...
    tcp_ports: tuple[int, ...]          # what the image itself listens on
    udp_ports: tuple[int, ...]
    version: str = ""                   # the image version where its answers differ by version
    bind: str = ""                      # the address it listens on; "" = every address
    unserved: tuple[str, ...] = ()      # what it also listens on that netlab does not serve, e.g. "8443/TCP (TLS)"
    raw_tcp: bool = False               # on accept: write tcp_greeting() and close, reading nothing
    exits: str | None = None            # it exits at start, printing this (see startup_log)
    exit_code: int = 0
    exits_logged: bool = False          # Go's log package printed it: startup_log adds the time
    listen: str = ""                    # the listen address or port as the image was given it, for its start-up line
    text: str = ""                      # http-echo: what it echoes
    status: int = 200                   # http-echo: -status-code
    name: str = ""                      # whoami: -name / WHOAMI_NAME
    override: str = ""                  # agnhost netexec: --http-override
    ready: bool = True                  # agnhost netexec: a UDP or SCTP server runs, so /healthz and /readyz say 200
    close: bool = False                 # agnhost serve-hostname: --close
    plain_text: bool = False            # nginxdemos/hello: the plain-text variant
    env: tuple[tuple[str, str], ...] = ()
    started: float | None = None        # when the server started (time.time()); Go prints time.Now() with it
    # what changes while it serves: whoami's /health code
    state: dict = field(default_factory=dict, compare=False, hash=False, repr=False)


# (repository path, registries it must come from or None for any, which image) -- the first match wins.
# Docker Hub names are read as docker.io/library/NAME, so a bare "echoserver" is not k8s.gcr.io's.
IMAGES: tuple[tuple[str, tuple[str, ...] | None, str], ...] = (
    ("e2e-test-images/agnhost", None, "agnhost"),
    ("kubernetes-e2e-test-images/agnhost", None, "agnhost"),
    ("k8s-staging-e2e-test-images/agnhost", None, "agnhost"),
    ("hashicorp/http-echo", None, "http-echo"),
    ("echoserver", ("k8s.gcr.io", "registry.k8s.io"), "echoserver"),
    ("google_containers/echoserver", None, "echoserver"),
    ("google-containers/echoserver", None, "echoserver"),
    ("e2e-test-images/echoserver", None, "echoserver"),
    ("kubernetes-e2e-test-images/echoserver", None, "echoserver"),
    ("traefik/whoami", None, "whoami"),
    ("containous/whoami", None, "whoami"),
    ("nginxdemos/hello", None, "nginx-hello"),
    ("nginxdemos/nginx-hello", None, "nginx-hello"),
    ("google-samples/hello-app", None, "hello-app"),
    ("google-samples/containers/gke/hello-app", None, "hello-app"),
)

# echoserver tag -> (nginx version, lua-nginx-module version) its page prints. The image sources
# do not pin them; these are what published outputs of each tag show. Other tags take the
# nearest row of the same layout.
ECHOSERVER_VERSIONS = {
    "1.4": ("1.10.0", "10001"),
    "1.10": ("1.13.3", "10008"),
    "2.2": ("1.12.2", "10010"),
}

# agnhost's flags, name -> default (the default's type is the flag's type).
# kubernetes/kubernetes test/images/agnhost/netexec/netexec.go init()
NETEXEC_FLAGS = {"http-port": 8080, "udp-port": 8081, "sctp-port": -1, "tls-cert-file": "",
                 "tls-private-key-file": "", "http-override": "", "udp-listen-addresses": "",
                 "delay-shutdown": 0}
# test/images/agnhost/serve-hostname/serve_hostname.go init()
SERVE_HOSTNAME_FLAGS = {"tcp": False, "udp": False, "http": True, "close": False, "port": 9376}
# agnhost.go adds klog's flags to every subcommand (klog.InitFlags)
KLOG_FLAGS = {"v": "0", "vmodule": "", "logtostderr": True, "alsologtostderr": False, "log_dir": "",
              "log_file": "", "log_file_max_size": "1800", "stderrthreshold": "2", "log_backtrace_at": "",
              "add_dir_header": False, "skip_headers": False, "skip_log_headers": False, "one_output": False}
# hashicorp/http-echo main.go (v1.0.0; -status-code is new in 1.0)
HTTP_ECHO_FLAGS = {"listen": ":5678", "text": "", "version": False, "status-code": 200}
# traefik/whoami app.go init() (v1.11.0); port and name default from the environment
WHOAMI_FLAGS = {"verbose": False, "cert": "", "key": "", "cacert": "", "port": "80", "name": ""}

_GO_STATUS = {
    100: "Continue", 101: "Switching Protocols", 102: "Processing", 103: "Early Hints",
    200: "OK", 201: "Created", 202: "Accepted", 203: "Non-Authoritative Information", 204: "No Content",
    205: "Reset Content", 206: "Partial Content", 207: "Multi-Status", 208: "Already Reported", 226: "IM Used",
    300: "Multiple Choices", 301: "Moved Permanently", 302: "Found", 303: "See Other", 304: "Not Modified",
    305: "Use Proxy", 307: "Temporary Redirect", 308: "Permanent Redirect",
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 406: "Not Acceptable", 407: "Proxy Authentication Required",
    408: "Request Timeout", 409: "Conflict", 410: "Gone", 411: "Length Required", 412: "Precondition Failed",
    413: "Request Entity Too Large", 414: "Request URI Too Long", 415: "Unsupported Media Type",
    416: "Requested Range Not Satisfiable", 417: "Expectation Failed", 418: "I'm a teapot",
    421: "Misdirected Request", 422: "Unprocessable Entity", 423: "Locked", 424: "Failed Dependency",
    425: "Too Early", 426: "Upgrade Required", 428: "Precondition Required", 429: "Too Many Requests",
    431: "Request Header Fields Too Large", 451: "Unavailable For Legal Reasons",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
    504: "Gateway Timeout", 505: "HTTP Version Not Supported", 506: "Variant Also Negotiates",
    507: "Insufficient Storage", 508: "Loop Detected", 510: "Not Extended",
    511: "Network Authentication Required",
}  # golang/go src/net/http/status.go

_NGINX_STATUS = {200: "OK", 400: "Bad Request", 405: "Not Allowed", 413: "Request Entity Too Large"}

_WHOAMI_DATA_LIMIT = 16 * 1024 * 1024   # whoami streams /data; netlab builds the body whole, so it stops here
_TEXT = "text/plain; charset=utf-8"


class _Exit(Exception):
    """The image's program stops at start: MESSAGE printed, then exit CODE."""

    def __init__(self, message: str, code: int, logged: bool = False):
        super().__init__(message)
        self.message, self.code, self.logged = message, code, logged


class _Panic(Exception):
    """A Go handler panicked: net/http closes the connection without a reply."""


class _NoReply(_Panic):
    """The handler exits the process before answering."""


# ---------------------------------------------------------------------------------------------
# behaviour_of: image + argv -> Behaviour


def behaviour_of(image: str, argv: list[str] | None, env: dict[str, str]) -> Behaviour | None:
    """What IMAGE does with ARGV (command+args, or args alone, or None) and ENV; None: not one of ours."""
    registry, path, tag = _reference(image or "")
    which = next((w for p, regs, w in IMAGES if p == path and (regs is None or registry in regs)), None)
    if which is None:
        return None
    parse = {"agnhost": _agnhost, "http-echo": _http_echo, "echoserver": _echoserver_behaviour,
             "whoami": _whoami_behaviour, "nginx-hello": _nginx_hello_behaviour,
             "hello-app": _hello_app_behaviour}[which]
    return parse(path, tag, list(argv) if argv is not None else None, dict(env or {}))


def _reference(image: str) -> tuple[str, str, str]:
    """IMAGE as (registry, repository path, tag); Docker Hub names as docker.io/library/NAME."""
    name = image.strip().split("@", 1)[0]
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, path = first.lower(), rest
    else:
        registry, path = "docker.io", name
    if registry in ("index.docker.io", "registry-1.docker.io"):
        registry = "docker.io"
    tag = ""
    colon = path.rfind(":")
    if colon > path.rfind("/"):
        path, tag = path[:colon], path[colon + 1:]
    if registry == "docker.io" and "/" not in path:
        path = "library/" + path
    return registry, path, tag


def _program(argv: list[str] | None, names: tuple[str, ...]) -> list[str] | None:
    """The image program's arguments: argv minus the program when argv names it, argv when it
    starts with a flag (args alone), None when argv runs some other program."""
    if not argv:
        return []
    if posixpath.basename(argv[0]) in names:
        return argv[1:]
    if argv[0].startswith("-"):
        return argv
    return None


def _exited(image: str, e: _Exit, version: str = "") -> Behaviour:
    return Behaviour(image=image, tcp_ports=(), udp_ports=(), version=version, exits=e.message,
                     exit_code=e.code, exits_logged=e.logged)


def _agnhost(path: str, tag: str, argv: list[str] | None, env: dict[str, str]) -> Behaviour | None:
    # ENTRYPOINT ["/agnhost"], CMD ["pause"]: test/images/agnhost/Dockerfile
    args = list(argv) if argv else ["pause"]
    if args and posixpath.basename(args[0]) in ("agnhost", "agnhost-2"):
        args = args[1:]
    while args and args[0].startswith("-"):       # klog flags may come before the subcommand
        name = args[0].lstrip("-").partition("=")[0]
        if name not in KLOG_FLAGS:
            return None
        takes_value = "=" not in args[0] and not isinstance(KLOG_FLAGS[name], bool)
        args = args[2:] if takes_value else args[1:]
    if not args:
        return None
    sub, rest = args[0], args[1:]
    label = f"agnhost {sub}"
    try:
        if sub == "netexec":
            return _netexec_behaviour(label, rest, tag)
        if sub == "serve-hostname":
            return _serve_hostname_behaviour(label, rest, tag)
        if sub == "pause":
            _cobra_flags(rest, {}, sub)
            return Behaviour(image=label, tcp_ports=(), udp_ports=(), version=tag)
    except _Exit as e:
        return _exited(label, e, tag) if e.code >= 0 else None
    return None


def _netexec_behaviour(label: str, args: list[str], tag: str) -> Behaviour | None:
    f = _cobra_flags(args, NETEXEC_FLAGS, "netexec")
    if f["tls-cert-file"]:
        return None                                 # HTTPS: netlab's server speaks plain HTTP only
    http, udp, sctp = f["http-port"], f["udp-port"], f["sctp-port"]
    if not 0 <= http <= 65535:
        raise _Exit(f"listen tcp: address {http}: invalid port", 1, logged=True)
    if udp != -1 and not 0 <= udp <= 65535:
        raise _Exit(f"Error occurred: failed to resolve UDP address for port {udp}:address {udp}: invalid port",
                    1, logged=True)
    return Behaviour(image=label, tcp_ports=(http,), udp_ports=() if udp == -1 else (udp,), version=tag,
                     unserved=() if sctp == -1 else (f"{sctp}/SCTP",), override=f["http-override"],
                     ready=udp != -1 or sctp != -1)


def _serve_hostname_behaviour(label: str, args: list[str], tag: str) -> Behaviour:
    f = _cobra_flags(args, SERVE_HOSTNAME_FLAGS, "serve-hostname")
    if f["http"] and (f["tcp"] or f["udp"]):
        # sic: serve_hostname.go main()
        raise _Exit("Can't server TCP/UDP mode and HTTP mode at the same time", 1, logged=True)
    port = f["port"]
    if not 0 <= port <= 65535:
        raise _Exit(f"Error from net.Listen(): listen tcp: address {port}: invalid port", 1, logged=True)
    return Behaviour(image=label, tcp_ports=(port,) if f["http"] or f["tcp"] else (),
                     udp_ports=(port,) if f["udp"] else (), version=tag, raw_tcp=f["tcp"], close=f["close"],
                     listen=str(port))


def _http_echo(path: str, tag: str, argv: list[str] | None, env: dict[str, str]) -> Behaviour | None:
    # ENTRYPOINT ["/http-echo"] and, from 1.0.0, ENV ECHO_TEXT="hello-world": hashicorp/http-echo Dockerfile
    args = _program(argv, ("http-echo",))
    if args is None:
        return None
    legacy = tag.startswith("0.")
    version = tag if legacy else "1.0.0"
    label = "hashicorp/http-echo"
    flags = dict(HTTP_ECHO_FLAGS)
    if legacy:
        del flags["status-code"]                    # v0.2.3 main.go
    try:
        f, rest = _go_flags(args, flags, "/http-echo")
        if f["version"]:
            raise _Exit(f"http-echo v{version}", 0)
        if legacy:
            text = f["text"]
            if not text:
                raise _Exit("Missing -text option!", 127)
        else:
            text = env.get("ECHO_TEXT", "hello-world")
            if f["text"]:
                text = f["text"]
            if not text:
                raise _Exit("Missing -text option or ECHO_TEXT env var!", 127)
        if rest:
            raise _Exit("Too many arguments!", 127)
        try:
            bind, port = _listen_address(f["listen"])
        except ValueError as e:
            if legacy:
                raise _Exit(f"[ERR] Error starting server: {e}", 127, logged=True)
            raise _Exit(f"[ERR] server exited with: {e}", 1, logged=True)
    except _Exit as e:
        return _exited(label, e, version)
    return Behaviour(image=label, tcp_ports=(port,), udp_ports=(), version=version, bind=bind, text=text,
                     status=f.get("status-code", 200), listen=f["listen"])


def _echoserver_behaviour(path: str, tag: str, argv: list[str] | None, env: dict[str, str]) -> Behaviour | None:
    # >= 1.10: ENTRYPOINT ["/usr/local/bin/run.sh"] (test/images/echoserver/Dockerfile), which ignores
    # its arguments; <= 1.4: the nginx image's CMD.
    if argv and posixpath.basename(argv[0]) not in ("run.sh", "nginx"):
        return None
    version = tag or "2.2"
    tls = () if _version_tuple(version) < (1, 9) else ("8443/TCP (TLS)",)   # README: >= 1.9 expose HTTPS on :8443
    return Behaviour(image="echoserver", tcp_ports=(8080,), udp_ports=(), version=version, unserved=tls,
                     env=tuple(env.items()))


def _whoami_behaviour(path: str, tag: str, argv: list[str] | None, env: dict[str, str]) -> Behaviour | None:
    # ENTRYPOINT ["/whoami"]: traefik/whoami Dockerfile
    args = _program(argv, ("whoami",))
    if args is None:
        return None
    flags = dict(WHOAMI_FLAGS)
    flags["port"] = env.get("WHOAMI_PORT_NUMBER") or "80"     # getEnv: an empty value takes the default
    flags["name"] = env.get("WHOAMI_NAME", "")
    label = "traefik/whoami"
    try:
        f, _ = _go_flags(args, flags, "/whoami")
        if f["cert"] and f["key"]:
            return None                             # TLS: netlab's server speaks plain HTTP only
        try:
            bind, port = _listen_address(":" + f["port"])
        except ValueError as e:
            raise _Exit(str(e), 1, logged=True)
    except _Exit as e:
        return _exited(label, e, tag)
    return Behaviour(image=label, tcp_ports=(port,), udp_ports=(), version=tag, name=f["name"],
                     env=tuple(env.items()), listen=f["port"])


def _nginx_hello_behaviour(path: str, tag: str, argv: list[str] | None, env: dict[str, str]) -> Behaviour | None:
    # FROM nginx:mainline-alpine: ENTRYPOINT ["/docker-entrypoint.sh"], CMD ["nginx", "-g", "daemon off;"]
    if argv and posixpath.basename(argv[0]) not in ("nginx", "docker-entrypoint.sh"):
        return None
    port = 8080 if path == "nginxdemos/nginx-hello" else 80     # nginx-hello-nonroot listens on 8080
    return Behaviour(image="nginxdemos/hello", tcp_ports=(port,), udp_ports=(), version=tag,
                     plain_text="plain-text" in tag)


def _hello_app_behaviour(path: str, tag: str, argv: list[str] | None, env: dict[str, str]) -> Behaviour | None:
    # CMD ["/hello-app"], ENV PORT=8080: quickstarts/hello-app/Dockerfile; the app reads no arguments.
    if argv and posixpath.basename(argv[0]) != "hello-app":
        return None
    # cloudbuild.yaml builds :2.0 from main.go with "Version: 1.0.0" replaced by "Version: 2.0.0"
    version = "2.0.0" if tag.startswith("2.0") or "-2.0-" in tag else "1.0.0"
    port_text = env.get("PORT") or "8080"
    try:
        bind, port = _listen_address(":" + port_text)
    except ValueError as e:
        return _exited("hello-app", _Exit(str(e), 1, logged=True), version)
    return Behaviour(image="hello-app", tcp_ports=(port,), udp_ports=(), version=version, listen=port_text)


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = re.findall(r"\d+", text.split("-")[0])
    return tuple(int(p) for p in parts[:2]) if parts else (99,)


def _listen_address(address: str) -> tuple[str, int]:
    """Go's net.Listen("tcp", ADDRESS) as (bind address, port); ValueError with Go's message."""
    host, sep, port_text = address.rpartition(":")
    if not sep:
        raise ValueError(f"listen tcp: address {address}: missing port in address")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"listen tcp: address {address}: too many colons in address")
    services = {"http": 80, "https": 443, "ssh": 22, "smtp": 25, "domain": 53}   # Go's built-in list, in part
    if port_text == "":
        port = 0
    elif re.fullmatch(r"[+-]?\d+", port_text):
        port = int(port_text)
        if not 0 <= port <= 65535:
            raise ValueError(f"listen tcp: address {port_text}: invalid port")
    elif port_text in services:
        port = services[port_text]
    else:
        raise ValueError(f"listen tcp: lookup tcp/{port_text}: unknown port")
    if host in ("", "0.0.0.0", "::"):
        host = ""
    elif host == "localhost":
        host = "127.0.0.1"
    return host, port


# ---------------------------------------------------------------------------------------------
# Flag parsing as the images' programs do it


def _go_bool(text: str) -> bool | None:
    """strconv.ParseBool."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


def _go_int(text: str, base0: bool = True) -> int | None:
    """strconv.ParseInt(text, 0, 64) (base0) or strconv.Atoi."""
    m = re.fullmatch(r"([+-]?)(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|0[0-7_]*|[1-9][0-9_]*)", text) \
        if base0 else re.fullmatch(r"([+-]?)([0-9]+)", text)
    if not m:
        return None
    sign, digits = m.groups()
    if base0:
        if "_" in digits and not re.match(r"0[xXoObB]?", digits):
            return None
        digits = digits.replace("_", "")
        low = digits[:2].lower()
        value = int(digits[2:], {"0x": 16, "0o": 8, "0b": 2}[low]) if low in ("0x", "0o", "0b") \
            else int(digits, 8) if digits.startswith("0") else int(digits)
    else:
        value = int(digits)
    return -value if sign == "-" else value


def _cobra_flags(args: list[str], spec: dict, command: str) -> dict:
    """spf13/pflag as cobra runs it for agnhost's COMMAND: both `--flag=v` and `--flag v`, bools as
    `--flag` or `--flag=false`, klog's flags accepted; positional arguments are an error.
    Errors exit 0: agnhost.go ignores what rootCmd.Execute() returns."""
    known = dict(KLOG_FLAGS)
    known.update(spec)
    values = {k: v for k, v in spec.items()}
    positional: list[str] = []
    i = 0
    while i < len(args):
        s = args[i]
        i += 1
        if len(s) < 2 or s[0] != "-":
            positional.append(s)
            continue
        if s == "--":
            positional += args[i:]
            break
        if s.startswith("--"):
            name, eq, value = s[2:].partition("=")
            if not name or name[0] in "-=":
                raise _Exit(f"Error: bad flag syntax: {s}", 0)
            if name == "help" and name not in known:
                raise _Exit("", -1)                  # cobra prints the help: not a server
            if name not in known:
                raise _Exit(f"Error: unknown flag: --{name}", 0)
            shown = f"--{name}"
        else:
            c, value = s[1], s[2:]
            if c == "h":
                raise _Exit("", -1)
            if c != "v":
                raise _Exit(f"Error: unknown shorthand flag: '{c}' in {s}", 0)
            name, shown = "v", "-v, --v"
            eq = "=" if value else ""
            value = value[1:] if value.startswith("=") else value
        kind = known[name]
        if not eq:
            if isinstance(kind, bool):
                value = "true"
            elif i < len(args):
                value, i = args[i], i + 1
            else:
                raise _Exit(f"Error: flag needs an argument: {s}", 0)
        if isinstance(kind, bool):
            parsed = _go_bool(value)
            if parsed is None:
                raise _Exit(f"Error: invalid argument {_go_quote(value)} for {_go_quote(shown)} flag: "
                            f"strconv.ParseBool: parsing {_go_quote(value)}: invalid syntax", 0)
        elif isinstance(kind, int):
            parsed = _go_int(value)
            if parsed is None:
                raise _Exit(f"Error: invalid argument {_go_quote(value)} for {_go_quote(shown)} flag: "
                            f"strconv.ParseInt: parsing {_go_quote(value)}: invalid syntax", 0)
        else:
            parsed = value
        if name in spec:
            values[name] = parsed
    if positional:
        raise _Exit(f"Error: accepts at most 0 arg(s), received {len(positional)}", 0)
    return values


def _go_flags(args: list[str], spec: dict, program: str) -> tuple[dict, list[str]]:
    """Go's flag package (flag.Parse): `-flag=v`, `-flag v`, one or two dashes, bools only as
    `-flag` or `-flag=v`; parsing stops at the first non-flag. Errors exit 2, -h exits 0."""
    values = dict(spec)
    i = 0
    while i < len(args):
        s = args[i]
        if len(s) < 2 or s[0] != "-":
            break
        dashes = 2 if s[1] == "-" else 1
        if dashes == 2 and len(s) == 2:
            i += 1
            break
        name = s[dashes:]
        if not name or name[0] in "-=":
            raise _Exit(f"bad flag syntax: {s}", 2)
        i += 1
        name, eq, value = name.partition("=")
        if name not in spec:
            if name in ("help", "h"):
                raise _Exit(f"Usage of {program}:", 0)
            raise _Exit(f"flag provided but not defined: -{name}\nUsage of {program}:", 2)
        kind = spec[name]
        if isinstance(kind, bool):
            parsed = True if not eq else _go_bool(value)
            if parsed is None:
                raise _Exit(f"invalid boolean value {_go_quote(value)} for -{name}: parse error", 2)
        else:
            if not eq:
                if i >= len(args):
                    raise _Exit(f"flag needs an argument: -{name}", 2)
                value, i = args[i], i + 1
            parsed = value
            if isinstance(kind, int):
                parsed = _go_int(value)
                if parsed is None:
                    raise _Exit(f"invalid value {_go_quote(value)} for flag -{name}: parse error", 2)
        values[name] = parsed
    return values, args[i:]


# ---------------------------------------------------------------------------------------------
# http_reply


def http_reply(behaviour: Behaviour, request: Request, who: Identity,
               run_shell: Callable[[str], tuple[str, str, int]] | None = None, now: float | None = None,
               dial: Callable[[str, str, int, str], str] | None = None) -> Response:
    """The image's answer to REQUEST. RUN_SHELL(cmd) -> (stdout, stderr, exit code) runs agnhost
    /shell (None: as if /bin/sh failed to start); DIAL(protocol, host, port, request) -> reply,
    raising OSError with the error text, makes agnhost /dial's requests (None: every try fails)."""
    now = time.time() if now is None else now
    image = behaviour.image
    if image == "agnhost netexec":
        reply = _go_serve(request, lambda r, w: _netexec(behaviour, r, w, who, run_shell, dial, now))
    elif image == "agnhost serve-hostname":
        reply = _go_serve(request, lambda r, w: _serve_hostname(behaviour, w, who))
    elif image == "hashicorp/http-echo":
        reply = _go_serve(request, lambda r, w: _http_echo_reply(behaviour, r, w))
    elif image == "traefik/whoami":
        reply = _go_serve(request, lambda r, w: _whoami(behaviour, r, w, who, now))
    elif image == "hello-app":
        reply = _go_serve(request, lambda r, w: w.write(
            f"Hello, world!\nVersion: {behaviour.version}\nHostname: {who.pod}\n"))
    elif image == "echoserver":
        reply = _echoserver(behaviour, request, who)
    elif image == "nginxdemos/hello":
        reply = _nginx_hello(behaviour, request, who, now)
    else:
        raise ValueError(f"{image}: serves no HTTP")
    if request.method == "HEAD" and not reply.no_reply:
        # the headers of GET without its body; Content-Length says how long it would be
        headers = reply.headers
        if reply.body and not any(k.lower() == "content-length" for k, _ in headers):
            headers += (("Content-Length", str(len(reply.body))),)
        reply = Response(reply.status, reply.reason, headers, b"", reply.exit_code, reply.shell)
    return reply


# --- Go's net/http, as much of it as these images show ---------------------------------------


class _GoRequest:
    """An *http.Request as a Go server hands it to a handler."""

    def __init__(self, method: str, target: str, proto: str, headers, body: bytes, remote: str):
        self.method, self.proto, self.body, self.remote_addr = method, proto, body, remote
        self.header: dict[str, list[str]] = {}
        for name, value in headers:
            self.header.setdefault(_canonical(name), []).append(value)
        hosts = self.header.pop("Host", [])
        self.host = hosts[0] if hosts else ""
        self.chunked = False
        te = self.header.get("Transfer-Encoding")
        if te is not None and self.proto_at_least(1, 1):
            del self.header["Transfer-Encoding"]
            self.chunked = te[0].strip().lower().startswith("chunked")
            if self.chunked:
                self.header.pop("Content-Length", None)
        elif te is not None:
            del self.header["Transfer-Encoding"]    # ignored on HTTP/1.0 (net/http transfer.go)
        self.target = target
        self.url_host = ""
        rest = target
        m = re.match(r"(?i)https?://([^/?]*)(.*)", target)
        if m:
            self.url_host, rest = m.group(1), m.group(2)
            self.host = self.url_host               # absolute-form: the request line's host wins
        elif target != "*" and not target.startswith("/"):
            raise ValueError("invalid request URI")
        raw_path, q, self.raw_query = rest.partition("?")
        self.force_query = bool(q) and not self.raw_query
        self.raw_path = raw_path
        self.path = _unescape(raw_path)
        connection = ",".join(self.header.get("Connection", [])).lower()
        tokens = {t.strip() for t in connection.split(",")}
        self.close = "close" in tokens if self.proto_at_least(1, 1) else \
            ("close" in tokens or "keep-alive" not in tokens)

    def proto_at_least(self, major: int, minor: int) -> bool:
        m = re.fullmatch(r"HTTP/(\d+)\.(\d+)", self.proto)
        return bool(m) and (int(m.group(1)), int(m.group(2))) >= (major, minor)

    def request_uri(self) -> str:
        """URL.RequestURI(): the path (not empty) and the query as sent."""
        uri = self.raw_path or "/"
        if self.raw_query or self.force_query:
            uri += "?" + self.raw_query
        return uri

    def get(self, key: str) -> str:
        """Header.Get."""
        values = self.header.get(_canonical(key))
        return values[0] if values else ""

    def query(self) -> dict[str, list[str]]:
        return _parse_query(self.raw_query)

    def form_value(self, key: str) -> str:
        """Request.FormValue: a POST/PUT/PATCH urlencoded body's value first, then the query's."""
        values: list[str] = []
        ctype = self.get("Content-Type").split(";")[0].strip().lower()
        if self.method in ("POST", "PUT", "PATCH") and ctype == "application/x-www-form-urlencoded":
            values += _parse_query(self.body.decode("utf-8", "replace")).get(key, [])
        values += self.query().get(key, [])
        return values[0] if values else ""


class _GoWriter:
    """The visible effect of an http.ResponseWriter: headers, the status line, the body."""

    def __init__(self):
        self.header: dict[str, list[str]] = {}
        self.status: int | None = None
        self.body = bytearray()
        self.exit_code: int | None = None          # the process exits after this request
        self.shell: str | None = None

    def set(self, key: str, value: str) -> None:
        self.header[_canonical(key)] = [value]

    def write_header(self, code: int) -> None:
        if self.status is not None:
            return                                  # "superfluous response.WriteHeader call"
        if not 100 <= code <= 999:
            raise _Panic(f"invalid WriteHeader code {code}")
        self.status = code

    def write(self, data: str | bytes) -> None:
        if self.status is None:
            self.status = 200
        self.body += data.encode() if isinstance(data, str) else data

    def error(self, message: str, code: int) -> None:
        """http.Error."""
        self.header.pop("Content-Length", None)
        self.set("Content-Type", _TEXT)
        self.set("X-Content-Type-Options", "nosniff")
        self.write_header(code)
        self.write(message + "\n")

    def response(self) -> Response:
        status = self.status or 200
        body = bytes(self.body)
        header = dict(self.header)
        if 100 <= status < 200 or status in (204, 304):
            body = b""                              # bodyAllowedForStatus
            if status == 304:
                header.pop("Content-Type", None)
        elif body and "Content-Type" not in header:
            header["Content-Type"] = [_sniff(body)]
        headers = tuple((k, v) for k in sorted(header) for v in header[k])
        return Response(status, _GO_STATUS.get(status, f"status code {status}"), headers, body,
                        self.exit_code, self.shell)


def _go_serve(request: Request, handler: Callable[[_GoRequest, _GoWriter], None]) -> Response:
    """A Go http.Server with its ServeMux: the request checks, then path cleaning, then HANDLER."""
    hosts = [v for k, v in request.headers if k.lower() == "host"]
    http11 = re.fullmatch(r"HTTP/(\d+)\.(\d+)", request.version)
    http11 = bool(http11) and (int(http11.group(1)), int(http11.group(2))) >= (1, 1)
    if http11 and not hosts and request.method != "CONNECT":
        return _go_bad_request("400 Bad Request: missing required Host header")
    if len(hosts) > 1:
        return _go_bad_request("400 Bad Request: too many Host headers")
    if hosts and not re.fullmatch(r"[A-Za-z0-9!$%&'()*+,\-.:;=\[\]_~]*", hosts[0]):
        return _go_bad_request("400 Bad Request: malformed Host header")
    try:
        r = _GoRequest(request.method, request.target, request.version, request.headers, request.body,
                       request.client)
    except ValueError:
        return _go_bad_request("400 Bad Request")
    w = _GoWriter()
    try:
        clean = _clean_path(r.path)
        if r.method != "CONNECT" and clean != r.path:
            # ServeMux redirects to the clean path, keeping the query (net/http server.go)
            location = _escape_path(clean) + ("?" + r.raw_query if r.raw_query else "")
            _go_redirect(w, r, location, 301)
        else:
            handler(r, w)
    except _NoReply:
        return Response(0, "", (), b"", exit_code=w.exit_code, no_reply=True)
    except _Panic:
        return Response(0, "", (), b"", no_reply=True)
    return w.response()


def _go_bad_request(text: str) -> Response:
    return Response(400, "Bad Request", (("Content-Type", _TEXT), ("Connection", "close")), text.encode())


def _go_redirect(w: _GoWriter, r: _GoRequest, url: str, code: int) -> None:
    """http.Redirect: a relative URL is made absolute against the request path and cleaned."""
    if not re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", url) and not url.startswith("//"):
        old = r.path or "/"
        if not url.startswith("/"):
            url = old[:old.rfind("/") + 1] + url
        url, q, query = url.partition("?")
        trailing = url.endswith("/")
        url = _go_clean(url)
        if trailing and not url.endswith("/"):
            url += "/"
        url += q + query
    had_type = "Content-Type" in w.header
    w.set("Location", re.sub(r"[^\x00-\x7f]", lambda m: "".join(f"%{b:02x}" for b in m.group().encode()), url))
    if not had_type and r.method in ("GET", "HEAD"):
        w.set("Content-Type", "text/html; charset=utf-8")
    w.write_header(code)
    if not had_type and r.method == "GET":
        w.write(f'<a href="{_html_escape_go(url)}">{_GO_STATUS.get(code, "")}</a>.\n\n')


def _canonical(key: str) -> str:
    """textproto.CanonicalMIMEHeaderKey."""
    if not re.fullmatch(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", key):
        return key
    out, upper = [], True
    for c in key:
        out.append(c.upper() if upper else c.lower())
        upper = c == "-"
    return "".join(out)


def _unescape(path: str) -> str:
    """The URL path decoded as Go's url package does; ValueError on a bad %-escape."""
    if re.search(r"%(?![0-9A-Fa-f]{2})", path):
        raise ValueError("invalid URL escape")
    raw = re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), path.encode())
    return raw.decode("utf-8", "replace")


def _escape_path(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9\-._~!$&'()*+,;=:@/]",
                  lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), path)


def _go_clean(p: str) -> str:
    """path.Clean."""
    if p == "":
        return "."
    out = posixpath.normpath(p)
    return "/" + out.lstrip("/") if out.startswith("//") else out


def _clean_path(p: str) -> str:
    """net/http's cleanPath: path.Clean keeping a trailing slash."""
    if p == "":
        return "/"
    if not p.startswith("/"):
        p = "/" + p
    np = _go_clean(p)
    if p.endswith("/") and np != "/":
        np += "/"
    return np


def _parse_query(query: str) -> dict[str, list[str]]:
    """url.ParseQuery: pairs split on "&"; a pair with ";" or a bad escape is skipped."""
    out: dict[str, list[str]] = {}
    for pair in query.split("&"):
        if not pair or ";" in pair:
            continue
        key, _, value = pair.partition("=")
        try:
            key, value = _query_unescape(key), _query_unescape(value)
        except ValueError:
            continue
        out.setdefault(key, []).append(value)
    return out


def _query_unescape(text: str) -> str:
    return _unescape(text.replace("+", " "))


def _sniff(data: bytes) -> str:
    """http.DetectContentType, for the signatures these replies can meet (golang/go src/net/http/sniff.go)."""
    data = data[:512]
    ws = b"\t\n\x0c\r "
    start = len(data) - len(data.lstrip(ws))
    rest = data[start:]
    for tag in (b"<!DOCTYPE HTML", b"<HTML", b"<HEAD", b"<SCRIPT", b"<IFRAME", b"<H1", b"<DIV", b"<FONT",
                b"<TABLE", b"<A", b"<STYLE", b"<TITLE", b"<B", b"<BODY", b"<BR", b"<P", b"<!--"):
        if len(rest) > len(tag) and rest[:len(tag)].upper() == tag and rest[len(tag):len(tag) + 1] in (b" ", b">"):
            return "text/html; charset=utf-8"
    if rest.startswith(b"<?xml"):
        return "text/xml; charset=utf-8"
    for magic, ctype in ((b"%PDF-", "application/pdf"), (b"%!PS-Adobe-", "application/postscript"),
                         (b"\xfe\xff", "text/plain; charset=utf-16be"), (b"\xff\xfe", "text/plain; charset=utf-16le"),
                         (b"\xef\xbb\xbf", "text/plain; charset=utf-8"), (b"GIF87a", "image/gif"),
                         (b"GIF89a", "image/gif"), (b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
                         (b"BM", "image/bmp"), (b"PK\x03\x04", "application/zip"),
                         (b"\x1f\x8b\x08", "application/x-gzip")):
        if data.startswith(magic):
            return ctype
    if any(b <= 0x08 or b == 0x0B or 0x0E <= b <= 0x1A or 0x1C <= b <= 0x1F for b in rest):
        return "application/octet-stream"
    return _TEXT


def _go_json(value) -> str:
    """encoding/json.Marshal: compact, <, >, & and U+2028/9 escaped (maps must come sorted)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text


def _go_quote(text: str) -> str:
    """strconv.Quote (%q)."""
    out = []
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif c in "\a\b\f\n\r\t\v":
            out.append("\\" + "abfnrtv"["\a\b\f\n\r\t\v".index(c)])
        elif c.isprintable():
            out.append(c)
        elif ord(c) < 0x80:
            out.append(f"\\x{ord(c):02x}")
        elif ord(c) <= 0xFFFF:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(f"\\U{ord(c):08x}")
    return '"' + "".join(out) + '"'


def _go_printf(format_text: str) -> str:
    """fmt.Fprintf(w, TEXT) with no arguments, as netexec /clientip does: a %-verb reads "%!v(MISSING)"."""
    def verb(m: re.Match) -> str:
        if m.group(1) == "%":
            return "%"
        return f"%!{m.group(2)}(MISSING)" if m.group(1) else "%!(NOVERB)"
    return re.sub(r"%(%|[+\-# 0]*[0-9.]*(.)|$)", verb, format_text)


def _html_escape_go(text: str) -> str:
    """net/http's htmlEscape."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") \
        .replace('"', "&#34;").replace("'", "&#39;")


def _go_time(now: float, started: float | None) -> str:
    """fmt's %v of time.Now() in UTC: "2006-01-02 15:04:05.999999999 +0000 UTC m=+0.000000001"."""
    micros = round(now * 1_000_000)
    t = datetime.fromtimestamp(micros // 1_000_000, timezone.utc)
    text = t.strftime("%Y-%m-%d %H:%M:%S")
    frac = f"{micros % 1_000_000:06d}000".rstrip("0")
    if frac:
        text += "." + frac
    text += " +0000 UTC"
    if started is not None:
        # the monotonic reading: seconds since the process started
        mono = round((now - started) * 1_000_000) * 1000
        sign = "-" if mono < 0 else "+"
        text += f" m={sign}{abs(mono) // 1_000_000_000}.{abs(mono) % 1_000_000_000:09d}"
    return text


def _go_duration(text: str) -> float | None:
    """time.ParseDuration, in seconds; None when it does not parse."""
    units = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    m = re.fullmatch(r"([+-]?)((?:(?:\d+\.?\d*|\.\d+)(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h))+|0)", text)
    if not m:
        return None
    total = sum(float(n) * units[u] for n, u in
                re.findall(r"(\d+\.?\d*|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)", m.group(2)))
    return -total if m.group(1) == "-" else total


def _host(addr: str) -> str:
    """The IP of an "ip:port" / "[ip]:port" address."""
    host = addr.rpartition(":")[0] if addr.count(":") == 1 or addr.startswith("[") else addr
    return host[1:-1] if host.startswith("[") else host


def _port(addr: str) -> str:
    return addr.rpartition(":")[2]


# --- agnhost netexec (kubernetes/kubernetes test/images/agnhost/netexec/netexec.go) ------------


def _netexec(b: Behaviour, r: _GoRequest, w: _GoWriter, who: Identity, run_shell, dial, now: float) -> None:
    if b.override:
        # --http-override: every request is served as http.NewRequest("GET", override, nil)
        try:
            r = _GoRequest("GET", b.override, "HTTP/1.1", (), b"", "")
        except ValueError as e:
            w.error(f"override request failed: {e}", 500)
            return
    path = r.path
    if path == "/clientip":
        w.write(_go_printf(r.remote_addr))
    elif path == "/header":
        key = r.form_value("key")
        if key:
            w.write(r.get(key))
        else:
            w.write(_go_json({k: r.header[k] for k in sorted(r.header)}))
    elif path == "/dial":
        _netexec_dial(r, w, dial)
    elif path == "/echo":
        msg, code_text = r.form_value("msg"), r.form_value("code")
        if code_text:
            code = _go_int(code_text, base0=False)
            if code is None:
                w.write(f"argument 'code' must be an integer or empty, got {_go_quote(code_text)}\n")
                return
            w.write_header(code)
        w.write(msg)
    elif path == "/exit":
        _netexec_exit(r, w)
    elif path == "/healthz":
        w.write_header(200 if b.ready else 412)
    elif path == "/readyz":
        if b.ready:
            w.write("ok")
        else:
            w.write_header(412)
    elif path in ("/hostname", "/hostName"):
        w.write(who.pod)
    elif path == "/redirect":
        location, code_text = r.form_value("location"), r.form_value("code")
        code = 302
        if code_text:
            parsed = _go_int(code_text, base0=False)
            if parsed is None:
                w.write(f"argument 'code' must be an integer or empty, got {_go_quote(code_text)}\n")
                return
            code = parsed
        _go_redirect(w, r, location, code)
    elif path == "/shell":
        cmd = r.form_value("shellCommand") or r.form_value("cmd")
        if run_shell is None:
            out, err = "", "fork/exec /bin/sh: no such file or directory"
        else:
            stdout, stderr, status = run_shell(cmd)
            out = stdout + stderr                   # CombinedOutput
            err = "" if status == 0 else _exit_error(status)
        output = {}
        if err:
            output["error"] = err
        if out:
            output["output"] = out
        w.write(_go_json(output))
        w.shell = cmd
    elif path == "/upload":
        # the file lands in /uploads, which the built-in server does not keep
        has_file = b'name="file"' in r.body and r.get("Content-Type").lower().startswith("multipart/form-data")
        w.write(_go_json({"error": "Unable to open file for write" if has_file else "Unable to upload file."}))
    elif path == "/shutdown":
        w.exit_code = 0
        raise _NoReply
    else:
        w.write("NOW: " + _go_time(now, b.started))


def _exit_error(status: int) -> str:
    """exec.ExitError's text for a shell that exited with STATUS (negative: killed by -STATUS)."""
    if status >= 0:
        return f"exit status {status}"
    names = {1: "hangup", 2: "interrupt", 3: "quit", 6: "aborted", 9: "killed", 11: "segmentation fault",
             13: "broken pipe", 15: "terminated"}
    return f"signal: {names.get(-status, f'signal {-status}')}"


def _netexec_exit(r: _GoRequest, w: _GoWriter) -> None:
    wait_text, timeout_text, code_text = r.form_value("wait"), r.form_value("timeout"), r.form_value("code")
    timeout = _go_duration(timeout_text)
    if timeout is None and timeout_text:
        w.write(f"argument 'timeout' must be a valid golang duration or empty, got {_go_quote(timeout_text)}\n")
        return
    if _go_duration(wait_text) is None and wait_text:
        w.write(f"argument 'wait' must be a valid golang duration or empty, got {_go_quote(wait_text)}\n")
        return
    code = _go_int(code_text, base0=False)
    if code is None and code_text:
        w.write(f"argument 'code' must be an integer [0-127] or empty, got {_go_quote(code_text)}\n")
        return
    w.exit_code = code or 0
    if not timeout:
        raise _NoReply                              # os.Exit(code) before answering
    w.write_header(200)                             # graceful: the empty answer goes out, then the exit


def _netexec_dial(r: _GoRequest, w: _GoWriter, dial) -> None:
    q = r.query()
    first = {k: v[0] for k, v in q.items()}
    host, port, request = first.get("host", ""), first.get("port", ""), first.get("request", "")
    protocol, tries_text = first.get("protocol", ""), first.get("tries", "")
    tries = 1
    if tries_text:
        tries = _go_int(tries_text, base0=False)
        if tries is None:
            w.error(f'tries parameter is invalid. strconv.Atoi: parsing {_go_quote(tries_text)}: invalid syntax', 400)
            return
    if not request:
        w.error("request parameter not specified. <nil>", 400)
        return
    protocol = protocol.lower()
    if protocol not in ("", "http", "udp", "sctp"):
        w.error(f"unsupported protocol. {first.get('protocol', '')}", 400)
        return
    kind = protocol or "http"
    if port and not re.fullmatch(r"\d+", port) or port and int(port) > 65535:
        w.error(f"host and/or port param are invalid. address {port}: invalid port", 400)
        return
    responses, errors, last = [], [], ""
    for _ in range(tries):
        try:
            if dial is None:
                raise OSError("netlab: this server cannot dial")
            last = dial(kind, host, int(port or 0), request)
            responses.append(last)
        except OSError as e:
            last = ""
            errors.append(str(e))
    output = {}
    if errors:
        output["errors"] = errors
    if last:
        output["responses"] = responses             # sic: only when the last try answered
    w.write(_go_json(output))


# --- agnhost serve-hostname (test/images/agnhost/serve-hostname/serve_hostname.go) ------------


def _serve_hostname(b: Behaviour, w: _GoWriter, who: Identity) -> None:
    if b.close:
        w.set("Connection", "close")
    w.write(who.pod)


# --- hashicorp/http-echo (main.go, handlers.go) -----------------------------------------------


def _http_echo_reply(b: Behaviour, r: _GoRequest, w: _GoWriter) -> None:
    w.set("X-App-Name", "http-echo")
    w.set("X-App-Version", b.version)
    if r.path == "/health":
        w.write_header(200)
        w.write('{"status":"ok"}\n')
        return
    if not b.version.startswith("0."):
        w.write_header(b.status)                    # withAppHeaders(*statusFlag, ...)
    w.write(b.text + "\n")


# --- traefik/whoami (app.go, content.go at v1.11.0) ---------------------------------------------


def _whoami(b: Behaviour, r: _GoRequest, w: _GoWriter, who: Identity, now: float) -> None:
    path = r.path
    q = r.query()
    first = {k: v[0] for k, v in q.items()}
    ips = list(who.addresses) or ["127.0.0.1", who.pod_ip]
    if path == "/bench":
        w.set("Connection", "keep-alive")
        w.set("Content-Type", "text/plain")
        w.write("1")
    elif path == "/data":
        _whoami_data(first, w, now)
    elif path == "/echo":
        _whoami_echo(r, w)
    elif path == "/api":
        data = {"hostname": who.pod, "ip": ips, "headers": {k: r.header[k] for k in sorted(r.header)},
                "url": r.request_uri(), "host": r.host, "method": r.method, "name": b.name,
                "remoteAddr": r.remote_addr}
        if _go_bool(first.get("env", "")):
            data["environ"] = dict(sorted(b.env))
        data = {k: v for k, v in data.items() if v}     # omitempty
        w.set("Content-Type", "application/json")
        w.write(_go_json(data) + "\n")
    elif path == "/health":
        if r.method == "POST":
            _whoami_set_health(b, r, w)
        else:
            w.write_header(b.state.get("health", 200))
    else:
        lines = []
        if b.name:
            lines.append(f"Name: {b.name}")
        lines.append(f"Hostname: {who.pod}")
        lines += [f"IP: {ip}" for ip in ips]
        lines.append(f"RemoteAddr: {r.remote_addr}")
        w.write("".join(line + "\n" for line in lines).encode() + _go_request_write(r))
        if _go_bool(first.get("env", "")):
            w.write("".join(f"{k}={v}\n" for k, v in b.env))


def _go_request_write(r: _GoRequest) -> bytes:
    """Request.Write: the request as a Go client would send it (always HTTP/1.1, headers sorted)."""
    host = r.host
    if not re.fullmatch(r"[\x21-\x7e]*", host):
        host = ""                                   # an invalid Host is left out
    lines = [f"{r.method or 'GET'} {r.request_uri()} HTTP/1.1", f"Host: {host}"]
    agent = r.header.get("User-Agent")
    agent = agent[0] if agent is not None else "Go-http-client/1.1"
    if agent:
        lines.append(f"User-Agent: {agent.strip()}")
    if r.close and "close" not in ",".join(r.header.get("Connection", [])).lower():
        lines.append("Connection: close")
    length = len(r.body)
    if r.chunked:
        lines.append("Transfer-Encoding: chunked")
    elif length > 0 or r.method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {length}")
    for key in sorted(r.header):
        if key in ("Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer"):
            continue
        for value in r.header[key]:
            lines.append(f"{key}: {' '.join(value.splitlines()).strip()}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    if r.chunked:
        return head + (f"{length:x}\r\n".encode() + r.body + b"\r\n" if length else b"") + b"0\r\n\r\n"
    return head + r.body


def _whoami_data(first: dict[str, str], w: _GoWriter, now: float) -> None:
    size = _go_int(first.get("size", ""), base0=False)
    size = 1 if size is None else max(size, 0)
    size *= {"kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30, "tb": 1 << 40}.get(first.get("unit", "").lower(), 1)
    size = min(size, _WHOAMI_DATA_LIMIT)
    # contentReader: "|", then "-ABC...Z" cycling from index 1, the last byte "|"; size 1 gives nothing
    charset = "-ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    if size <= 1:
        content = b""
    else:
        body = (charset * (size // len(charset) + 1))[:size]
        content = ("|" + body[1:size - 1] + "|").encode()
    if _go_bool(first.get("attachment", "")):
        w.set("Content-Disposition", "Attachment")
        w.set("Accept-Ranges", "bytes")
        w.set("Last-Modified", http_date(now))
        w.set("Content-Type", _TEXT)            # http.ServeContent: by the name data.txt
    w.write(content)


def _whoami_echo(r: _GoRequest, w: _GoWriter) -> None:
    """gorilla/websocket v1.5.3 Upgrader.Upgrade's handshake checks (server.go)."""
    def has(name: str, token: str) -> bool:
        return any(token in (t.strip().lower() for t in v.split(",")) for v in r.header.get(name, []))
    status = None
    if not has("Connection", "upgrade") or not has("Upgrade", "websocket"):
        status = 400
    elif r.method != "GET":
        status = 405
    elif not has("Sec-Websocket-Version", "13"):
        status = 400
    if status is not None:
        w.set("Sec-Websocket-Version", "13")
        w.error(_GO_STATUS[status], status)
        return
    w.error("netlab: the built-in whoami does not speak WebSocket", 501)


def _whoami_set_health(b: Behaviour, r: _GoRequest, w: _GoWriter) -> None:
    """json.NewDecoder(body).Decode(&statusCode), then the next GET answers with it."""
    text = r.body.decode("utf-8", "replace").lstrip(" \t\r\n")
    if not text:
        w.error("EOF", 400)
        return
    try:
        value, end = json.JSONDecoder().raw_decode(text)
    except json.JSONDecodeError as e:
        if e.pos >= len(text):
            w.error("unexpected EOF", 400)
        else:
            c = text[e.pos]
            shown = "'\\''" if c == "'" else "'\"'" if c == '"' else "'" + _go_quote(c)[1:-1] + "'"
            w.error(f"invalid character {shown} looking for beginning of value", 400)
        return
    if value is None:
        b.state["health"] = 0                       # null leaves the fresh variable at 0: the next GET panics
        return
    if isinstance(value, bool) or not isinstance(value, int):
        kind = {bool: "bool", str: "string", list: "array", dict: "object"}.get(type(value))
        what = f"number {text[:end]}" if kind is None else kind
        w.error(f"json: cannot unmarshal {what} into Go value of type int", 400)
        return
    b.state["health"] = value


# --- nginx-based images -----------------------------------------------------------------------


def _nginx_page(status: int, server: str) -> Response:
    """nginx's own error page (ngx_http_special_response.c)."""
    title = f"{status} {_NGINX_STATUS[status]}"
    body = (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
            f"<hr><center>{server}</center>\r\n</body>\r\n</html>\r\n")
    return Response(status, _NGINX_STATUS[status], (("Server", server), ("Content-Type", "text/html")),
                    body.encode())


def _nginx_checks(request: Request, server: str, max_body: int) -> Response | None:
    hosts = [v for k, v in request.headers if k.lower() == "host"]
    if (request.version == "HTTP/1.1" and not hosts) or len(hosts) > 1:
        return _nginx_page(400, server)
    if len(request.body) > max_body:                # client_max_body_size
        return _nginx_page(413, server)
    return None


def _nginx_request_uri(target: str) -> str:
    """$request_uri: the target as sent, without an absolute-form scheme and host."""
    m = re.match(r"(?i)https?://[^/?]*(.*)", target)
    return (m.group(1) or "/") if m else target


def _nginx_host(request: Request, server_name: str) -> str:
    """$host: the request line's host, else the Host header's, lowercased without the port, else server_name."""
    m = re.match(r"(?i)https?://([^/?]*)", request.target)
    host = m.group(1) if m else next((v for k, v in request.headers if k.lower() == "host"), "")
    host = host.strip().lower()
    host = host[:host.index("]") + 1] if host.startswith("[") and "]" in host else host.split(":")[0]
    return host or server_name


def _nginx_time_local(now: float) -> str:
    t = datetime.fromtimestamp(int(now), timezone.utc)
    month = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()[t.month - 1]
    return f"{t.day:02d}/{month}/{t.year}:{t:%H:%M:%S} +0000"


def _lua_escape(data: bytes) -> bytes:
    """lua-resty-template's escape as the echoserver vendors it (template.lua): no "/"."""
    for raw, entity in ((b"&", b"&amp;"), (b"<", b"&lt;"), (b">", b"&gt;"), (b'"', b"&quot;"), (b"'", b"&#39;")):
        data = data.replace(raw, entity)
    return data


def _echoserver(b: Behaviour, request: Request, who: Identity) -> Response:
    version = b.version
    legacy = _version_tuple(version) < (1, 5)
    key = version if version in ECHOSERVER_VERSIONS else "1.4" if legacy else \
        "1.10" if _version_tuple(version) < (2, 0) else "2.2"
    nginx, lua = ECHOSERVER_VERSIONS[key]
    failed = _nginx_checks(request, f"nginx/{nginx}", 10 * 1024 * 1024)
    if failed:
        return failed
    env = dict(b.env)
    headers: dict[str, list[str]] = {}
    for name, value in request.headers:
        if re.fullmatch(r"[A-Za-z0-9-]+", name):    # nginx ignores names with "_" or other characters
            headers.setdefault(name.lower(), []).append(value)
    keys = sorted(headers, key=lambda k: k.encode())
    uri = _nginx_request_uri(request.target)
    query = uri.partition("?")[2] if "?" in uri else None
    http_version = {"HTTP/1.1": "1.1", "HTTP/1.0": "1", "HTTP/2.0": "2", "HTTP/0.9": "0.9"}.get(request.version, "1.1")
    full_uri = f"http://{_nginx_host(request, '_')}:{_port(request.server)}{uri}"
    # lua_need_request_body: a body over client_body_buffer_size (16k) goes to a file, $request_body is then nil
    body = request.body if 0 < len(request.body) <= 16384 else None
    remote = _host(request.client)
    if legacy:
        # kubernetes-retired/contrib ingress/echoheaders/nginx.conf at eba1360b5 (Makefile TAG = 1.4)
        lines = ["CLIENT VALUES:", f"client_address={remote}", f"command={request.method}",
                 f"real path={uri}", f"query={'nil' if query is None else query}",
                 f"request_version={http_version}", f"request_uri={full_uri}", "",
                 "SERVER VALUES:", f"server_version=nginx: {nginx} - lua: {lua}", "", "HEADERS RECEIVED:"]
        lines += [f"{k}={''.join(headers[k])}" for k in keys]
        lines.append("BODY:")
        page = ("\n".join(lines) + "\n").encode() + (body if body is not None else b"-no body in request-")
        server = f"nginx/{nginx}"
    else:
        # kubernetes/kubernetes test/images/echoserver/nginx.conf: the template, with its {% %} lines
        # removed whole and every {{ }} value HTML-escaped; ngx.say adds the last newline.
        def e(text: str) -> str:
            return _lua_escape(text.encode()).decode()
        out = ["\n\nHostname: ", e(env.get("HOSTNAME", who.pod)), "\n\nPod Information:\n"]
        if "POD_NAME" in env:
            out += [f"\tnode name:\t{e(env.get('NODE_NAME', 'N/A'))}\n",
                    f"\tpod name:\t{e(env['POD_NAME'])}\n",
                    f"\tpod namespace:\t{e(env.get('POD_NAMESPACE', 'N/A'))}\n",
                    f"\tpod IP:\t{e(env.get('POD_IP', 'N/A'))}\n"]
        else:
            out.append("\t-no pod information available-\n")
        out += ["\nServer values:\n", f"\tserver_version=nginx: {nginx} - lua: {lua}\n",
                "\nRequest Information:\n", f"\tclient_address={e(remote)}\n", f"\tmethod={e(request.method)}\n",
                f"\treal path={e(uri)}\n", f"\tquery={e(query or '')}\n", f"\trequest_version={http_version}\n",
                "\trequest_scheme=http\n", f"\trequest_uri={e(full_uri)}\n", "\nRequest Headers:\n"]
        for k in keys:
            values = headers[k]
            if len(values) > 1:
                out += [f"\t{e(k)}={e(v)}\n" for v in values]
            else:
                out.append(f"\t{e(k)}={e(values[0])}  \n")
        out.append("\nRequest Body:\n")
        page = "".join(out).encode() + (_lua_escape(body) if body is not None else b"\t-no body in request-") + b"\n\n"
        server = "echoserver"                       # ngx.header["Server"] = "echoserver"
    return Response(200, "OK", (("Server", server), ("Content-Type", "text/plain")), page)


def _nginx_hello(b: Behaviour, request: Request, who: Identity, now: float) -> Response:
    # nginxinc/NGINX-Demos nginx-hello/hello.conf, hello-plain-text.conf, index.html (and the
    # nginx-hello-nonroot copies on 8080). The nginx version is the one the image was built on:
    # unknown here, so the replies say "nginx" as with server_tokens off.
    server = "nginx"
    failed = _nginx_checks(request, server, 1024 * 1024)
    if failed:
        return failed
    address = f"{_host(request.server)}:{_port(request.server)}"
    uri = _nginx_request_uri(request.target)
    date = _nginx_time_local(now)
    request_id = os.urandom(16).hex()               # $request_id: 16 random bytes in hex
    expires = (("Expires", http_date(now - 1)), ("Cache-Control", "no-cache"))   # expires -1
    if b.plain_text:
        text = (f"Server address: {address}\nServer name: {who.pod}\nDate: {date}\nURI: {uri}\n"
                f"Request ID: {request_id}\n")
        return Response(200, "OK", (("Server", server), ("Content-Type", "text/plain")) + expires, text.encode())
    if request.method not in ("GET", "HEAD"):
        return _nginx_page(405, server)             # the static module serves GET and HEAD only
    # index.html's text, with sub_filter's substitutions; its logo, styles and script are left out
    page = ("<!DOCTYPE html>\n<html>\n<head>\n<title>Hello World</title>\n</head>\n<body>\n<div class=\"info\">\n"
            f"<p><span>Server&nbsp;address:</span> <span>{address}</span></p>\n"
            f"<p><span>Server&nbsp;name:</span> <span>{who.pod}</span></p>\n"
            f"<p class=\"smaller\"><span>Date:</span> <span>{date}</span></p>\n"
            f"<p class=\"smaller\"><span>URI:</span> <span>{uri}</span></p>\n"
            "</div>\n<div id=\"footer\">\n<div id=\"center\" align=\"center\">\n"
            f"Request ID: {request_id}<br/>\n</div>\n</div>\n</body>\n</html>\n")
    return Response(200, "OK", (("Server", server), ("Content-Type", "text/html")) + expires, page.encode())


# ---------------------------------------------------------------------------------------------
# UDP, raw TCP, logs


def udp_reply(behaviour: Behaviour, payload: bytes, client: str, who: Identity) -> bytes | None:
    """The image's answer to one datagram from CLIENT ("ip:port"); None: no answer."""
    if behaviour.image == "agnhost serve-hostname":
        return who.pod.encode()                     # any datagram gets the hostname
    if behaviour.image != "agnhost netexec":
        return None
    # startUDPServer: a 2048-byte buffer, the text trimmed and lowercased, then one of three commands
    text = payload[:2048].decode("utf-8", "replace").strip().lower()
    if text == "hostname":
        return who.pod.encode()
    if text.startswith("echo "):
        return text.split(" ", 1)[1].encode()
    if text == "clientip":
        return client.encode()
    return None


def tcp_greeting(behaviour: Behaviour, who: Identity) -> bytes | None:
    """What a raw-TCP image writes on accept before closing (serve-hostname --tcp); None: it speaks HTTP."""
    return who.pod.encode() if behaviour.raw_tcp else None


def startup_log(behaviour: Behaviour, now: float | None = None) -> list[str]:
    """The lines the image prints as it starts (or the error it exits with); Go's log package
    prefixes them with the time."""
    now = time.time() if now is None else now
    stamp = datetime.fromtimestamp(int(now), timezone.utc).strftime("%Y/%m/%d %H:%M:%S ")
    b = behaviour
    if b.exits is not None:
        lines = b.exits.split("\n") if b.exits else []
        return [stamp + line for line in lines] if b.exits_logged else lines
    if b.image == "agnhost netexec":
        lines = [f"Started HTTP server on port {b.tcp_ports[0]}"]
        lines += [f"Started UDP server on port  {p}" for p in b.udp_ports]    # sic: its address is ""
        lines += ["Started SCTP server"] * len(b.unserved)
        return [stamp + line for line in lines]
    if b.image == "agnhost serve-hostname":
        return [stamp + f"Serving on port {b.listen}."]
    if b.image == "agnhost pause":
        return ["Paused"]
    if b.image == "hashicorp/http-echo":
        text = f"Server is listening on {b.listen}" if b.version.startswith("0.") else \
            f"[INFO] server is listening on {b.listen}"
        return [stamp + text]
    if b.image == "traefik/whoami":
        return [stamp + f"Starting up on port {b.listen}"]
    if b.image == "hello-app":
        return [stamp + f"Server listening on port {b.listen}"]
    if b.image == "echoserver" and _version_tuple(b.version) >= (1, 10):
        return ["Generating self-signed cert", "Starting nginx"]                     # run.sh
    return []


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(when: float | None = None) -> str:
    """WHEN (now by default) as an HTTP date (RFC 9110's IMF-fixdate): `Sun, 06 Nov 1994 08:49:37 GMT`."""
    # email.utils.formatdate(usegmt=True) says the same, but email.utils imports random, whose fork
    # handler would reseed in every container the forker forks (runtime/forker.py)
    t = time.gmtime(when)
    return (f"{_WEEKDAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT")
