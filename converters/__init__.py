"""Checkpoint converters between the legacy TF1 graphs and the Keras 3 ports.

* ``python -m converters.ckpt_v1_to_v2 CKPT`` -- a TF1 Saver checkpoint into a
  ``tf2_port`` checkpoint, Adam state included (:func:`converters.ckpt_v1_to_v2.convert`).
* ``python -m converters.ckpt_v2_to_v1 CKPT --model NAME --output DIR`` -- back
  into a Saver checkpoint (:func:`converters.ckpt_v2_to_v1.convert`).
* ``python -m converters.inspect CKPT [--diff OTHER]`` -- what a checkpoint holds.
* ``python -m converters.rules init CKPT`` -- a starter rules file for ``--rules FILE``
  (generic mode, any TF1 checkpoint; :mod:`converters.rules`).
* ``python -m converters.graph_to_savedmodel SRC --inputs .. --outputs .. --output DIR`` --
  a TF1 meta graph + checkpoint or a frozen ``.pb`` into a verified SavedModel.

* ``python -m converters.ckpt_v1_to_v2 CKPT --target MODULE:FUNCTION --output DIR`` -- into
  your own Keras 3 model, the mapping proposed from creation order and shapes
  (:mod:`converters.target`), checked against the checkpoint's ``.meta`` graph.

A conversion runs stages, one module each: resolve (:mod:`converters.bundle`), plan
(:mod:`converters.plan`, :mod:`converters.rules`, :mod:`converters.target`; one
:class:`converters.maps.Plan`), write (:mod:`converters.write`, streaming through
:mod:`converters.fastpath` or materialising), verify (:mod:`converters.verify`,
:mod:`converters.meta_graph`) and publish (:mod:`converters.publish`).
The name mapping is one declarative table per model in :mod:`converters.maps`.
This package sits on top of both ``legacy_tf1`` and ``tf2_port``.
"""
