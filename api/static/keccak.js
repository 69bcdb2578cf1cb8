// Keccak-256 (the Ethereum hash, not SHA3-256's padding) for EIP-55 checksummed addresses:
// a wallet may answer an address in lower case, an EIP-4361 message needs it checksummed.
// Compact BigInt form of Keccak-f[1600] (the Keccak team's "readable and compact" code).
"use strict";
(function () {
  const MASK = (1n << 64n) - 1n;
  const RC = [];
  let lfsr = 1;
  for (let round = 0; round < 24; round++) {
    let rc = 0n;
    for (let j = 0; j < 7; j++) {
      if (lfsr & 1) rc ^= 1n << BigInt((1 << j) - 1);
      lfsr = lfsr & 0x80 ? ((lfsr << 1) ^ 0x71) & 0xff : lfsr << 1;
    }
    RC.push(rc);
  }
  const ROT = new Array(25).fill(0n); // rho offsets, lane x + 5y
  const PI = new Array(25).fill(0); // where pi moves lane x + 5y
  {
    let x = 1, y = 0;
    for (let t = 0; t < 24; t++) {
      ROT[x + 5 * y] = BigInt((((t + 1) * (t + 2)) / 2) % 64);
      [x, y] = [y, (2 * x + 3 * y) % 5];
    }
    for (let x2 = 0; x2 < 5; x2++)
      for (let y2 = 0; y2 < 5; y2++) PI[x2 + 5 * y2] = y2 + 5 * ((2 * x2 + 3 * y2) % 5);
  }
  const rotl = (v, n) => (n === 0n ? v : ((v << n) | (v >> (64n - n))) & MASK);

  function permute(s) {
    const c = new Array(5), b = new Array(25);
    for (let round = 0; round < 24; round++) {
      for (let x = 0; x < 5; x++) c[x] = s[x] ^ s[x + 5] ^ s[x + 10] ^ s[x + 15] ^ s[x + 20];
      for (let x = 0; x < 5; x++) {
        const d = c[(x + 4) % 5] ^ rotl(c[(x + 1) % 5], 1n);
        for (let y = 0; y < 25; y += 5) s[x + y] ^= d;
      }
      for (let i = 0; i < 25; i++) b[PI[i]] = rotl(s[i], ROT[i]);
      for (let y = 0; y < 25; y += 5)
        for (let x = 0; x < 5; x++)
          s[x + y] = b[x + y] ^ (~b[((x + 1) % 5) + y] & MASK & b[((x + 2) % 5) + y]);
      s[0] ^= RC[round];
    }
  }

  function keccak256(bytes) {
    const rate = 136;
    const padded = new Uint8Array(bytes.length + rate - (bytes.length % rate));
    padded.set(bytes);
    padded[bytes.length] ^= 0x01;
    padded[padded.length - 1] ^= 0x80;
    const s = new Array(25).fill(0n);
    for (let off = 0; off < padded.length; off += rate) {
      for (let i = 0; i < rate / 8; i++) {
        let v = 0n;
        for (let k = 7; k >= 0; k--) v = (v << 8n) | BigInt(padded[off + 8 * i + k]);
        s[i] ^= v;
      }
      permute(s);
    }
    let hex = "";
    for (let i = 0; i < 4; i++)
      for (let k = 0; k < 8; k++) hex += Number((s[i] >> BigInt(8 * k)) & 0xffn).toString(16).padStart(2, "0");
    return hex;
  }

  // EIP-55: the address's hex letters upper-cased where the hash of its lower-case form
  // has a nibble >= 8
  function checksumAddress(address) {
    const lower = address.toLowerCase().replace(/^0x/, "");
    if (!/^[0-9a-f]{40}$/.test(lower)) throw new Error("not an address: " + address);
    const hash = keccak256(new TextEncoder().encode(lower));
    let out = "0x";
    for (let i = 0; i < 40; i++) out += parseInt(hash[i], 16) >= 8 ? lower[i].toUpperCase() : lower[i];
    return out;
  }

  const api = { keccak256, checksumAddress };
  if (typeof module !== "undefined") module.exports = api;
  else window.flexKeccak = api;
})();
