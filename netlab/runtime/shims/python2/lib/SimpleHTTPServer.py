"""Python 2's SimpleHTTPServer on Python 3's http.server: `python -m SimpleHTTPServer [PORT]` serves
the current directory on every IPv4 address, as Python 2 did."""

import sys
from http.server import HTTPServer, SimpleHTTPRequestHandler, test

__all__ = ["SimpleHTTPRequestHandler"]

if __name__ == "__main__":
    test(HandlerClass=SimpleHTTPRequestHandler, ServerClass=HTTPServer,
         port=int(sys.argv[1]) if len(sys.argv) > 1 else 8000, bind="0.0.0.0")
