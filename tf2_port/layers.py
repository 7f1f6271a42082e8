"""Small Keras 3 layers and a regularizer that the ports need to match TF1 exactly.

* :class:`LocalResponseNormalization` wraps ``tf.nn.lrn`` (Keras 3 has no LRN layer).
* :class:`Conv2D` and :class:`Dense` are Keras' layers adding their bias as
  ``y + b`` (see :class:`Conv2D` for why). alexnet_cifar10 keeps Keras' own
  layers: its conv2/dense biases sit before batch norm, so their gradients
  are rounding noise that Adam scales up to full-size steps, and only TF1's
  own ``BiasAdd`` kernel keeps them bit-identical to the legacy graph's
  (parity's synced steps: 1.2e-7 apart, 1.7e-3 with ``y + b``).
* :class:`BiasAdd` is a bias on its own, for the residual blocks' ``b_conv_fin``
  and for seed003's shared ``conv_3`` kernel (the kernel is shared, its bias is not).
* :class:`TF1BatchNormalization` is Keras ``BatchNormalization`` whose moving
  variance is updated like ``tf.layers.batch_normalization``'s fused kernel.
* :class:`BatchNormal` reproduces seed004's hand-written ``batch_normal()``.
* :class:`L2WeightLoss` is ``wl * tf.nn.l2_loss(w)``, the cifar10 tutorial's weight decay.

The LRN and batch-norm layers compute in float32 under every dtype policy
(see :mod:`tf2_port.precision`); the others follow the model's policy.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import ops

from tf2_port.precision import FLOAT32_LAYER

_PACKAGE = "tf2_port"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class LocalResponseNormalization(keras.layers.Layer):
    """``tf.nn.lrn`` over the channel axis of NHWC inputs.

    The defaults are ``tf.nn.lrn``'s own (depth_radius 5, bias 1, alpha 1,
    beta 0.5): seed001's ``norm2`` relies on the default depth_radius.
    """

    def __init__(self, depth_radius=5, bias=1.0, alpha=1.0, beta=0.5, **kwargs):
        kwargs.setdefault("dtype", FLOAT32_LAYER)  # under every policy: see tf2_port.precision
        super().__init__(**kwargs)
        self.depth_radius = depth_radius
        self.bias = bias
        self.alpha = alpha
        self.beta = beta

    def call(self, inputs):
        return tf.nn.local_response_normalization(
            inputs,
            depth_radius=self.depth_radius,
            bias=self.bias,
            alpha=self.alpha,
            beta=self.beta,
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "depth_radius": self.depth_radius,
            "bias": self.bias,
            "alpha": self.alpha,
            "beta": self.beta,
        }


def _plus_bias(outputs, bias):
    """``outputs + bias`` as an ``AddV2`` broadcast over the last axis, like TF1's ``y + b``."""
    return tf.add(outputs, bias.value if isinstance(bias, keras.Variable) else bias)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Conv2D(keras.layers.Conv2D):
    """``keras.layers.Conv2D`` whose bias is added as ``conv + b`` (``AddV2``), as TF1 code did.

    Keras adds it with ``BiasAdd``. Both run forward as one fused
    convolution (Grappler fuses ``Conv2D + Add + Relu`` as it fuses
    ``BiasAdd``), but backward ``BiasAdd`` needs ``BiasAddGrad``, which oneDNN
    merges with the filter gradient into ``Conv2DBackpropFilterWithBias``;
    on a 2-core CPU both are slower than the ``Sum`` that ``AddV2``
    backpropagates through, and the merge forced the train step into TF1's
    serialising gradient gates (issue 7: resnet_mnist_class 0.93 vs 1.07 of
    the legacy step time). Where the original wrote ``y + b`` the bias
    gradient is then the legacy graph's own ``Sum``, bit for bit; where it
    called ``tf.nn.bias_add``, the two reductions differ by rounding (parity:
    <= 5e-9). Variables, weights and config are Keras' own.
    """

    def call(self, inputs):
        if not self.use_bias or self.data_format != "channels_last":
            return super().call(inputs)
        outputs = _plus_bias(self.convolution_op(inputs, self.kernel), self.bias)
        return outputs if self.activation is None else self.activation(outputs)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Dense(keras.layers.Dense):
    """``keras.layers.Dense`` whose bias is added as ``x @ w + b`` (``AddV2``); see :class:`Conv2D`."""

    def call(self, inputs, training=None):
        if self.bias is None or self.lora_enabled or self.quantization_mode:
            return super().call(inputs, training=training)
        outputs = _plus_bias(ops.matmul(inputs, self.kernel), self.bias)
        return outputs if self.activation is None else self.activation(outputs)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class BiasAdd(keras.layers.Layer):
    """Adds a learned bias vector over the last axis."""

    def __init__(self, bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        self.bias = self.add_weight(
            shape=(input_shape[-1],), initializer=self.bias_initializer, name="bias"
        )

    def call(self, inputs):
        return inputs + self.bias

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }


def _moving_average_update(variable, value, momentum):
    """``variable -= (variable - value) * (1 - momentum)``, TF1's assign_moving_average."""
    variable.assign(variable - (variable - value) * (1.0 - momentum))


@keras.saving.register_keras_serializable(package=_PACKAGE)
class TF1BatchNormalization(keras.layers.BatchNormalization):
    """Keras ``BatchNormalization`` with ``tf.layers.batch_normalization``'s statistics.

    Momentum 0.99 and epsilon 1e-3 are the defaults of both APIs. They differ in
    the moving variance: TF1's layer uses the fused kernel for NHWC inputs,
    which stores the *unbiased* batch variance (times n / (n - 1), n the number
    of reduced elements), while Keras 3 stores the biased one. The normalised
    output (batch statistics, biased variance) is the same in both.
    ``unbiased_moving_variance=False`` gives plain Keras behaviour.
    """

    def __init__(self, unbiased_moving_variance=True, **kwargs):
        kwargs.setdefault("dtype", FLOAT32_LAYER)  # under every policy: see tf2_port.precision
        super().__init__(**kwargs)
        self.unbiased_moving_variance = unbiased_moving_variance

    def call(self, inputs, training=None, mask=None):
        if self._fusable(inputs, mask):
            return self._fused_call(inputs, training=bool(training) and self.trainable)
        if not (training and self.trainable and self.unbiased_moving_variance):
            return super().call(inputs, training=training, mask=mask)
        if mask is not None:
            raise ValueError(f"{self.name}: masks are not supported with unbiased_moving_variance")
        mean, variance = self._moments(inputs, None)
        correction = self._bessel_correction(inputs, variance.dtype)
        _moving_average_update(self.moving_mean, mean, self.momentum)
        _moving_average_update(self.moving_variance, variance * correction, self.momentum)
        return ops.batch_normalization(
            inputs,
            mean,
            variance,
            axis=self.axis,
            offset=self.beta if self.center else None,
            scale=self.gamma if self.scale else None,
            epsilon=self.epsilon,
        )

    def _fusable(self, inputs, mask) -> bool:
        """Whether TF1's fused kernel applies: float32 NHWC, scale and center, TF1 statistics.

        tf.layers used ``FusedBatchNormV3`` for exactly these inputs; running the
        same kernel (and its gradient) gives the legacy graph's numbers bit for
        bit, and one op instead of ~10 is faster on CPU.
        """
        return (
            mask is None
            and self.unbiased_moving_variance
            and self.center
            and self.scale
            and len(inputs.shape) == 4
            and self.axis in (3, -1)
            and inputs.dtype == "float32"
        )

    def _fused_call(self, inputs, *, training: bool):
        if not training:
            outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
                inputs,
                self.gamma,
                self.beta,
                mean=self.moving_mean,
                variance=self.moving_variance,
                epsilon=self.epsilon,
                is_training=False,
            )
            return outputs
        # In training the kernel returns the batch mean and the unbiased
        # (n / (n - 1)) batch variance, which is what TF1 averages.
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, self.gamma, self.beta, epsilon=self.epsilon, is_training=True
        )
        # tf.layers' fused path makes momentum a float32 tensor first, so its decay
        # is float32(1) - float32(momentum), not float32(1 - momentum).
        decay = 1.0 - tf.constant(self.momentum, inputs.dtype)
        for moving, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
            moving.assign(moving - (moving - batch) * decay)
        return outputs

    def _bessel_correction(self, inputs, dtype):
        """n / (n - 1) for the n elements each channel's statistics reduce over."""
        sizes = [inputs.shape[axis] for axis in self._reduction_axes]
        if None in sizes:
            dynamic = ops.shape(inputs)
            count = ops.cast(math.prod(dynamic[axis] for axis in self._reduction_axes), dtype)
        else:
            count = ops.cast(math.prod(sizes), dtype)
        return count / (count - 1.0)

    def get_config(self):
        return {**super().get_config(), "unbiased_moving_variance": self.unbiased_moving_variance}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class BatchNormal(keras.layers.Layer):
    """seed004's hand-written ``batch_normal(xs, out_size)`` as a layer.

    The original normalises with ``tf.nn.moments`` over every axis but the last,
    with ``scale`` (ones) and ``shift`` (zeros) variables and epsilon 0.001. It
    also keeps an ``ExponentialMovingAverage(decay=0.9)`` of the batch mean and
    variance (shadows start at zero, no debiasing) that is updated on *every*
    call, training or not, and never read: batch statistics are used at
    inference too. That is the default here.

    ``use_moving_statistics_at_inference=True`` is the fix (option
    ``fix_batch_normal_inference``): the averages are updated only in training
    and used when ``training`` is false.
    """

    def __init__(
        self, decay=0.9, epsilon=0.001, use_moving_statistics_at_inference=False, **kwargs
    ):
        kwargs.setdefault("dtype", FLOAT32_LAYER)  # under every policy: see tf2_port.precision
        super().__init__(**kwargs)
        self.decay = decay
        self.epsilon = epsilon
        self.use_moving_statistics_at_inference = use_moving_statistics_at_inference

    def build(self, input_shape):
        shape = (input_shape[-1],)
        self.scale = self.add_weight(shape=shape, initializer="ones", name="scale")
        self.shift = self.add_weight(shape=shape, initializer="zeros", name="shift")
        # ExponentialMovingAverage.apply() on tensors creates zero-filled shadows.
        self.moving_mean = self.add_weight(
            shape=shape, initializer="zeros", trainable=False, name="moving_mean"
        )
        self.moving_variance = self.add_weight(
            shape=shape, initializer="zeros", trainable=False, name="moving_variance"
        )

    def _update_averages(self, mean, variance):
        # TF1 computes 1 - decay in float32 (0.100000024 for 0.9), not in Python.
        one_minus_decay = tf.constant(1.0, tf.float32) - tf.constant(self.decay, tf.float32)
        for average, value in ((self.moving_mean, mean), (self.moving_variance, variance)):
            average.assign(average - (average - value) * one_minus_decay)

    def call(self, inputs, training=None):
        if self.use_moving_statistics_at_inference and not training:
            mean, variance = self.moving_mean, self.moving_variance
        else:
            axes = list(range(len(inputs.shape) - 1))
            mean, variance = tf.nn.moments(inputs, axes=axes)
            self._update_averages(mean, variance)
        return tf.nn.batch_normalization(
            inputs, mean, variance, self.shift, self.scale, self.epsilon
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "decay": self.decay,
            "epsilon": self.epsilon,
            "use_moving_statistics_at_inference": self.use_moving_statistics_at_inference,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class L2WeightLoss(keras.regularizers.Regularizer):
    """``wl * tf.nn.l2_loss(w)`` = ``wl * sum(w ** 2) / 2``.

    Keras' ``L2(l)`` is ``l * sum(w ** 2)``; this spells the cifar10 tutorial's
    ``variable_with_weight_loss`` directly so the coefficient reads as in the original.
    """

    def __init__(self, wl):
        self.wl = wl

    def __call__(self, x):
        return self.wl * tf.nn.l2_loss(x)

    def get_config(self):
        return {"wl": self.wl}
