"""The nft table read back from a namespace (dataplane/nftables.read_whole_table) equals what was
written, object for object: every table of the nftables golden tests (upstream's expectations,
in knftables' spelling) is loaded into a throwaway namespace with `nft -f`, listed back by the
kernel's nft in its own spelling, and compared after proxy/nft_listing.py undid the difference."""

from __future__ import annotations

import secrets
import subprocess

import pytest

from netlab.dataplane import nftables
from netlab.proxy.nft_listing import canonical_rule
from netlab.proxy.nft_ruleset import NftTable

from proxy_testlib import GOLDEN

pytestmark = pytest.mark.root

NFT = GOLDEN / "nft"
# whole tables: a test's expectation after baseRules, or a dump of its own
TABLES = ["overall.nft", "bad_ips.nft", "repeated_1_initial.nft", "repeated_2_add_service.nft",
          "repeated_5_service_without_endpoints.nft", "repeated_8_add_endpoint.nft", "startup_expected.nft"]


@pytest.fixture(scope="module")
def scratch():
    name = f"nltest-nftrb-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


_ORDER = {"table": 0, "chain": 1, "set": 2, "map": 2, "rule": 3, "element": 4}


def _objects_first(text: str) -> str:
    """The golden text (sorted as upstream compares, rules before sets) in an order a table can be
    built in: what a rule or element names exists before it."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return "\n".join(sorted(lines, key=lambda line: _ORDER[line.split()[1]])) + "\n"


def _canonical(table: NftTable) -> list:
    return sorted(canonical_rule(line) for line in table.dump().splitlines())


@pytest.mark.parametrize("golden", TABLES)
def test_the_table_read_back_is_the_table_written(scratch, golden):
    text = (NFT / golden).read_text()
    if "add table" not in text:
        text = (NFT / "base_rules.nft").read_text() + text
    written = NftTable.from_text(_objects_first(text))
    nftables.delete_table(scratch)
    nftables.apply(scratch, written.dump())
    read = nftables.read_whole_table(scratch)
    assert read is not None
    assert _canonical(read) == _canonical(written)


def test_no_table_reads_back_as_none(scratch):
    nftables.delete_table(scratch)
    assert nftables.read_whole_table(scratch) is None
