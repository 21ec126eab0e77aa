"""Python 2's BaseHTTPServer on Python 3's http.server (the same classes under their old names)."""

from http.server import BaseHTTPRequestHandler, HTTPServer

__all__ = ["BaseHTTPRequestHandler", "HTTPServer"]
