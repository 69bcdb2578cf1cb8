"""Chain-facing nodes: the oracle service and the validators.

They sit above the pure engine (`oracle/`), the participant SDK (`python_client/`) and the
replica checks (`verifier/`), and import from all three; none of those imports from here
(tests/test_layering.py keeps it so).
"""
