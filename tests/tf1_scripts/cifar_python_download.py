"""CIFAR-10 python batches fetched with urlopen and unpacked by hand (no TensorFlow)."""

import os
import pickle
import tarfile

import numpy as np
from six.moves.urllib.request import urlopen

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
archive = "cifar-10-python.tar.gz"
if not os.path.exists(archive):
    with urlopen(URL) as response, open(archive, "wb") as out:
        out.write(response.read())
with tarfile.open(archive, "r:gz") as tar:
    tar.extractall(".", filter="data")
with open(os.path.join("cifar-10-batches-py", "data_batch_1"), "rb") as f:
    batch = pickle.load(f, encoding="latin1")
images = batch["data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
labels = np.array(batch["labels"])
assert images.shape[1:] == (32, 32, 3) and labels.max() <= 9
print("batch 1:", images.shape, "labels", np.bincount(labels).tolist())
