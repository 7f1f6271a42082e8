"""TF-Slim's LeNet (legacy_tf1/examples/slim_lenet_mnist.py) as a Keras 3 functional model.

Same computation as the slim graph: flat 784 pixels reshaped to 28x28x1,
conv 5x5 SAME + ReLU, 2x2 max pools (VALID), fc3 1024 + ReLU, dropout
(inactive at inference, like slim's with is_training False), fc4 logits.
Layer names follow slim's scopes, so the converted weights read naturally.
"""

import dataclasses

import keras


@dataclasses.dataclass(frozen=True)
class LeNetConfig:
    """LeNet's hyperparameters, the slim defaults."""

    num_classes: int = 10
    dropout_keep_prob: float = 0.5


def build_lenet(config: LeNetConfig = LeNetConfig()) -> keras.Model:
    """The LeNet Keras model (logits output), built and ready to take converted weights."""
    inputs = keras.Input((784,), name="x")
    net = keras.layers.Reshape((28, 28, 1), name="images")(inputs)
    # Block 1
    net = keras.layers.Conv2D(32, 5, padding="same", activation="relu", name="conv1")(net)
    net = keras.layers.MaxPooling2D(2, name="pool1")(net)
    # Block 2
    net = keras.layers.Conv2D(64, 5, padding="same", activation="relu", name="conv2")(net)
    net = keras.layers.MaxPooling2D(2, name="pool2")(net)
    # Classifier
    net = keras.layers.Flatten(name="flatten")(net)
    net = keras.layers.Dense(1024, activation="relu", name="fc3")(net)
    net = keras.layers.Dropout(1.0 - config.dropout_keep_prob, name="dropout3")(net)
    logits = keras.layers.Dense(config.num_classes, name="fc4")(net)
    return keras.Model(inputs, logits, name="lenet")
