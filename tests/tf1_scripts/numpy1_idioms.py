"""numpy 1 idioms of TF1-era preprocessing code (no TensorFlow needed)."""

import numpy as np

images = np.arange(24).astype(np.float)
labels = np.array([1, 0, 1], dtype=np.int)
mask = np.array([True, False], dtype=np.bool)
names = np.array(["a", "b"], dtype=np.object)
batch = np.reshape(images, newshape=(2, 3, 4))
assert batch.shape == (2, 3, 4)
assert np.asscalar(np.array([7])) == 7
assert np.product([2, 3]) == 6 and np.alltrue(labels >= 0) and np.sometrue(labels)
assert np.cumproduct([1, 2, 3])[-1] == 6
assert list(np.in1d([1, 5], labels)) == [True, False]
print("labels", labels.dtype, "mask", mask.dtype, "names", names.dtype)
# np.load keeps numpy's safe default: a pickled object array is refused.
np.save("objects.npy", np.array([{"a": 1}], dtype=object))
try:
    np.load("objects.npy")
except ValueError as error:
    print("np.load refused the pickle:", error)
else:
    raise AssertionError("np.load accepted a pickled object array")
