"""``medswallow build-corpus``: the Japanese-English medical training mixture, from sources to Parquet shards.

A recipe (:mod:`medswallow.corpus.recipe`) names the sources and the stages; :mod:`medswallow.corpus.pipeline`
runs them on local worker processes or a Ray cluster through datatrove's executors. Importing this package
is light: readers, filters and engines are imported by the functions that use them.
"""
