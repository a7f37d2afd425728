"""Benchmarks: each prints both sides, their ratio and a correctness check in one run.

    python -m ssb.bench aperture     # batched aperture engine vs. the naive per-set loop
    python -m ssb.bench pretrain     # our MLM loop vs. a plain transformers Trainer
    python -m ssb.bench paper        # the full `paper` run projected from measured steps at paper shape

Results and commands are recorded in docs/benchmarks.md.  Never timed inside unit tests.
"""
