"""TF1's Adam as a Keras 3 optimizer: the same update, applied by TF's fused kernel.

``keras.optimizers.Adam`` spells the update out as ~10 element-wise ops per
variable (each one a full pass over the variable's memory and an op dispatch);
``tf.compat.v1.train.AdamOptimizer`` runs one fused ``ApplyAdam`` kernel per
variable. On a 2-core CPU that difference is most of the port's extra time per
training step (issue 7's profile of cifar10_cnn). :class:`FusedAdam` keeps
Keras' bookkeeping (slot variables, ``iterations``, checkpoint layout, the
``tf.distribute`` update path) and replaces only the arithmetic with
``ResourceApplyAdam``, the resource-variable twin of TF1's kernel.

The one difference from TF1 is how ``beta^t`` is formed: TF1 multiplies a
float32 ``beta1_power`` variable by ``beta1`` once per step, this computes
``beta1 ** t`` in float32, as Keras does. The two agree to a few float32 ulps.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def _resource_handle(variable):
    """The resource handle behind a Keras or TF variable, or None when there is none."""
    value = variable.value if isinstance(variable, keras.Variable) else variable
    return getattr(value, "handle", None)


@keras.saving.register_keras_serializable(package="tf2_port")
class FusedAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` whose dense update runs TF's fused ``ResourceApplyAdam``.

    Falls back to Keras' own update for what the kernel does not cover
    (amsgrad, sparse gradients, variables without a resource handle).
    """

    def _distributed_tf_update_step(self, distribution, grads_and_vars, learning_rate):
        # One update pass: the step's scalars (beta^t, lr, ...) are the same for
        # every variable, so they are built once per pass and dtype, as TF1's
        # AdamOptimizer does, instead of ~6 ops per variable (82 extra Pow ops
        # in resnet_mnist_class's step; each op costs the executor a dispatch).
        self._pass_scalars = {}
        try:
            return super()._distributed_tf_update_step(distribution, grads_and_vars, learning_rate)
        finally:
            self._pass_scalars = None

    def _scalars(self, dtype, learning_rate) -> dict:
        cache = getattr(self, "_pass_scalars", None)
        if cache is not None and dtype in cache:
            return cache[dtype]
        step = tf.cast(self.iterations + 1, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        scalars = {
            "beta1_power": tf.pow(beta_1, step),
            "beta2_power": tf.pow(beta_2, step),
            "lr": tf.cast(learning_rate, dtype),
            "beta1": beta_1,
            "beta2": beta_2,
            "epsilon": tf.cast(self.epsilon, dtype),
        }
        if cache is not None:
            cache[dtype] = scalars
        return scalars

    def update_step(self, gradient, variable, learning_rate):
        """One Adam step for ``variable``, fused when possible."""
        index = self._get_variable_index(variable)
        handles = [
            _resource_handle(v) for v in (variable, self._momentums[index], self._velocities[index])
        ]
        if self.amsgrad or isinstance(gradient, tf.IndexedSlices) or None in handles:
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        return tf.raw_ops.ResourceApplyAdam(
            var=handles[0],
            m=handles[1],
            v=handles[2],
            grad=tf.cast(gradient, dtype),
            use_locking=False,
            **self._scalars(dtype, learning_rate),
        )
