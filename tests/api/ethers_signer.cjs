// What an aggregator with only ethers v6 and the `siwe` npm package does, as docs/api.md
// ("From JavaScript") says: tests/api/test_api_ethers.py feeds it tasks (JSON on stdin)
// and checks its answers against the API and python_client. Run with NODE_PATH set to a
// node_modules folder holding ethers@6 and siwe.
"use strict";
const { AbiCoder, Wallet, keccak256, toUtf8Bytes, zeroPadBytes, TypedDataEncoder } = require("ethers");
const { SiweMessage } = require("siwe");

// A label (zone) as bytes32: its UTF-8 bytes, right-padded with zeros (at most 32 bytes;
// ethers' encodeBytes32String stops at 31). "0x" and 64 hex digits is the bytes32 itself.
function label(text) {
  if (/^0x[0-9a-fA-F]{64}$/.test(text)) return text.toLowerCase();
  const bytes = toUtf8Bytes(text);
  if (bytes.length > 32) throw new Error(`label ${text} is longer than 32 bytes`);
  return zeroPadBytes(bytes, 32);
}

const COMMITMENT_TYPES = [
  "uint64", "address", "bytes32", "uint8", "bool", "uint40", "uint40", "uint64",
  "uint256", "bytes32[]", "bytes32",
];
const DIRECTION = { up: 0, down: 1 };

function commitment(sessionId, seller, bid) {
  return keccak256(AbiCoder.defaultAbiCoder().encode(COMMITMENT_TYPES, [
    BigInt(sessionId), seller, label(bid.zone), DIRECTION[bid.direction], bid.divisible,
    BigInt(bid.quantity_w), BigInt(bid.min_quantity_w), BigInt(bid.price_eur_per_mw),
    BigInt(bid.slot_mask), bid.asset_ids, bid.salt,
  ]));
}

function bidId(seller, commitmentHash) {
  return keccak256(AbiCoder.defaultAbiCoder().encode(["address", "bytes32"], [seller, commitmentHash]));
}

const TYPES = {
  CommitBid: [
    { name: "seller", type: "address" }, { name: "sessionId", type: "uint64" },
    { name: "commitment", type: "bytes32" }, { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint256" },
  ],
  RevealBid: [
    { name: "seller", type: "address" }, { name: "commitment", type: "bytes32" },
    { name: "nonce", type: "uint256" }, { name: "deadline", type: "uint256" },
  ],
  JoinSession: [
    { name: "seller", type: "address" }, { name: "sessionId", type: "uint64" },
    { name: "addedBids", type: "uint16" }, { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint256" },
  ],
};

async function run(task) {
  const wallet = new Wallet(task.private_key);
  const out = { address: wallet.address };
  if (task.siwe) {
    const s = task.siwe;
    const message = new SiweMessage({
      domain: s.domain, address: wallet.address, statement: s.statement, uri: s.uri,
      version: "1", chainId: s.chain_id, nonce: s.nonce, issuedAt: s.issued_at,
      expirationTime: s.expiration_time,
    }).prepareMessage();
    out.siwe = { message, signature: await wallet.signMessage(message) };
  }
  if (task.commit) {
    const c = task.commit;  // relay_domain as GET /deployment gives it
    const hash = commitment(c.session_id, wallet.address, c.bid);
    const domain = c.relay_domain;
    const value = {
      seller: wallet.address, sessionId: BigInt(c.session_id), commitment: hash,
      nonce: BigInt(c.nonce), deadline: BigInt(c.deadline),
    };
    out.commit = {
      commitment: hash, bid_id: bidId(wallet.address, hash),
      digest: TypedDataEncoder.hash(domain, { CommitBid: TYPES.CommitBid }, value),
      // the body of POST /sessions/{id}/bids: big integers as decimal strings
      body: {
        commitment: hash, nonce: String(c.nonce), deadline: String(c.deadline),
        signature: await wallet.signTypedData(domain, { CommitBid: TYPES.CommitBid }, value),
      },
    };
    const reveal = { seller: wallet.address, commitment: hash, nonce: BigInt(c.reveal_nonce),
                     deadline: BigInt(c.deadline) };
    out.commit.reveal_signature = await wallet.signTypedData(
      domain, { RevealBid: TYPES.RevealBid }, reveal);
  }
  if (task.tx) {
    // a prepared transaction (POST answers `transactions[i].tx`): ethers calls `gas`
    // gasLimit; the API prepares a legacy (type 0, EIP-155) transaction
    const t = task.tx;
    const legacy = {
      type: 0, to: t.to, data: t.data, value: BigInt(t.value), gasLimit: BigInt(t.gas),
      gasPrice: BigInt(t.gasPrice), nonce: Number(t.nonce), chainId: BigInt(t.chainId),
    };
    out.legacy = await wallet.signTransaction(legacy);
    // or EIP-1559 (type 2): the fee fields are the signer's choice, the intent binds
    // only sender, target and calldata
    out.eip1559 = await wallet.signTransaction({
      type: 2, to: t.to, data: t.data, value: BigInt(t.value), gasLimit: BigInt(t.gas),
      maxFeePerGas: BigInt(t.gasPrice) * 2n, maxPriorityFeePerGas: 1n,
      nonce: Number(t.nonce), chainId: BigInt(t.chainId),
    });
  }
  return out;
}

let input = "";
process.stdin.on("data", (d) => { input += d; });
process.stdin.on("end", async () => {
  const tasks = JSON.parse(input);
  const out = [];
  for (const task of tasks) out.push(await run(task));
  process.stdout.write(JSON.stringify(out));
});
