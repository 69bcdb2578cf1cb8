"""The reserve market's SDK (`contracts/FlexReserve.sol`, `docs/reserve.md`): deployment
beside the market's contracts, one client per key with a method for every lifecycle step,
and the mapping from the engine's files (`oracle.reserve`) to the contract's calls.

    address = deploy_reserve(w3, admin_wallet, deployment)
    reserve = ReserveContract(w3, address)
    dso = ReserveClient(reserve, dso_key)
    tender = dso.create_tender(tender_params(reserve_file))

Every method that writes sends one signed transaction and returns the decoded events of its
receipt; a revert raises `TransactionReverted` with the contract's error name (as
`python_client.clients`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract

from python_client.artifacts import load_artifact
from python_client.chain import Deployment, ErrorDecoder, Wallet, _abi_type
from python_client.contract_types import Direction
from python_client.errors import DeploymentError
from python_client.hashing import label
from python_client.paths import ARTIFACTS_DIR
from python_client.records import ChainEvent, GasLog

if TYPE_CHECKING:
    from oracle.reserve import ReserveFile, ReserveResult

RESERVE = "FlexReserve"


def deploy_reserve(w3: Web3, admin: Wallet, deployment: Deployment,
                   artifacts_dir: Path | None = None) -> str:
    """Deploy FlexReserve on the deployment's token and registry; its address."""
    art = load_artifact(RESERVE, artifacts_dir or ARTIFACTS_DIR)
    factory = w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
    receipt = admin.transact(factory.constructor(deployment.token, deployment.registry),
                             kind=f"deploy:{RESERVE}")
    address = receipt["contractAddress"]
    if address is None:
        raise DeploymentError(f"{RESERVE} deployment returned no address")
    return str(address)


class ReserveContract:
    """FlexReserve at an address, with its token, its errors (and the registry's, which its
    offers' asset checks raise) and its events decoded."""

    def __init__(self, w3: Web3, address: str, artifacts_dir: Path | None = None) -> None:
        self.w3 = w3
        arts = {name: load_artifact(name, artifacts_dir or ARTIFACTS_DIR)
                for name in (RESERVE, "FlexRegistry", "FlexToken")}
        self.contract: Contract = w3.eth.contract(
            address=Web3.to_checksum_address(address), abi=arts[RESERVE].abi)
        self.token: Contract = w3.eth.contract(
            address=Web3.to_checksum_address(self.contract.functions.token().call()),
            abi=arts["FlexToken"].abi)
        self.errors = ErrorDecoder([a.abi for a in arts.values()])
        self._topics: dict[bytes, str] = {}
        for item in arts[RESERVE].abi:
            if item.get("type") == "event":
                sig = f"{item['name']}({','.join(_abi_type(i) for i in item['inputs'])})"
                self._topics[keccak(text=sig)] = item["name"]

    @property
    def address(self) -> str:
        return str(self.contract.address)

    def decode_logs(self, receipt: Any) -> list[ChainEvent]:
        events = []
        for log in receipt["logs"]:
            if log["address"].lower() != self.address.lower() or not log["topics"]:
                continue
            name = self._topics.get(bytes(log["topics"][0]))
            if name is None:
                continue
            decoded = self.contract.events[name]().process_log(log)
            events.append(ChainEvent(name, dict(decoded["args"]), log["address"],
                                     int(log["blockNumber"]), log["transactionHash"].hex(),
                                     int(log["logIndex"])))
        return events


@dataclass(frozen=True)
class Tender:
    number: int
    events: list[ChainEvent]


class ReserveClient:
    """One key's side of the reserve market: the DSO, an aggregator, the oracle, the
    metering operator or anyone (permissionless settlement steps and views)."""

    def __init__(self, reserve: ReserveContract, private_key: str,
                 gas_log: GasLog | None = None) -> None:
        self.reserve = reserve
        self.wallet = Wallet(reserve.w3, private_key, reserve.errors, gas_log)
        self.address = self.wallet.address

    @property
    def fn(self) -> Any:
        return self.reserve.contract.functions

    def _send(self, fn: Any) -> list[ChainEvent]:
        # the same key usually sends the market's transactions too (another Wallet): the
        # nonce is read from the node for each transaction rather than counted here
        self.wallet.reset_nonce()
        return self.reserve.decode_logs(self.wallet.transact(fn))

    @staticmethod
    def _one(events: list[ChainEvent], name: str, key: str) -> int:
        return int(next(e.args[key] for e in events if e.name == name))

    # --- money (FlexReserve's own escrow)
    def balances(self) -> tuple[int, int]:
        free, locked = self.wallet.call(self.fn.balancesOf(self.address))
        return int(free), int(locked)

    def deposit(self, amount_ueur: int) -> list[ChainEvent]:
        """Approve FlexReserve and deposit into the free balance."""
        self._send(self.reserve.token.functions.approve(self.reserve.address, amount_ueur))
        return self._send(self.fn.deposit(amount_ueur))

    def withdraw(self, amount_ueur: int) -> list[ChainEvent]:
        return self._send(self.fn.withdraw(amount_ueur))

    def withdraw_all(self) -> int:
        free, _ = self.balances()
        if free:
            self.withdraw(free)
        return free

    # --- DSO
    def create_tender(self, params: tuple[Any, ...]) -> int:
        return self._one(self._send(self.fn.createTender(params)), "TenderCreated", "tender")

    def request_activation(self, tender: int, offer_index: int, start_s: int, duration_s: int,
                           power_w: int) -> int:
        events = self._send(self.fn.requestActivation(tender, offer_index, start_s, duration_s,
                                                      power_w))
        return self._one(events, "ActivationRequested", "activationId")

    # --- aggregator
    def submit_offer(self, tender: int, offer: tuple[Any, ...]) -> int:
        return self._one(self._send(self.fn.submitOffer(tender, offer)), "OfferSubmitted",
                         "offerIndex")

    def modify_offer(self, tender: int, offer_index: int, offer: tuple[Any, ...]
                     ) -> list[ChainEvent]:
        return self._send(self.fn.modifyOffer(tender, offer_index, offer))

    def cancel_offer(self, tender: int, offer_index: int) -> list[ChainEvent]:
        return self._send(self.fn.cancelOffer(tender, offer_index))

    def acknowledge(self, activation_id: int) -> list[ChainEvent]:
        return self._send(self.fn.acknowledgeActivation(activation_id))

    def signal_inability(self, activation_id: int) -> list[ChainEvent]:
        return self._send(self.fn.signalInability(activation_id))

    # --- oracle
    def commit_awards(self, tender: int, input_hash: bytes, result_hash: bytes,
                      rows: list[tuple[int, int]]) -> list[ChainEvent]:
        return self._send(self.fn.commitAwards(tender, input_hash, result_hash, rows))

    # --- metering operator
    def commit_meter_data(self, tender: int, day: int, meter_hash: bytes) -> list[ChainEvent]:
        return self._send(self.fn.commitMeterData(tender, day, meter_hash))

    def record_delivery(self, activation_id: int, delivered_wh: int, meter_hash: bytes
                        ) -> list[ChainEvent]:
        return self._send(self.fn.recordDelivery(activation_id, delivered_wh, meter_hash))

    # --- anyone
    def release_offer(self, tender: int, offer_index: int) -> list[ChainEvent]:
        return self._send(self.fn.releaseOffer(tender, offer_index))

    def lapse_tender(self, tender: int) -> list[ChainEvent]:
        return self._send(self.fn.lapseTender(tender))

    def settle_availability(self, tender: int, offer_index: int) -> list[ChainEvent]:
        return self._send(self.fn.settleAvailability(tender, offer_index))

    def close_award(self, tender: int, offer_index: int) -> list[ChainEvent]:
        return self._send(self.fn.closeAward(tender, offer_index))

    # --- views: every state of the flexibility object
    def tender(self, tender: int) -> Any:
        return self.wallet.call(self.fn.tenderOf(tender))

    def offer(self, tender: int, offer_index: int) -> Any:
        return self.wallet.call(self.fn.offerOf(tender, offer_index))

    def award(self, tender: int, offer_index: int) -> Any:
        return self.wallet.call(self.fn.awardOf(tender, offer_index))

    def activation(self, activation_id: int) -> Any:
        return self.wallet.call(self.fn.activationOf(activation_id))

    def meter_data(self, tender: int, day: int) -> bytes:
        return bytes(self.wallet.call(self.fn.meterDataOf(tender, day)))


# ------------------------------------------------------------------ the engine's files


def _hash32(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text.removeprefix("0x"))


def tender_params(f: ReserveFile) -> tuple[Any, ...]:
    """The reserve file's tender as `createTender`'s TenderParams (field order of
    IFlexReserve.sol). The tender id, product and zone are UTF-8 labels of at most 32 bytes."""
    from oracle.reserve.files import Period, max_quantity_w

    t = f.tender
    period = Period.of(t)
    direction = Direction.UP if t.direction == "up" else Direction.DOWN
    return (
        label(t.id), label(t.product), label(t.zone), int(direction), period.start_s, t.days,
        period.daily_start_s, period.daily_end_s, _unix(t.gate_closure), t.quantity_w,
        max_quantity_w(t), t.granularity_w, t.notice_minutes * 60,
        t.min_activation_minutes * 60, t.max_activation_minutes * 60, t.max_activations,
        t.max_failures, t.tolerance_percent, t.availability_price_cap_eur_per_mw_h,
        t.utilisation_price_cap_eur_per_mwh, t.shortfall_penalty_eur_per_mwh,
        t.inability_penalty_eur_per_mw, t.collateral_eur_per_mw,
    )


def _unix(moment: Any) -> int:
    from oracle.reserve.files import unix_s

    return unix_s(moment)


def award_rows(result: ReserveResult, offer_indices: dict[str, int]) -> list[tuple[int, int]]:
    """The result's awards as `commitAwards` rows (sorted by the offers' chain indices)."""
    return sorted((offer_indices[a.offer], a.quantity_w) for a in result.awards)


def result_hashes(result: ReserveResult) -> tuple[bytes, bytes]:
    return _hash32(result.input_hash), _hash32(result.result_hash)
