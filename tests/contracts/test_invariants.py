"""Stateful invariant (hypothesis state machine on the brownie chain): the tokens held by
the market always equal the sum of every account's free + locked balance, kept by a ghost
total of deposits minus withdrawals; at the end every session is wound up and everyone
withdraws everything, leaving the market with no token. Sessions take every path money
leaves escrow by (issue 11 added the last three): settled, voided by no result, bonds
forfeited per bid, per seller or at release, a result never final by the attestation
deadline, awards whose delivery was never recorded (lapsed at the delivery deadline).

brownie 1.22's own `state_machine` fixture is compiled (mypyc) and rejects the subclass
hypothesis builds, so the machine is a plain RuleBasedStateMachine that snapshots the chain
when an example starts and reverts it when the example ends.
"""

import brownie
from conftest import label
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

SETTINGS = settings(
    max_examples=8, stateful_step_count=8, deadline=None, suppress_health_check=list(HealthCheck)
)


class EscrowMachine(RuleBasedStateMachine):
    env = None  # set by the test
    actors: list = []
    assets: dict = {}

    def __init__(self):
        super().__init__()
        brownie.chain.snapshot()
        self.ghost = int(self.env.token.balanceOf(self.env.market))
        self.sessions = []
        self.delivery_deadlines = []

    # ---------------------------------------------------------------- rules
    @rule(st_account=st.integers(0, 5), st_amount=st.integers(1, 10**11))
    def deposit(self, st_account, st_amount):
        account = self.actors[st_account]
        self.env.token.mint(account, st_amount, {"from": self.env.admin})
        self.env.token.approve(self.env.market, st_amount, {"from": account})
        self.env.market.deposit(st_amount, {"from": account})
        self.ghost += st_amount

    @rule(st_account=st.integers(0, 5), st_fraction=st.integers(1, 100))
    def withdraw(self, st_account, st_fraction):
        account = self.actors[st_account]
        free = self.env.balances(account)[0]
        amount = free * st_fraction // 100
        if amount:
            self.env.market.withdraw(amount, {"from": account})
            self.ghost -= amount

    @rule(
        st_bids=st.integers(1, 3),
        st_unrevealed=st.integers(0, 7),
        st_delivered=st.integers(0, 100),
        st_stop=st.integers(0, 4),
        st_forfeit=st.integers(0, 2),
        st_quorum=st.integers(1, 2),
        st_recorded=st.integers(0, 7),
    )
    def session(self, st_bids, st_unrevealed, st_delivered, st_stop, st_forfeit, st_quorum,
                st_recorded):
        """A session run up to a random phase (0 open .. 4 settled and released): needs,
        joins, commits, reveals (some never), forfeits (per bid, per seller or left to the
        release), result (quorum 2 with one attestation: never final), delivery (some awards
        never recorded: they lapse), settlement."""
        env = self.env
        delivery_deadline = env.now() + 60_000
        sid = env.open_session(slotCount=4, minBidW=100, attestationQuorum=st_quorum,
                               deliveryDeadline=delivery_deadline)
        self.delivery_deadlines.append(delivery_deadline)
        env.post_need(sid, quantity_w=15_000, budget=15_000 * 900_000)
        sellers = [env.agg1, env.agg2]
        for seller in sellers:
            env.join(sid, seller, st_bids)
        self.sessions.append(sid)
        bids = []
        for i in range(st_bids):
            seller = sellers[i % 2]
            asset = self.assets[seller.address][i // 2]
            bid = env.make_bid(sid, [asset], quantity_w=4_000 + 100 * i, price=300_000 + i)
            bids.append((seller, bid, env.commit(seller, bid)[0]))
        if st_stop == 0:
            return
        env.to_reveal(sid)
        revealed = []
        for i, (seller, bid, bid_id) in enumerate(bids):
            if not (st_unrevealed >> i) & 1:
                env.reveal(seller, bid)
                revealed.append((seller, bid, bid_id))
        if st_stop == 1:
            return
        env.to_clearing(sid)
        unrevealed = [(seller, bid_id) for seller, _bid, bid_id in bids
                      if all(bid_id != r[2] for r in revealed)]  # fmt: skip
        if st_forfeit == 0:
            for _seller, bid_id in unrevealed:
                env.market.forfeitBond(bid_id, {"from": env.oracle})
        elif st_forfeit == 1:
            for seller in {seller for seller, _ in unrevealed}:
                env.market.forfeitBonds(sid, seller, {"from": env.owner})
        awards = [env.award(bid_id, bid[4], bid[6]) for _, bid, bid_id in revealed]
        env.commit_result(sid, awards)
        env.market.attestResult(sid, label("result"), {"from": env.validator})
        if st_stop == 2 or st_quorum == 2:
            return
        count = len(awards)
        recorded = [i for i in range(count) if not (st_recorded >> i) & 1]
        if recorded:
            delivered = [env.market.award(sid, i)[1][1] * st_delivered // 100 for i in recorded]
            env.market.recordDeliveries(
                sid, recorded, delivered, "0x" + "ee" * 32, {"from": env.metering}
            )
        if len(recorded) < count:
            env.sleep_until(delivery_deadline)  # the others lapse
        if count:
            env.market.settleAwards(sid, 0, count, {"from": env.owner})
        if st_stop == 3:
            return
        self._release(sid)

    # ---------------------------------------------------------------- invariants
    @invariant()
    def tokens_held_equal_free_plus_locked(self):
        held = int(self.env.token.balanceOf(self.env.market))
        assert held == self.ghost
        assert held == sum(sum(self.env.balances(a)) for a in self.actors)

    def teardown(self):
        env = self.env
        if self.sessions:  # every deadline passed: nothing may stay locked
            env.sleep_until(max(self.delivery_deadlines))
        for sid in self.sessions:
            money = env.session(sid)[3]
            status, awards, settled = int(money[0]), int(money[4]), int(money[5])
            if status == 3 and settled < awards:  # final: what was never delivered lapses
                env.market.settleAwards(sid, 0, awards, {"from": env.owner})
            self._release(sid)
        for account in self.actors:
            free, locked = env.balances(account)
            assert locked == 0, f"{account} still has {locked} locked"
            if free:
                env.market.withdraw(free, {"from": account})
                self.ghost -= free
        assert int(env.token.balanceOf(env.market)) == self.ghost == 0
        brownie.chain.revert()

    def _release(self, sid):
        env = self.env
        for need in range(int(env.session(sid)[3][3])):
            if not env.market.need(sid, need)[1][2]:
                env.market.releaseBudget(sid, need, {"from": env.owner})
        for seller in (env.agg1, env.agg2):
            p = env.market.participation(sid, seller)
            if p[0] and not p[5]:
                env.market.releaseSellerFunds(sid, seller, {"from": env.owner})


def test_escrow_holds_exactly_free_plus_locked_and_everyone_can_withdraw_everything(env):
    EscrowMachine.env = env
    EscrowMachine.actors = [env.dso, env.tso, env.brp, env.agg1, env.agg2, env.oracle]
    # one-asset bids: 3 prequalified assets of 5,000 W per aggregator, registered once
    EscrowMachine.assets = {
        a.address: env.register_assets(a, 3, p_max_w=5_000) for a in (env.agg1, env.agg2)
    }
    run_state_machine_as_test(EscrowMachine, settings=SETTINGS)
