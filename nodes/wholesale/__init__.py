"""The wholesale intermediary nodes (issue 16): the one door from local participants to an
external exchange, through an adapter a real exchange's API can implement.

- `adapter`: the `ExchangeAdapter` protocol, `HttpExchangeAdapter` for the reference
  exchange's HTTP API (`refmarkets.exchange`), and the import of an exchange's answer as a
  `flexmarket.wholesale-results/1` file;
- `launch`: start the reference exchange as its own process (as tests start anvil);
- `spot`: `SpotIntermediary`, the grid check of an order book (`oracle.wholesale.orders`,
  and the AC check `oracle.wholesale.acgrid` where the book names a grid), forwarding,
  import and verification (checks 1-4 of the spec and check 5 off chain).
"""
