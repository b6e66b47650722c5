"""The daemon must notice its replica's view changes: it logs them, and it puts the transactions of
an abandoned proposal back in its mempool (``release_in_flight``) so that it can propose them again
when it is primary. Without that, a transaction only this node still holds is never proposed by it
(seen in the quorum-loss scenario: recovery waited for the next primary holding it, ~60 s).

Regression test: ``Node._pump`` used to read the view only after the step()/tick() that changed
it, so the new primary never noticed (no log line, no release_in_flight)."""

from __future__ import annotations

import pytest

from node.sdk.client import Wallet
from node.sdk.localnet import LocalNet
from tests.integration.helpers import register_accounts


@pytest.mark.timeout(60)
async def test_survivors_notice_the_view_change_after_the_primary_dies(net: LocalNet, admin: Wallet) -> None:
    await register_accounts(net, admin, 2)
    primary = (await net.status(1))["view"] % 4
    net.kill(primary)
    others = [i for i in range(4) if i != primary]
    results = await register_accounts(net, admin, 2, via=others)  # commits only in a new view
    assert all(r["result"]["ok"] for r in results)
    views = {i: s["view"] for i, s in (await net.heights(others)).items()}
    assert all(view > 0 for view in views.values()), views
    new_primary = max(views.values()) % 4
    # "view-change" when it leaves a view, "new-view" when it enters one (a new primary with a
    # quorum of view changes in hand may do both in one step and log only the second).
    logged = [i for i in others if any(word in net.log_path(i).read_text() for word in ("view-change", "new-view"))]
    assert new_primary in logged, f"the new primary v{new_primary} did not notice its view change (logged: {logged})"
