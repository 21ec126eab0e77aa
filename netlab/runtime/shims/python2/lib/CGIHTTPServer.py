"""Python 2's CGIHTTPServer on Python 3's http.server: `python -m CGIHTTPServer [PORT]` runs the
scripts under ./cgi-bin, as Python 2 did."""

import sys
import warnings

with warnings.catch_warnings():           # deprecated in 3.13, still what Python 2 users meant
    warnings.simplefilter("ignore", DeprecationWarning)
    from http.server import CGIHTTPRequestHandler, HTTPServer, test

__all__ = ["CGIHTTPRequestHandler"]

if __name__ == "__main__":
    test(HandlerClass=CGIHTTPRequestHandler, ServerClass=HTTPServer,
         port=int(sys.argv[1]) if len(sys.argv) > 1 else 8000, bind="0.0.0.0")
