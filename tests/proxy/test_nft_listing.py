"""`nft list table` read back in kube-proxy's spelling (netlab/proxy/nft_listing.py), on text
listed by this machine's nft 1.0.6 from a lab's node."""

from netlab.proxy.nft_listing import (canonical_rule, chain_rules, listing_details,
                                      rule_in_kube_proxy_spelling)

LISTING = """\
table ip kube-proxy {
	comment "rules for kube-proxy"
	set affinity-B43G3Z4Q-default/web-sticky/tcp/__10.244.1.3/80 {
		type ipv4_addr
		size 65535
		flags dynamic,timeout
		timeout 10m
	}

	chain nat-prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		jump services
	}

	chain masquerading {
		meta mark & 0x00004000 == 0x00000000 return
		meta mark set meta mark ^ 0x00004000
		masquerade fully-random
	}

	chain mark-for-masquerade {
		meta mark set meta mark | 0x00004000
	}

	chain reject-chain {
		comment "helper for @no-endpoint-services / @no-endpoint-nodeports"
		reject
	}

	chain service-X-default/web/tcp/http {
		ip daddr 10.102.58.63 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
		numgen random mod 2 vmap { 0 : goto endpoint-A-default/web/tcp/http__10.244.1.3/80, 1 : goto endpoint-B-default/web/tcp/http__10.244.1.4/80 }
	}

	chain cluster-ips-check {
		ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"
		ip daddr 10.96.0.0/12 drop comment "Drop traffic to unallocated ClusterIPs"
	}
}
"""


def test_each_chains_rules_are_read_without_its_declaration_or_comment():
    rules = chain_rules(LISTING)
    assert rules["nat-prerouting"] == ["jump services"]
    assert rules["reject-chain"] == ["reject"]
    assert len(rules["service-X-default/web/tcp/http"]) == 2
    assert "affinity-B43G3Z4Q-default/web-sticky/tcp/__10.244.1.3/80" not in rules


def test_rules_come_back_in_knftables_spelling():
    rules = {chain: [rule_in_kube_proxy_spelling(r) for r in listed] for chain, listed in chain_rules(LISTING).items()}
    assert rules["masquerading"] == ["mark and 0x00004000 == 0 return", "mark set mark xor 0x00004000",
                                     "masquerade fully-random"]
    assert rules["mark-for-masquerade"] == ["mark set mark or 0x00004000"]
    assert rules["service-X-default/web/tcp/http"][1] == (
        "numgen random mod 2 vmap { 0 : goto endpoint-A-default/web/tcp/http__10.244.1.3/80 , "
        "1 : goto endpoint-B-default/web/tcp/http__10.244.1.4/80 }")


def test_the_canonical_form_drops_one_member_braces_and_leading_zeros():
    assert canonical_rule('ip daddr { 10.96.0.0/12 } drop') == canonical_rule('ip daddr 10.96.0.0/12 drop')
    assert canonical_rule("mark set mark or 0x4000") == canonical_rule("mark set mark or 0x00004000")
    assert canonical_rule("update @a { ip saddr }") == "update @a { ip saddr }"


def test_what_the_json_listing_lacks_is_read_from_the_text():
    details = listing_details(LISTING)
    assert details["table_comment"] == "rules for kube-proxy"
    assert details["chain_comments"] == {"reject-chain": "helper for @no-endpoint-services / @no-endpoint-nodeports"}
    assert details["set_flags"] == {"affinity-B43G3Z4Q-default/web-sticky/tcp/__10.244.1.3/80": ["dynamic", "timeout"]}
