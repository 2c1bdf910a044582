"""vocoder-bench: copy-synthesis evaluation of neural vocoders.

Data flow, one module per step:
dataset (bench_datasets) -> audio loading (bench.audio) -> mel front-end (bench.mel) -> vocoder
(bench.vocoders) -> aligned pair (bench.align) -> metric (bench.metrics) -> results store
(bench.results.store) -> table/report (bench.results.tables).
"""

__version__ = "0.1.0"
