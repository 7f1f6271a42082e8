"""Checkpoint converters between the legacy TF1 graphs and the Keras 3 ports.

* ``python -m converters.ckpt_v1_to_v2 CKPT`` -- a TF1 Saver checkpoint into a
  ``tf2_port`` checkpoint, Adam state included (:func:`converters.ckpt_v1_to_v2.convert`).
* ``python -m converters.ckpt_v2_to_v1 CKPT --model NAME --output DIR`` -- back
  into a Saver checkpoint (:func:`converters.ckpt_v2_to_v1.convert`).
* ``python -m converters.inspect CKPT [--diff OTHER]`` -- what a checkpoint holds.

The name mapping is one declarative table per model in :mod:`converters.maps`.
This package sits on top of both ``legacy_tf1`` and ``tf2_port``.
"""
