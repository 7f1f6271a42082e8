"""The idiomatic TF2 replacement for each legacy API the runner may serve.

Three sources, in order:

1. ``REPLACEMENTS``: our own table for the APIs the originals and the classic
   TF1 tutorials use, pointing at the idiomatic TF2 / Keras 3 way, not at
   ``tf.compat.v1`` (which is what ``tf_upgrade_v2`` suggests).
2. ``PREFIX_RULES``: whole families (``tf.gfile.*``, ``tf.logging.*``).
3. ``tf_upgrade_v2``'s own rename table, shipped with TensorFlow, for the long
   tail; where it only says ``tf.compat.v1.X`` we say so explicitly.
"""

from __future__ import annotations

import functools

REPLACEMENTS: dict[str, str] = {
    # graph mode and sessions
    "tf.placeholder": "a `tf.function` argument (or `keras.Input`)",
    "tf.Session": "eager execution; wrap hot code in `tf.function`",
    "tf.InteractiveSession": "eager execution (tensors evaluate immediately)",
    "tf.global_variables_initializer": "nothing: TF2 variables initialise on creation",
    "tf.local_variables_initializer": "nothing: TF2 variables initialise on creation",
    "tf.initialize_all_variables": "nothing: TF2 variables initialise on creation",
    "tf.Graph": "`tf.function` (traced graphs); `tf.Graph` only for low-level work",
    "tf.get_default_graph": "`tf.function(...).get_concrete_function().graph`",
    "tf.reset_default_graph": "nothing (no global graph in TF2); `keras.backend.clear_session()`",
    "tf.control_dependencies": "nothing in eager code (ops run in program order)",
    "tf.get_collection": "track objects explicitly (`model.losses`, `model.trainable_variables`)",
    "tf.add_to_collection": "track objects explicitly (`layer.add_loss`, Python lists)",
    "tf.GraphKeys": "track objects explicitly (Keras layers collect their own updates)",
    "tf.gradients": "`tf.GradientTape().gradient`",
    "tf.disable_v2_behavior": "remove it (TF2 behaviour is the default)",
    "tf.enable_eager_execution": "remove it (eager is the default)",
    "tf.set_random_seed": "`tf.random.set_seed` (or `keras.utils.set_random_seed`)",
    # variables
    "tf.Variable": "`tf.Variable` (TF2: resource variable) or `layer.add_weight`",
    "tf.variable_scope": "`tf.Module` / Keras layer names (`tf.name_scope` for op names)",
    "tf.name_scope": "`tf.name_scope` (TF2 form takes only a name)",
    "tf.trainable_variables": "`model.trainable_variables`",
    "tf.global_variables": "`model.variables` / `tf.Module.variables`",
    "tf.AUTO_REUSE": "share a layer object instead of reusing scopes",
    # random ops and math renamed in TF2
    "tf.truncated_normal": "`tf.random.truncated_normal`",
    "tf.random_normal": "`tf.random.normal`",
    "tf.random_uniform": "`tf.random.uniform`",
    "tf.random_crop": "`tf.image.random_crop`",
    "tf.to_float": "`tf.cast(x, tf.float32)`",
    "tf.to_int32": "`tf.cast(x, tf.int32)`",
    "tf.to_int64": "`tf.cast(x, tf.int64)`",
    "tf.log": "`tf.math.log`",
    "tf.decode_raw": "`tf.io.decode_raw`",
    "tf.FixedLengthRecordReader": "`tf.data.FixedLengthRecordDataset`",
    "tf.TFRecordReader": "`tf.data.TFRecordDataset`",
    "tf.FIFOQueue": "`tf.data.Dataset` pipelines",
    "tf.RandomShuffleQueue": "`tf.data.Dataset.shuffle`",
    # initializers
    "tf.zeros_initializer": "`keras.initializers.Zeros()`",
    "tf.ones_initializer": "`keras.initializers.Ones()`",
    "tf.constant_initializer": "`keras.initializers.Constant(value)`",
    "tf.truncated_normal_initializer": "`keras.initializers.TruncatedNormal(mean, stddev)`: pass `stddev` (TF1 default 1.0, Keras 0.05)",
    "tf.random_normal_initializer": "`keras.initializers.RandomNormal(mean, stddev)`: pass `stddev` (TF1 default 1.0, Keras 0.05)",
    "tf.random_uniform_initializer": "`keras.initializers.RandomUniform(minval, maxval)`: pass both (TF1 default [0, 1), Keras [-0.05, 0.05))",
    "tf.glorot_uniform_initializer": "`keras.initializers.GlorotUniform()`",
    "tf.glorot_normal_initializer": "`keras.initializers.GlorotNormal()` (both truncated normal, fan_avg)",
    "tf.variance_scaling_initializer": "`keras.initializers.VarianceScaling(scale, mode, distribution)`: same defaults (scale 1.0, fan_in, truncated_normal)",
    "tf.contrib.layers.variance_scaling_initializer": "`keras.initializers.VarianceScaling(scale=factor, mode='fan_in', distribution='truncated_normal')`: TF1 defaults factor=2.0, FAN_IN, uniform=False (= `HeNormal()`); Keras' own defaults are scale 1.0; FAN_AVG -> mode='fan_avg', uniform=True -> distribution='uniform'",
    # nn
    "tf.nn.in_top_k": "`tf.math.in_top_k(targets, predictions, k)` (TF2 swaps the first two arguments)",
    "tf.nn.relu_layer": "`tf.nn.relu(tf.matmul(x, w) + b)` or `keras.layers.Dense(n, activation='relu')`",
    "tf.nn.dropout": "`keras.layers.Dropout(rate=1 - keep_prob)` or `tf.nn.dropout(x, rate=1 - keep_prob)`: TF1's 2nd argument is the *keep* probability, TF2's `rate` the *drop* probability",
    "tf.nn.softmax_cross_entropy_with_logits": "`tf.nn.softmax_cross_entropy_with_logits` (TF2 form; gradients also flow into labels) or `keras.losses.CategoricalCrossentropy(from_logits=True)`",
    "tf.nn.max_pool": "`tf.nn.max_pool2d` or `keras.layers.MaxPooling2D`",
    "tf.nn.lrn": "`tf.nn.local_response_normalization` (no Keras layer; wrap it in a custom layer)",
    "tf.nn.conv2d": "`tf.nn.conv2d` (TF2 form: `dilations`, no `use_cudnn_on_gpu`) or `keras.layers.Conv2D`",
    "tf.nn.moments": "`tf.nn.moments` (TF2 form: `keepdims`)",
    "tf.nn.rnn_cell": "`keras.layers.LSTMCell`/`GRUCell` with `keras.layers.RNN`",
    # losses
    "tf.losses.sparse_softmax_cross_entropy": "`keras.losses.SparseCategoricalCrossentropy(from_logits=True)`",
    "tf.losses.softmax_cross_entropy": "`keras.losses.CategoricalCrossentropy(from_logits=True)`",
    "tf.losses.mean_squared_error": "`keras.losses.MeanSquaredError()`",
    "tf.losses.get_regularization_loss": "`tf.add_n(model.losses)`",
    # training
    "tf.train.AdamOptimizer": "`keras.optimizers.Adam(learning_rate, epsilon=1e-8)`: TF1's epsilon default is 1e-8, Keras' 1e-7 (pass it to keep the TF1 numbers)",
    "tf.train.GradientDescentOptimizer": "`keras.optimizers.SGD`",
    "tf.train.MomentumOptimizer": "`keras.optimizers.SGD(momentum=...)`",
    "tf.train.RMSPropOptimizer": "`keras.optimizers.RMSprop`",
    "tf.train.AdagradOptimizer": "`keras.optimizers.Adagrad`",
    "tf.train.Saver": "`tf.train.Checkpoint` + `tf.train.CheckpointManager` (or `model.save_weights`)",
    "tf.train.latest_checkpoint": "`tf.train.latest_checkpoint` / `CheckpointManager.latest_checkpoint`",
    "tf.train.start_queue_runners": "`tf.data.Dataset` (no threads to start)",
    "tf.train.Coordinator": "`tf.data.Dataset` (no threads to coordinate)",
    "tf.train.QueueRunner": "`tf.data.Dataset`",
    "tf.train.string_input_producer": "`tf.data.Dataset.from_tensor_slices(filenames).repeat()`",
    "tf.train.shuffle_batch": "`dataset.shuffle(buffer).batch(n)`",
    "tf.train.batch": "`dataset.batch(n)`",
    "tf.train.MonitoredTrainingSession": "a Keras `model.fit` loop (or a `tf.function` train step in a Python loop): its hooks become Keras callbacks, `checkpoint_dir` a `tf.train.CheckpointManager` (or `keras.callbacks.ModelCheckpoint`), its summaries `tf.summary` under a writer (or `keras.callbacks.TensorBoard`)",
    "tf.train.MonitoredSession": "a Keras `model.fit` loop (hooks -> Keras callbacks)",
    "tf.train.SingularMonitoredSession": "a Keras `model.fit` loop (hooks -> Keras callbacks)",
    "tf.train.Supervisor": "`model.fit` with `keras.callbacks.BackupAndRestore`/`ModelCheckpoint`, or a custom loop with `tf.train.CheckpointManager` + `tf.summary` (`sv.should_stop()` -> the loop's own bound)",
    "tf.train.StopAtStepHook": "`model.fit(..., epochs, steps_per_epoch)` (the loop bound), or `range(last_step - optimizer.iterations)` in a custom loop",
    "tf.train.CheckpointSaverHook": "`keras.callbacks.ModelCheckpoint(save_freq=N)` or `tf.train.CheckpointManager.save()` every N steps",
    "tf.train.SummarySaverHook": "`keras.callbacks.TensorBoard(update_freq=N)` or `tf.summary.scalar(..., step=...)` under `writer.as_default()`",
    "tf.train.LoggingTensorHook": "Keras' progress bar / a `keras.callbacks.LambdaCallback(on_batch_end=...)` printing `logs`",
    "tf.train.NanTensorHook": "`keras.callbacks.TerminateOnNaN()`",
    "tf.train.StepCounterHook": "`keras.callbacks.TensorBoard` (steps/s) or timing in a custom callback",
    "tf.train.ProfilerHook": "`keras.callbacks.TensorBoard(profile_batch=...)` / `tf.profiler.experimental`",
    "tf.train.FinalOpsHook": "code after `model.fit` returns",
    "tf.train.FeedFnHook": "a `tf.data.Dataset` input (no feeds in TF2)",
    "tf.train.SessionRunHook": "a `keras.callbacks.Callback` subclass (`begin` -> `on_train_begin`, `before_run`/`after_run` -> `on_train_batch_begin`/`on_train_batch_end`, `end` -> `on_train_end`)",
    "tf.train.SessionRunArgs": "the `logs` dict Keras passes to callbacks (no extra fetches)",
    "tf.train.Scaffold": "nothing: Keras models own their init and savers",
    "tf.data.make_one_shot_iterator": "iterate the dataset directly (`for batch in ds:`) or `iter(ds)`: TF2 datasets have no iterator-making methods",
    "tf.data.make_initializable_iterator": "`iter(ds)` (re-create it to restart; no initializer op): TF2 datasets have no `make_initializable_iterator`",
    "tf.data.Dataset.make_one_shot_iterator": "iterate the dataset directly (`for batch in ds:`) or `iter(ds)`: TF2 datasets lack this method",
    "tf.data.Dataset.make_initializable_iterator": "`iter(ds)` (re-create it to restart; no initializer op): TF2 datasets lack this method",
    "tf.data.Iterator": "`iter(ds)` / `tf.data.Iterator` spec types (no `from_structure` + initializers in TF2)",
    "tf.train.get_or_create_global_step": "`optimizer.iterations`",
    "tf.train.get_global_step": "`optimizer.iterations`",
    "tf.train.exponential_decay": "`keras.optimizers.schedules.ExponentialDecay`",
    "tf.train.ExponentialMovingAverage": "`tf.train.ExponentialMovingAverage` (TF2 form) or Keras `use_ema=True`",
    # summaries
    "tf.summary.FileWriter": "`tf.summary.create_file_writer`",
    "tf.summary.scalar": "`tf.summary.scalar(name, value, step=...)` under `writer.as_default()`",
    "tf.summary.histogram": "`tf.summary.histogram(name, values, step=...)`",
    "tf.summary.image": "`tf.summary.image(name, images, step=...)`",
    "tf.summary.merge_all": "nothing: TF2 summaries are written when called",
    "tf.summary.merge": "nothing: TF2 summaries are written when called",
    # app, flags, logging
    "tf.app.run": "`absl.app.run`",
    "tf.app.flags": "`absl.flags`",
    "tf.flags": "`absl.flags`",
    "tf.logging": "`absl.logging` (or `tf.get_logger()`)",
    # tf.layers
    "tf.layers.conv2d": "`keras.layers.Conv2D`",
    "tf.layers.dense": "`keras.layers.Dense`",
    "tf.layers.max_pooling2d": "`keras.layers.MaxPooling2D`",
    "tf.layers.average_pooling2d": "`keras.layers.AveragePooling2D`",
    "tf.layers.batch_normalization": "`keras.layers.BatchNormalization` (note: momentum 0.99, updates applied by Keras; `training=` at call time)",
    "tf.layers.flatten": "`keras.layers.Flatten`",
    # tf.contrib
    "tf.contrib.layers.xavier_initializer": "`keras.initializers.GlorotUniform()` (xavier = glorot_uniform, fan_avg; `uniform=False` -> `GlorotNormal()`)",
    "tf.contrib.layers.xavier_initializer_conv2d": "`keras.initializers.GlorotUniform()` (xavier = glorot_uniform, fan_avg; `uniform=False` -> `GlorotNormal()`)",
    "tf.contrib.layers.l2_regularizer": "`keras.regularizers.L2(l2=scale / 2)`: TF1 computes scale * sum(w^2) / 2, Keras `L2(l2)` computes l2 * sum(w^2)",
    "tf.contrib.slim.l2_regularizer": "`keras.regularizers.L2(l2=scale / 2)`: slim computes scale * sum(w^2) / 2, Keras `L2(l2)` computes l2 * sum(w^2)",
    "tf.nn.l2_loss": "`tf.nn.l2_loss` = sum(w^2) / 2; as a Keras regularizer `L2(l2=weight / 2)`",
    "tf.contrib.layers.dropout": "`keras.layers.Dropout(rate=1 - keep_prob)`: TF1 takes the *keep* probability (default 0.5)",
    "tf.contrib.slim.dropout": "`keras.layers.Dropout(rate=1 - keep_prob)`: slim takes the *keep* probability (default 0.5)",
    "tf.contrib.rnn.DropoutWrapper": "the `dropout=1 - input_keep_prob` / `recurrent_dropout` arguments of `keras.layers.LSTM`/`GRU` (TF1 takes *keep* probabilities)",
    "tf.nn.rnn_cell.DropoutWrapper": "the `dropout=1 - input_keep_prob` / `recurrent_dropout` arguments of `keras.layers.LSTM`/`GRU` (TF1 takes *keep* probabilities)",
    "tf.layers.dropout": "`keras.layers.Dropout(rate)` (same `rate`; TF1's `training` defaults to False, Keras follows the call's `training`)",
    "tf.contrib.rnn.BasicLSTMCell": "`keras.layers.LSTMCell` in `keras.layers.RNN` / `keras.layers.LSTM` (TF1 `forget_bias=1.0` -> Keras `unit_forget_bias=True`)",
    "tf.contrib.rnn.LSTMCell": "`keras.layers.LSTMCell` / `keras.layers.LSTM`",
    "tf.contrib.rnn.GRUCell": "`keras.layers.GRUCell` / `keras.layers.GRU` (Keras default `reset_after=True` differs from TF1's GRU)",
    "tf.contrib.rnn.MultiRNNCell": "`keras.layers.StackedRNNCells` or stacked `keras.layers.LSTM(return_sequences=True)`",
    "tf.contrib.rnn.static_rnn": "`keras.layers.RNN(cell, unroll=True)`",
    "tf.nn.static_rnn": "`keras.layers.RNN(cell, unroll=True)`",
    "tf.nn.dynamic_rnn": "`keras.layers.RNN(cell, return_sequences=True, return_state=True)` (time-major input -> transpose first)",
    "tf.get_variable": "`tf.Variable` / `layer.add_weight`; note TF1's default initializer is glorot_uniform (Keras `add_weight` default too)",
    "tf.contrib.layers.l1_regularizer": "`keras.regularizers.L1`",
    "tf.contrib.layers.flatten": "`keras.layers.Flatten`",
    "tf.contrib.layers.conv2d": "`keras.layers.Conv2D`",
    "tf.contrib.layers.fully_connected": "`keras.layers.Dense`",
    "tf.contrib.layers.batch_norm": "`keras.layers.BatchNormalization` (TF1 defaults: no scale, decay 0.999, epsilon 0.001)",
    "tf.contrib.layers.max_pool2d": "`keras.layers.MaxPooling2D`",
    "tf.contrib.slim": "`tf_slim` (pip package) or Keras layers",
    "tf.contrib.framework.get_or_create_global_step": "`optimizer.iterations`",
    "tf.contrib.framework.get_global_step": "`optimizer.iterations`",
    "tf.contrib.framework.arg_scope": "`functools.partial` over Keras layers (or `tf_slim.arg_scope`)",
    "tf.contrib.deprecated.scalar_summary": "`tf.summary.scalar(name, value, step=...)`",
    "tf.contrib.deprecated.histogram_summary": "`tf.summary.histogram(name, values, step=...)`",
    "tf.contrib.deprecated.image_summary": "`tf.summary.image(name, images, step=...)`",
    "tf.contrib.deprecated.audio_summary": "`tf.summary.audio(name, data, sample_rate, step=...)`",
    "tf.contrib.deprecated.merge_summary": "nothing: TF2 summaries are written when called",
    "tf.contrib.deprecated.merge_all_summaries": "nothing: TF2 summaries are written when called",
    # tensorflow.examples and the cifar10 tutorial modules
    "tf.examples.tutorials.mnist.input_data.read_data_sets": "`keras.datasets.mnist.load_data()` or `tfds.load('mnist')` + `tf.data`",
    "tf.examples.tutorials.mnist.input_data.DataSet": "`tf.data.Dataset.from_tensor_slices(...).shuffle().batch()`",
    "cifar10.maybe_download_and_extract": "`keras.datasets.cifar10.load_data()` or `tfds.load('cifar10')`",
    "cifar10.distorted_inputs": "a `tf.data` pipeline with `tf.image.random_crop`/`random_flip_left_right`",
    "cifar10.inputs": "a `tf.data` pipeline with `tf.image.resize_with_crop_or_pad`",
    "cifar10_input.distorted_inputs": "a `tf.data` pipeline with `tf.image.random_crop`/`random_flip_left_right`",
    "cifar10_input.inputs": "a `tf.data` pipeline with `tf.image.resize_with_crop_or_pad`",
    "cifar10_input.read_cifar10": "`tf.data.FixedLengthRecordDataset` + `tf.io.decode_raw`",
}

# (prefix, replacement) for whole families; the first matching prefix wins.
PREFIX_RULES: tuple[tuple[str, str], ...] = (
    ("tf.gfile.", "`tf.io.gfile` (snake_case names: `exists`, `makedirs`, `GFile`, `glob`)"),
    ("tf.logging.", "`absl.logging` (or `tf.get_logger()`)"),
    ("tf.app.flags.", "`absl.flags`"),
    ("tf.flags.", "`absl.flags`"),
    ("tf.layers.", "the `keras.layers` class of the same name"),
    ("tf.contrib.slim.", "`tf_slim` (pip package) or Keras layers"),
    ("tf.contrib.layers.", "`tf_slim` (pip package) or the matching `keras.layers` class"),
    ("tf.contrib.framework.", "`tf_slim` (pip package) or plain Keras/TF2 code"),
    ("tf.contrib.rnn.", "`keras.layers.RNN` with `LSTMCell`/`GRUCell`"),
    ("tf.summary.", "`tf.summary` TF2 API with `create_file_writer`"),
    ("tf.train.", "Keras optimizers / `tf.train.Checkpoint` / `tf.data`"),
    ("tf.examples.", "`keras.datasets` or `tfds`"),
    ("cifar10.", "`keras.datasets.cifar10` + a `tf.data` pipeline"),
    ("cifar10_input.", "`keras.datasets.cifar10` + a `tf.data` pipeline"),
)


def replacement_for(path: str, tf2_has_path: bool = False) -> str:
    """The TF2 replacement to suggest for the legacy API ``path`` (``tf.X.Y``).

    ``tf2_has_path``: TF2 has a (different) object under the same name, so
    the usual migration is to drop the v1-only arguments.
    """
    if path in REPLACEMENTS:
        return REPLACEMENTS[path]
    renamed = _upgrade_renames().get(path)
    if renamed and not renamed.startswith("tf.compat.v1."):
        return f"`{renamed}`"
    if tf2_has_path:
        return f"`{path}` (TF2's own version: same name, check its arguments against the v1 call)"
    for prefix, replacement in PREFIX_RULES:
        if path.startswith(prefix):
            return replacement
    if renamed:
        return f"`{renamed}` (no TF2 equivalent; keep the compat.v1 call or rewrite)"
    return f"`tf.compat.v1.{path.removeprefix('tf.')}` (no direct TF2 equivalent)"


@functools.lru_cache(maxsize=1)
def _upgrade_renames() -> dict[str, str]:
    """``tf_upgrade_v2``'s rename table; empty if this TensorFlow lacks it."""
    try:
        from tensorflow.tools.compatibility import all_renames_v2
    except ImportError:
        return {}
    return dict(all_renames_v2.symbol_renames)
