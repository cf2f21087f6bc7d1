"""The cluster id `cpnet stack up` formats Kafka's storage with.

Kafka's storage tool reads an argument that starts with "-" as an option: an id of that shape made
`stack up` fail once in 64 fresh stacks ("argument --cluster-id/-t: expected one argument").
"""

from __future__ import annotations

import base64
import re

from cpnet.stack import cluster_id


def test_a_cluster_id_never_starts_with_a_dash() -> None:
    # Without the rule, 10,000 ids hold one starting with "-" with probability 1 - (63/64)**10000.
    ids = [cluster_id() for _ in range(10_000)]
    assert not [value for value in ids if value.startswith("-")]


def test_a_cluster_id_is_a_uuid_in_22_characters_of_url_safe_base64() -> None:
    value = cluster_id()
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", value)
    assert len(base64.urlsafe_b64decode(value + "==")) == 16
