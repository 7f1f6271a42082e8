"""Why does seed000's extra bias collapse training? Activations along the first steps.

``python -m parity.seed000_probe [--steps 300] [--every 25] [--seed 0]`` trains
the faithful legacy graph with and without ``extra_bias`` on the same batches
and prints, at intervals, the training loss and, on 500 test digits, the share
of dead units (zero for every image) at each block output and at fc1, the
largest block activation, and how many distinct classes the network predicts.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

PROBED = ("res2a", "res2b", "res2c", "fc1")


def probe(extra_bias: bool, steps: int, every: int, seed: int) -> list[dict]:
    """Per interval: step, loss, dead shares, largest block activation, classes predicted."""
    from legacy_tf1 import api
    from legacy_tf1 import registry as legacy_registry
    from legacy_tf1.core import graph_scope, tf1

    module = legacy_registry.get("resnet_mnist")
    options = api.options_for("resnet_mnist", extra_bias=extra_bias)
    np.random.seed(seed)
    with graph_scope(seed) as graph:
        source = module.train_source(options, None)
        model = module.build(options)
        init = tf1.global_variables_initializer()
    test_images, _ = next(iter(module.test_batches(options, None)))
    test_images = test_images[:500]
    rows = []
    with tf1.Session(graph=graph) as session:
        session.run(init)
        for step in range(steps + 1):
            images, labels = source.next_batch(session)
            loss = session.run(
                [model.train_op, model.loss], model.feed(images, labels, training=True)
            )[1]
            if step % every:
                continue
            points = session.run(
                {name: model.end_points[name] for name in PROBED} | {"logits": model.logits},
                model.feed(test_images, training=False),
            )
            rows.append(_summarise(step, float(loss), points))
    return rows


def _summarise(step: int, loss: float, points: dict) -> dict:
    dead = {}
    for name in PROBED:
        units = points[name].reshape(len(points[name]), -1)
        dead[name] = float(np.mean(np.all(units <= 0, axis=0)))
    largest = max(float(points[name].max()) for name in PROBED[:3])
    classes = len(np.unique(points["logits"].argmax(axis=1)))
    return {"step": step, "loss": loss, "dead": dead, "largest_block": largest, "classes": classes}


def main(argv: list[str] | None = None) -> int:
    """Print the probe for both variants side by side."""
    parser = argparse.ArgumentParser(prog="python -m parity.seed000_probe", description=__doc__)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--every", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for extra_bias in (True, False):
        print(f"extra_bias={extra_bias}")
        print("step  loss      dead res2a/res2b/res2c/fc1   max block act  classes")
        for row in probe(extra_bias, args.steps, args.every, args.seed):
            dead = "/".join(f"{row['dead'][n]:.2f}" for n in PROBED)
            print(
                f"{row['step']:4d}  {row['loss']:8.3g}  {dead:28s}  "
                f"{row['largest_block']:12.4g}  {row['classes']}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
