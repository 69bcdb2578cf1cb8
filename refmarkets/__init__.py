"""Reference implementations of the external platforms flexmarket forwards to.

An external platform we do not own (an energy exchange's day-ahead auction, an mFRR
platform) is played by one of these, running as its own process with its own HTTP API,
behind the same adapter a real platform's API would implement (`nodes.wholesale.adapter`).

- `clearing`: the day-ahead auction's clearing: step orders, one uniform price per MTU,
  integers only (`../shared/spec/wholesale.md` check 2 and 3 are its rules);
- `background`: the public background orders of an auction, generated from a seed;
- `exchange`: the exchange as a FastAPI application and its command
  (`python -m refmarkets.exchange --port N`).

It may import the pure engine (`oracle`) and nothing above it (tests/test_layering.py):
a platform knows nothing of the nodes that talk to it.
"""
