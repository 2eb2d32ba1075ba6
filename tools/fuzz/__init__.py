"""Fuzz and fault suite for ep-runtime: mutated models run on every provider in worker subprocesses.

`seeds` builds the valid models mutations start from, `mutate` turns a (seed, case number) into a
deterministic mutated model and `feeds` gives it a feed, `worker` runs tasks in a memory-capped subprocess,
`supervisor` keeps workers alive across crashes and hangs, `classify` turns raw outcomes into
verdicts and signatures, `campaign` runs it all, minimizes repros and counts. `tools/fuzz_models.py`
is the command line (docs/robustness.md).
"""
