"""kubectl's -o jsonpath, -o custom-columns and --sort-by (netlab/jsonpath.py).

Expected output is kubectl's: the examples of https://kubernetes.io/docs/reference/kubectl/jsonpath/ and,
where that page is silent, the code it documents at v1.35 -- k8s.io/client-go/util/jsonpath (jsonpath.go and the
cases of its jsonpath_test.go), k8s.io/kubectl/pkg/cmd/get (customcolumn.go, sorter.go) and
k8s.io/cli-runtime/pkg/printers/jsonpath.go for the wording of errors.
"""

import copy
import json

import pytest

from netlab.jsonpath import JSONPathError, custom_columns, render, sort_objects

# The input of the JSONPath page's table of functions.
DOCS_INPUT = {
    "kind": "List",
    "items": [
        {"kind": "None",
         "metadata": {"name": "127.0.0.1", "labels": {"kubernetes.io/hostname": "127.0.0.1"}},
         "status": {"capacity": {"cpu": "4"}, "addresses": [{"type": "LegacyHostIP", "address": "127.0.0.1"}]}},
        {"kind": "None",
         "metadata": {"name": "127.0.0.2"},
         "status": {"capacity": {"cpu": "8"},
                    "addresses": [{"type": "LegacyHostIP", "address": "127.0.0.2"},
                                  {"type": "another", "address": "127.0.0.3"}]}},
    ],
    "users": [
        {"name": "myself", "user": {}},
        {"name": "e2e", "user": {"username": "admin", "password": "secret"}},
    ],
}


def pod(name, node=None, ip=None, phase="Running", ready="True", restarts=None, images=("nginx:1.25",),
        labels=None, started=None):
    """A pod as `kubectl get pod -o json` shows it (trimmed to what the tests read)."""
    obj = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": labels or {"app": name.split("-")[0]},
                     "creationTimestamp": started or "2025-01-01T00:00:00Z"},
        "spec": {"containers": [{"name": image.split(":")[0], "image": image} for image in images],
                 "restartPolicy": "Always"},
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": ready}]},
    }
    if node:
        obj["spec"]["nodeName"] = node
    if ip:
        obj["status"]["podIP"] = ip
        obj["status"]["podIPs"] = [{"ip": ip}]
    if restarts is not None:
        obj["status"]["containerStatuses"] = [{"name": obj["spec"]["containers"][0]["name"], "ready": True,
                                               "restartCount": restarts}]
    if started:
        obj["status"]["startTime"] = started
    return obj


WEB_1 = pod("web-1", "node-1", "10.244.1.5", restarts=0, images=("nginx:1.25", "busybox:1.36"),
            labels={"app": "web", "tier": "frontend"}, started="2025-03-01T10:00:00Z")
WEB_2 = pod("web-2", "node-2", "10.244.2.7", restarts=3, started="2025-03-01T09:30:00Z")
DB_0 = pod("db-0", phase="Pending", ready="False", images=("postgres:16",))
PODS = [WEB_1, WEB_2, DB_0]


def as_list(items):
    """What `kubectl get pods -o jsonpath` runs the template over: the List object."""
    return {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}


# --- the JSONPath page's table, row by row -------------------------------------------------------------------------

@pytest.mark.parametrize("template, printed", [
    ("kind is {.kind}", "kind is List"),
    ("{.kind}", "List"),
    ("{['kind']}", "List"),
    ("{..name}", "127.0.0.1 127.0.0.2 myself e2e"),
    # the page writes the result as [127.0.0.1 127.0.0.2]; kubectl separates the values with a space
    ("{.items[*].metadata.name}", "127.0.0.1 127.0.0.2"),
    ("{.users[0].name}", "myself"),
    # the page still shows Go's map[cpu:4]; kubectl prints maps as JSON now (jsonpath.go PrintResults,
    # jsonpath_test.go "union nodes capacity")
    ("{.items[*]['metadata.name', 'status.capacity']}", '127.0.0.1 127.0.0.2 {"cpu":"4"} {"cpu":"8"}'),
    ('{.users[?(@.name=="e2e")].user.password}', "secret"),
    ("{range .items[*]}[{.metadata.name}, {.status.capacity}] {end}",
     '[127.0.0.1, {"cpu":"4"}] [127.0.0.2, {"cpu":"8"}] '),
    ("{range .items[*]}{.metadata.name}{'\\t'}{end}", "127.0.0.1\t127.0.0.2\t"),
], ids=["text", "child", "child-brackets", "recursive-descent", "wildcard", "subscript", "union", "filter",
        "range", "quoted-string"])
def test_the_jsonpath_pages_examples_print_what_kubectl_prints(template, printed):
    assert render(template, DOCS_INPUT) == printed


def test_at_prints_the_whole_input_as_compact_json_with_sorted_keys():
    # the page's `{@}`: "the same as input", written as Go's json.Marshal writes a map
    printed = render("{@}", DOCS_INPUT)
    assert json.loads(printed) == DOCS_INPUT
    assert printed.startswith('{"items":[{"kind":"None","metadata":{"labels":{"kubernetes.io/hostname":"127.0.0.1"},')
    assert " " not in printed


# --- the page's kubectl examples, over a pod list -----------------------------------------------------------------

def test_items_0_prints_the_first_pod_as_json():
    assert json.loads(render("{.items[0]}", as_list(PODS))) == WEB_1
    assert render("{.items[0].metadata.name}", as_list(PODS)) == "web-1"


def test_range_prints_each_pod_name_and_start_time_on_its_own_line():
    template = '{range .items[*]}{.metadata.name}{"\\t"}{.status.startTime}{"\\n"}{end}'
    assert render(template, as_list(PODS)) == ("web-1\t2025-03-01T10:00:00Z\n"
                                               "web-2\t2025-03-01T09:30:00Z\n"
                                               "db-0\t\n")


def test_range_prints_each_pod_name_and_ip_on_its_own_line():
    template = '{range .items[*]}{.metadata.name}{" "}{.status.podIP}{"\\n"}{end}'
    assert render(template, as_list(PODS)) == "web-1 10.244.1.5\nweb-2 10.244.2.7\ndb-0 \n"


def test_a_wildcard_prints_every_items_value_separated_by_spaces():
    assert render("{.items[*].status.podIP}", as_list(PODS)) == "10.244.1.5 10.244.2.7"
    assert render("{.items[*].spec.containers[*].image}", as_list(PODS)) == \
        "nginx:1.25 busybox:1.36 nginx:1.25 postgres:16"


def test_a_dot_inside_a_key_is_escaped_in_the_dotted_and_the_bracket_forms_alike():
    # `{['name\.type']}` on the page: a dot inside a key is escaped, in the dotted form and in brackets alike,
    # since ['a.b'] is read as .a.b (parser.go parseArray) -- which is what the union example relies on
    labelled = pod("web-3", labels={"app.kubernetes.io/name": "web"})
    assert render("{.metadata.labels.app\\.kubernetes\\.io/name}", labelled) == "web"
    assert render("{.metadata.labels['app\\.kubernetes\\.io/name']}", labelled) == "web"
    assert render("{['metadata.name']}", labelled) == "web-3"
    assert render("{.metadata.labels['app.kubernetes.io/name']}", labelled) == ""


# --- fields, indexes and slices ----------------------------------------------------------------------------------

def test_text_outside_braces_is_printed_as_is_and_a_missing_key_prints_nothing():
    # kubectl's -o jsonpath allows missing keys (jsonpath_test.go "nonexistent field 2")
    assert render("before-{.hello}after", WEB_1) == "before-after"
    assert render("{.status.podIP}", DB_0) == ""


def test_a_missing_key_is_an_error_when_missing_keys_are_not_allowed():
    # --allow-missing-template-keys=false; kubectl goes on to dump the template and the object
    with pytest.raises(JSONPathError) as refused:
        render("{.status.podIP}", DB_0, allow_missing=False)
    assert str(refused.value) == \
        'error executing jsonpath "{.status.podIP}": Error executing template: podIP is not found'


def test_negative_indexes_count_from_the_end_and_slices_take_a_range():
    pods = as_list(PODS)
    assert render("{.items[-1].metadata.name}", pods) == "db-0"
    assert render("{.items[-2:].metadata.name}", pods) == "web-2 db-0"
    assert render("{.items[0:2].metadata.name}", pods) == "web-1 web-2"
    assert render("{.items[:1].metadata.name}", pods) == "web-1"
    assert render("{.items[0:-1].metadata.name}", pods) == "web-1 web-2"
    assert render("{.items[::2].metadata.name}", pods) == "web-1 db-0"
    assert render("{.items[0:0].metadata.name}", pods) == ""


def test_a_union_of_indexes_picks_those_items():
    assert render("{.items[0,2].metadata.name}", as_list(PODS)) == "web-1 db-0"


@pytest.mark.parametrize("template, items, reason", [
    ("{.items[5].metadata.name}", PODS, "array index out of bounds: index 5, length 3"),
    ("{.items[-4].metadata.name}", PODS, "array index out of bounds: index -1, length 3"),
    ("{.items[0].metadata.name}", [], "array index out of bounds: index 0, length 0"),
    ("{.items[2:1]}", PODS, "starting index 2 is greater than ending index 1"),
    ("{.items[::0]}", PODS, "step must be > 0"),
    ("{.items[0].metadata[0]}", PODS, "map[string]interface {} is not array or slice"),
])
def test_an_index_outside_the_list_is_an_error_even_with_missing_keys_allowed(template, items, reason):
    with pytest.raises(JSONPathError) as refused:
        render(template, as_list(items))
    assert str(refused.value) == f'error executing jsonpath "{template}": Error executing template: {reason}'


# --- filters --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("comparison, names", [
    ("==0", "web-1"), ("!=0", "web-2"), ("<3", "web-1"), (">0", "web-2"), ("<=3", "web-1 web-2"), (">=3", "web-2"),
])
def test_a_filter_compares_with_each_operator_and_skips_items_without_the_field(comparison, names):
    template = "{.items[?(@.status.containerStatuses[0].restartCount%s)].metadata.name}" % comparison
    assert render(template, as_list(PODS)) == names


def test_a_bare_filter_keeps_the_items_that_have_the_field():
    # jsonpath_test.go "exists filter"
    assert render("{.items[?(@.status.podIP)].metadata.name}", as_list(PODS)) == "web-1 web-2"


def test_a_filter_inside_a_wildcard_picks_each_pods_ready_condition():
    template = '{.items[*].status.conditions[?(@.type=="Ready")].status}'
    assert render(template, as_list(PODS)) == "True True False"


def test_a_filter_compares_with_true_and_false_as_booleans():
    # jsonpath_test.go "bool item"
    template = "{.items[?(@.status.containerStatuses[0].ready==true)].metadata.name}"
    assert render(template, as_list(PODS)) == "web-1 web-2"


def test_a_filter_comparing_a_string_with_a_number_is_an_error():
    with pytest.raises(JSONPathError, match="incompatible types for comparison$"):
        render("{.items[?(@.status.phase>1)].metadata.name}", as_list(PODS))


def test_a_filter_that_misses_a_key_is_an_error_when_missing_keys_are_not_allowed():
    # jsonpath_test.go TestFilterPartialMatchesSometimesMissingAnnotations
    with pytest.raises(JSONPathError, match="podIP is not found$"):
        render('{.items[?(@.status.podIP=="10.244.1.5")].metadata.name}', as_list(PODS), allow_missing=False)
    assert render('{.items[?(@.status.podIP=="10.244.1.5")].metadata.name}', as_list(PODS)) == "web-1"


def test_a_whole_float_compares_equal_to_an_int_as_the_api_server_would_send_it():
    # Go writes float64(3) as 3, which kubectl reads back as an int64; 2.5 stays a float, which == 3 refuses
    scaled = {"items": [{"name": "a", "replicas": 3.0}, {"name": "b", "replicas": 2.0}]}
    assert render("{.items[?(@.replicas==3)].name}", scaled) == "a"
    with pytest.raises(JSONPathError, match="incompatible types for comparison$"):
        render("{.items[?(@.replicas==3)].name}", {"items": [{"name": "c", "replicas": 2.5}]})


# --- ranges ---------------------------------------------------------------------------------------------------------

def test_nested_ranges_print_each_pods_containers():
    # jsonpath_test.go TestNestedRanges
    template = '{range .items[*]}{.metadata.name}{":"}{range .spec.containers[*]}{.name}{","}{end}{"+"}{end}'
    assert render(template, as_list(PODS)) == "web-1:nginx,busybox,+web-2:nginx,+db-0:postgres,+"


def test_a_range_over_nothing_prints_nothing_and_what_follows_its_end_still_prints():
    # jsonpath_test.go TestEmptyRange
    template = '{range .items[*]}{.metadata.name}{range .spec.containers[*]}{.name}{end}{"\\n"}{end}done'
    assert render(template, as_list([])) == "done"


def test_at_inside_a_range_is_the_item():
    assert render("{range .items[*]}{@.metadata.name};{end}", as_list(PODS)) == "web-1;web-2;db-0;"


def test_an_end_without_a_range_is_an_error():
    with pytest.raises(JSONPathError, match="Error executing template: not in range, nothing to end$"):
        render("{range .items[*]}{.metadata.name}{end}{end}", as_list(PODS))


# --- printing -------------------------------------------------------------------------------------------------------

def test_maps_and_lists_print_as_compact_json_with_sorted_keys():
    assert render("{.metadata.labels}", WEB_1) == '{"app":"web","tier":"frontend"}'
    assert render("{.spec.containers}", DB_0) == '[{"image":"postgres:16","name":"postgres"}]'
    assert render("{.status.conditions[*]}", DB_0) == '{"status":"False","type":"Ready"}'


def test_json_output_escapes_html_characters_as_go_does():
    annotated = pod("web-4", labels={"note": "<b>&</b>"})
    assert render("{.metadata.labels}", annotated) == '{"note":"\\u003cb\\u003e\\u0026\\u003c/b\\u003e"}'
    assert render("{.metadata.labels.note}", annotated) == "<b>&</b>"


@pytest.mark.parametrize("value, printed", [
    (3, "3"), (-7, "-7"), (0.5, "0.5"), (2.25, "2.25"), (1.5e-07, "1.5e-07"), (0.0001, "0.0001"),
    (123456.5, "123456.5"), (1234567.5, "1.2345675e+06"), (3.0, "3"), (1e21, "1e+21"),
    (True, "true"), (False, "false"), (None, "null"), ("Running", "Running"),
])
def test_a_scalar_prints_as_go_prints_it(value, printed):
    # strings raw, numbers by fmt's %v, null as null (jsonpath.go evalToText)
    assert render("{.x}", {"x": value}) == printed


def test_numbers_inside_json_print_as_go_encodes_them():
    # encoding/json: no exponent below 1e21 nor above 1e-6, and e-7 rather than e-07
    assert render("{.m}", {"m": {"a": 1.5e-07, "b": 1234567.5, "c": 3.0, "d": 1e21}}) == \
        '{"a":1.5e-7,"b":1234567.5,"c":3,"d":1e+21}'


def test_string_literals_take_gos_escapes_in_either_quote():
    assert render('{"a\\tb\\n"}', {}) == "a\tb\n"
    assert render("{'\\t'}", {}) == "\t"
    assert render('{"caf\\u00e9 \\x41\\101"}', {}) == "café AA"
    assert render("{'it\\'s'}", {}) == "it's"
    assert render('{"{"}', {}) == "{"


def test_a_maps_values_come_in_key_order_where_go_takes_them_at_random():
    assert render("{.metadata.labels.*}", WEB_1) == "web frontend"
    assert render("{.items[0]..image}", as_list(PODS)) == "nginx:1.25 busybox:1.36"


# --- refusals -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("template, reason", [
    ("{.items[*}", "unterminated array"),
    ("{.items[?(@.x)}", "unclosed array expect ]"),
    ("{.items[?(@.x}", "unterminated filter"),
    ("{.metadata.name", "unclosed action"),
    ("{.items[x]}", "invalid array index x"),
    ("{.items[-]}", "array index - is not a number"),
    ("{!}", "unrecognized character in action: U+0021 '!'"),
    ('{"a}', "unterminated quoted string"),
    ('{"\\q"}', 'unquote string "\\q" error invalid syntax'),
    ("{....name}", "invalid multiple recursive descent"),
    ("{1.2.3}", "cannot parse number 1.2.3"),
])
def test_a_template_kubectl_cannot_parse_is_refused_with_its_message(template, reason):
    # cli-runtime's jsonpath_flags.go: "error parsing jsonpath %s, %v"
    with pytest.raises(JSONPathError) as refused:
        render(template, as_list(PODS))
    assert str(refused.value) == f"error parsing jsonpath {template}, {reason}"


def test_an_unknown_word_in_a_template_is_refused_when_it_runs():
    with pytest.raises(JSONPathError) as refused:
        render("{hello}", WEB_1)
    assert str(refused.value) == \
        'error executing jsonpath "{hello}": Error executing template: unrecognized identifier hello'


def test_an_empty_template_is_refused():
    with pytest.raises(JSONPathError, match="^template format specified but no template given$"):
        render("", WEB_1)


# --- custom columns (customcolumn.go) -------------------------------------------------------------------------------

def test_custom_columns_give_the_headers_and_a_row_per_object_with_none_where_nothing_matched():
    headers, rows = custom_columns("NAME:.metadata.name,IP:.status.podIP,NODE:.spec.nodeName", PODS)
    assert headers == ["NAME", "IP", "NODE"]
    assert rows == [["web-1", "10.244.1.5", "node-1"], ["web-2", "10.244.2.7", "node-2"], ["db-0", "<none>", "<none>"]]


@pytest.mark.parametrize("expression", ["{.metadata.name}", ".metadata.name", "{metadata.name}", "metadata.name"])
def test_a_custom_column_expression_may_drop_the_braces_and_the_leading_dot(expression):
    # RelaxedJSONPathExpression
    assert custom_columns(f"NAME:{expression}", PODS)[1] == [["web-1"], ["web-2"], ["db-0"]]


def test_several_values_in_one_cell_are_joined_by_commas():
    _, rows = custom_columns("NAME:.metadata.name,IMAGES:.spec.containers[*].image", PODS)
    assert rows[0] == ["web-1", "nginx:1.25,busybox:1.36"]


def test_custom_columns_print_maps_as_go_prints_them_not_as_json():
    # printOneObject formats each value with fmt.Sprint
    _, rows = custom_columns("LABELS:.metadata.labels,NULL:.x,RATIO:.ratio", [{**WEB_1, "x": None, "ratio": 0.25}])
    assert rows == [["map[app:web tier:frontend]", "<nil>", "0.25"]]


def test_custom_columns_defuse_terminal_escape_sequences():
    # printers.EscapeTerminal (kubernetes#101695)
    _, rows = custom_columns("NOTE:.note", [{"note": "\x1b[31mred\r"}])
    assert rows == [["^[[31mred\\r"]]


@pytest.mark.parametrize("spec, message", [
    ("", "custom-columns format specified but no custom columns given"),
    ("NAME", "unexpected custom-columns spec: NAME, expected <header>:<json-path-expr>"),
    ("NAME:.metadata.name,", "unexpected custom-columns spec: , expected <header>:<json-path-expr>"),
    ("NAME:{.metadata.name}}", "unexpected path string, expected a 'name1.name2' or '.name1.name2' or "
                               "'{name1.name2}' or '{.name1.name2}'"),
    ("NAME:.spec.containers[*", "unterminated array"),
])
def test_a_malformed_custom_columns_spec_is_refused_with_kubectls_message(spec, message):
    with pytest.raises(JSONPathError) as refused:
        custom_columns(spec, PODS)
    assert str(refused.value) == message


# --- --sort-by (sorter.go) ------------------------------------------------------------------------------------------

def names(objects):
    return [obj["metadata"]["name"] for obj in objects]


def test_sort_by_name_orders_strings_lexically():
    assert names(sort_objects(PODS, ".metadata.name")) == ["db-0", "web-1", "web-2"]
    assert names(sort_objects(PODS, "{.metadata.name}")) == ["db-0", "web-1", "web-2"]


def test_sort_by_a_number_orders_numerically():
    pods = [pod("a", restarts=10), pod("b", restarts=9), pod("c", restarts=0)]
    assert names(sort_objects(pods, ".status.containerStatuses[0].restartCount")) == ["c", "b", "a"]


def test_sort_by_strings_that_read_as_quantities_orders_them_by_amount():
    # isLess parses both strings with resource.ParseQuantity first: "9" < "10", "500m" < "1"
    pods = [pod(f"p{i}") for i in range(4)]
    for obj, version, cpu in zip(pods, ["10", "9", "100", "11"], ["1", "500m", "2", "1500m"]):
        obj["metadata"]["resourceVersion"] = version
        obj["spec"]["containers"][0]["resources"] = {"requests": {"cpu": cpu}}
    assert names(sort_objects(pods, ".metadata.resourceVersion")) == ["p1", "p0", "p3", "p2"]
    assert names(sort_objects(pods, ".spec.containers[0].resources.requests.cpu")) == ["p1", "p0", "p3", "p2"]


def test_sort_by_ip_orders_the_strings_lexically_not_by_address():
    pods = [pod("a", ip="10.244.2.7"), pod("b", ip="10.244.10.2"), pod("c", ip="10.244.1.5")]
    assert names(sort_objects(pods, ".status.podIP")) == ["c", "b", "a"]


def test_sort_by_a_timestamp_orders_by_time():
    pods = [pod("new", started="2025-03-02T08:00:00Z"), pod("old", started="2024-12-31T23:59:59Z"),
            pod("mid", started="2025-01-15T12:00:00Z")]
    assert names(sort_objects(pods, ".metadata.creationTimestamp")) == ["old", "mid", "new"]


def test_sort_puts_objects_without_the_field_first_and_keeps_ties_in_their_order():
    # sorter.go's Less calls an object without the field less than any other, even another without it, so
    # Go's insertion sort happens to reverse those among themselves; here they keep their order like any tie
    unscheduled = copy.deepcopy(DB_0)
    unscheduled["metadata"]["name"] = "db-1"
    pods = [WEB_2, DB_0, WEB_1, unscheduled]
    assert names(sort_objects(pods, ".status.podIP")) == ["db-0", "db-1", "web-1", "web-2"]
    assert names(sort_objects(pods, ".status.phase")) == ["db-0", "db-1", "web-2", "web-1"]


def test_sort_without_an_expression_keeps_the_order():
    assert names(sort_objects(PODS, "")) == ["web-1", "web-2", "db-0"]
    assert sort_objects([], ".metadata.name") == []


@pytest.mark.parametrize("expression, message", [
    (".status.bogus", "couldn't find any field with path \"{.status.bogus}\" in the list of objects"),
    ("{.metadata.name}}", "unexpected path string, expected a 'name1.name2' or '.name1.name2' or "
                          "'{name1.name2}' or '{.name1.name2}'"),
    (".spec.containers[*", "unterminated array"),
    (".metadata", "Field {.metadata} in *unstructured.Unstructured is an unsortable type: interface, "
                  "err: unsortable type: map[string]interface {}"),
])
def test_sort_refuses_what_kubectl_refuses(expression, message):
    with pytest.raises(JSONPathError) as refused:
        sort_objects(PODS, expression)
    assert str(refused.value) == message


def test_sort_refuses_to_order_a_number_against_a_string():
    mixed = [{"metadata": {"name": "a"}, "x": 1}, {"metadata": {"name": "b"}, "x": "1"}]
    with pytest.raises(JSONPathError, match="err: unsortable interface: interface$"):
        sort_objects(mixed, ".x")
