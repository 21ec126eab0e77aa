"""kubectl's -l/--selector grammar (netlab/labelselector.py)."""

import pytest

from netlab import labelselector


@pytest.mark.parametrize("selector, labels, matches", [
    ("app=web", {"app": "web"}, True),
    ("app==web", {"app": "web", "tier": "front"}, True),
    ("app=web", {"app": "db"}, False),
    ("app!=web", {"app": "db"}, True),
    ("app!=web", {}, True),                          # a missing key is not equal
    ("env in (prod, qa)", {"env": "qa"}, True),
    ("env in (prod,qa)", {}, False),
    ("env notin (dev)", {}, True),
    ("env notin (dev)", {"env": "dev"}, False),
    ("tier", {"tier": ""}, True),
    ("!tier", {"tier": "x"}, False),
    ("app=web,env in (prod,qa),!canary", {"app": "web", "env": "prod"}, True),
    ("app=web,env in (prod,qa),!canary", {"app": "web", "env": "prod", "canary": "1"}, False),
])
def test_a_selector_matches_as_kubectl_parses_it(selector, labels, matches):
    assert labelselector.parse(selector)(labels) is matches


@pytest.mark.parametrize("selector", ["app in (", "app=web,,x", "a b"])
def test_a_selector_kubectl_cannot_parse_is_refused(selector):
    with pytest.raises(labelselector.SelectorError):
        labelselector.parse(selector)


def test_labels_show_sorted_by_key_or_none():
    assert labelselector.format_labels({"b": "2", "a": "1"}) == "a=1,b=2"
    assert labelselector.format_labels({}) == "<none>"
