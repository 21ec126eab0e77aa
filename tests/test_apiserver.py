"""What the lab's API server endpoint answers an anonymous caller (netlab/apiserver.py)."""

import json

from netlab import apiserver


def test_version_is_public_as_kube_apiservers():
    code, content_type, body = apiserver.answer("GET", "/version")
    assert code == 200 and content_type == "application/json"
    assert json.loads(body)["gitVersion"] == "v1.35.0" and json.loads(body)["platform"] == "linux/amd64"


def test_health_paths_answer_ok():
    assert [apiserver.answer("GET", path)[::2] for path in ("/healthz", "/livez", "/readyz?verbose")] == \
        [(200, "ok")] * 3


def test_anything_else_is_forbidden_to_system_anonymous():
    code, _, body = apiserver.answer("GET", "/api/v1/namespaces/default/pods")
    status = json.loads(body)
    assert code == 403 and status["reason"] == "Forbidden" and status["code"] == 403
    assert status["message"] == 'forbidden: User "system:anonymous" cannot get path "/api/v1/namespaces/default/pods"'
