"""tf.estimator.DNNClassifier with numpy_input_fn (the TF 1.x "premade estimator" tutorial)."""

import numpy as np
import tensorflow as tf

feature_columns = [tf.feature_column.numeric_column("x", shape=[4])]
classifier = tf.estimator.DNNClassifier(
    feature_columns=feature_columns, hidden_units=[10, 20], n_classes=3, model_dir="iris_model"
)
train_input_fn = tf.estimator.inputs.numpy_input_fn(
    x={"x": np.random.rand(30, 4)}, y=np.random.randint(0, 3, 30), num_epochs=None, shuffle=True
)
classifier.train(input_fn=train_input_fn, steps=2000)
