"""Per-call overhead of pyresilience against its peers and hand-written floors.

Run ``python -m benchmarks`` from the repository root (``make bench``);
``--help`` lists the options. Benchmarks only report: nothing here is a
test, and no test asserts on a timing.
"""
