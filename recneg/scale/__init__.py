"""Negative sampling for logs of any size: in memory on one machine, or with Spark.

Both engines draw the same negatives for the same seed (``recneg sample`` picks one by
input size). The modules, each importing only those above it:

* :mod:`recneg.scale.hashing` — hash-based uniforms, bit-compatible with Spark;
* :mod:`recneg.scale.budget` — the stream route's draw budget;
* ``recneg.scale.columns`` — one-line checks of a log's id and context columns;
* :mod:`recneg.scale.spec` — :class:`~recneg.scale.spec.SampleSpec` (what to sample)
  and :class:`~recneg.scale.spec.Shortfall` (who got fewer than ``k``);
* :mod:`recneg.scale.memory` — the in-memory engine
  (:func:`~recneg.scale.memory.memory_negatives`);
* :mod:`recneg.scale.files` — reading csv/parquet logs, writing negatives atomically;
* :mod:`recneg.scale.spark` — the Spark engine (pyspark is imported on first use);
* :mod:`recneg.scale.sample` — :func:`~recneg.scale.sample.run_sample`, the job
  behind ``recneg sample``;
* ``recneg.scale.cli`` — the ``recneg sample`` subcommand.

The algorithm and why it samples what it claims are in the scale chapter
(``notebooks/11_scale.ipynb``).
"""
