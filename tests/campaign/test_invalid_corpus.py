"""The invalid-input corpus (tests/campaign/corpus.py): every case is refused with one-line problems
naming file, line and field, never a traceback, and a running lab is left exactly as it was.
"""

import re

import pytest

from netlab import lab as lab_mod, manifest, state
from netlab.manifest import ManifestError
from netlab.manifest.errors import shorten
from tests.campaign import corpus, figures
from tests.conftest import lab_namespaces, netlab_cli, unique_lab

CASES = corpus.cases()
STORE_CASES = corpus.store_cases()

MAX_LINE = 500           # a problem line stays readable: huge values are shortened

# A spread over the kinds of badness, for the real CLI (each run costs a Python start-up)
CLI_SAMPLE = (
    "name of 100 KB (Deployment)", "containerPort 2^31 (Pod)", "type Nodeport (Service)",
    "restartPolicy Sometimes (Pod)", "misspelled imagePullPolicy (Deployment)",
    "selector that does not match the template (Deployment)", "duplicate port name (Service)",
    "clusterIP None on a NodePort Service (Service)", "source range with prefix /33 (Service)",
    "annotations over 256 KiB (Namespace)", "probe with two handlers (Pod)", "a tab in the indentation",
    "a duplicate replicas", "a Pod in a namespace that does not exist", "a Service's clusterIP changed",
    "a bare Pod's container port changed",
)


def complaints(case, lines, file):
    """What is wrong with the problem LINES netlab printed for CASE written as FILE; [] when all is right."""
    if not lines:
        return ["refused with an empty message"]
    found = []
    # a path longer than 80 characters (a 64-character label key) is shortened on screen like any value
    head = f"{file}:{case.line}: " + (f"{shorten(case.path)}: " if case.path else "")
    if not lines[0].startswith(head):
        found.append(f"the first problem does not start with {head!r}: {lines[0][:300]!r}")
    if case.says and case.says not in lines[0]:
        found.append(f"the first problem does not say {case.says!r}: {lines[0][:300]!r}")
    problem_line = re.compile(re.escape(file) + r":\d+: ")
    for line in lines:
        if "\n" in line:
            found.append(f"a problem spans lines: {line[:300]!r}")
        elif not problem_line.match(line):
            found.append(f"not a `file:line: ` problem line: {line[:300]!r}")
        if len(line) >= MAX_LINE:
            found.append(f"a problem line of {len(line)} characters: {line[:120]!r}...")
    return found


def outcome(case, file, attempt):
    """Run ATTEMPT (a load, or a load and an apply) and say what is wrong with how it refused CASE."""
    try:
        attempt()
    except ManifestError as err:
        return complaints(case, [str(problem) for problem in err.errors], file)
    except lab_mod.LabError as err:
        return complaints(case, str(err).splitlines(), file)
    except Exception as err:                    # anything else reaches the user as a traceback
        return [f"crashed: {type(err).__name__}: {err}"]
    return ["accepted"]


def report(failures):
    return "\n".join(f"{name}: {problems[0]}" for name, problems in failures.items())


# ------------------------------------------------------------------------------- without a lab

def test_the_corpus_holds_at_least_200_static_cases_with_unique_files():
    assert len(CASES) >= 200
    names = [case.name for case in CASES + STORE_CASES]
    assert len(names) == len(set(names))


def test_every_static_case_is_refused_in_one_line_naming_file_line_and_field():
    failures = {}
    for case in CASES:
        found = outcome(case, case.file, lambda: manifest.loads(case.text, case.file))
        if found:
            failures[f"{case.name} ({case.description})"] = found
    figures.record("invalid inputs rejected", len(CASES) - len(failures))
    assert not failures, report(failures)


def test_store_cases_are_valid_on_their_own():
    """So that the lab test proves the refusal comes from the lab's store, not the document."""
    for case in STORE_CASES:
        manifest.loads(case.text, case.file)


# ------------------------------------------------------------------------------------ in a lab

@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """ONE small lab for every case: two nodes, and the corpus's Namespace, Deployment, Service and Pod."""
    name = unique_lab("nlv")
    lab_file = tmp_path_factory.mktemp("lab") / "lab.yaml"
    lab_file.write_text(corpus.lab_text())
    try:
        netlab_cli("up", "-f", str(lab_file), "--name", name)
        yield name
    finally:
        netlab_cli("down", "--name", name, check=False)
    assert lab_namespaces(name) == []


def stored(lab):
    """What an apply may change. The supervisor rewrites status at any time, so not the whole state."""
    st = state.load(lab)
    return st.objects, st.resource_version, st.allocations.get("services")


def apply_file(lab, path):
    return lambda: lab_mod.apply(lab, manifest.load(str(path)), create=False)


@pytest.mark.root
def test_every_case_is_refused_by_a_running_lab_and_changes_nothing(lab, tmp_path):
    before = stored(lab)
    assert {(o["kind"], o["metadata"]["name"]) for o in before[0]} >= \
        {("Namespace", "team-a"), ("Deployment", "web"), ("Service", "web"), ("Pod", "solo")}
    failures = {}
    for case in CASES + STORE_CASES:
        path = tmp_path / case.file
        path.write_text(case.text)
        found = outcome(case, str(path), apply_file(lab, path))
        after = stored(lab)
        if after != before:
            found.append("the lab's stored objects changed")
            before = after                       # so that the next case is judged on its own
        if found:
            failures[f"{case.name} ({case.description})"] = found
    figures.record("invalid inputs rejected", len(CASES) + len(STORE_CASES) - len(failures))
    assert not failures, report(failures)


@pytest.mark.root
def test_the_cli_refuses_a_sample_in_error_lines_without_a_traceback(lab, tmp_path):
    by_description = {case.description: case for case in CASES + STORE_CASES}
    sample = [by_description[description] for description in CLI_SAMPLE]
    before = stored(lab)
    for case in sample:
        path = tmp_path / case.file
        path.write_text(case.text)
        result = netlab_cli("apply", "-f", str(path), "--name", lab, check=False)
        assert result.returncode != 0 and "Traceback" not in result.stderr, (case.name, result.stderr)
        lines = result.stderr.splitlines()
        assert lines and lines[0].startswith("error: "), (case.name, result.stderr[:500])
        lines[0] = lines[0][len("error: "):]
        assert complaints(case, lines, str(path)) == [], (case.name, result.stderr[:500])
    assert stored(lab) == before
