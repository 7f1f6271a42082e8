"""``--sample-data`` for downloads: the MNIST / CIFAR-10 archives served offline.

TF1 scripts and their helper modules fetch the datasets themselves, by the
usual URLs: the cifar10 tutorial's ``maybe_download_and_extract``
(``six.moves.urllib.request.urlretrieve``), copies of ``input_data``'s
``maybe_download``, ``tf.keras.utils.get_file`` / ``tf.keras.datasets``.
With ``--sample-data`` the runner patches ``urllib.request.urlopen`` and
``urlretrieve`` (which six and tf_keras use) so that a known dataset URL gets
the embedded sample in that file's own form:

* the four MNIST ``*-idx?-ubyte.gz`` files and keras' ``mnist.npz``;
* ``cifar-10-binary.tar.gz`` (``cifar-10-batches-bin/``) and
  ``cifar-10-python.tar.gz`` (``cifar-10-batches-py/``).

Every other URL, and every other outgoing connection (``socket.connect`` to
a non-loopback address), raises :class:`OfflineError` naming it at once
instead of hanging on DNS. ``tf.keras.utils.get_file`` caches into a scratch
directory (never the user's ``~/.keras``), and its hash check accepts the
files served here (the sample is not the real archive).
"""

from __future__ import annotations

import email.message
import functools
import hashlib
import io
import os
import socket
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import urllib.response
from collections.abc import Callable

from legacy_tf1.shims.report import Recorder

# Hosts the datasets are usually fetched from (mirrors included).
DATASET_HOSTS = frozenset(
    {
        "yann.lecun.com",
        "storage.googleapis.com",
        "www.cs.toronto.edu",
        "cs.toronto.edu",
        "ossci-datasets.s3.amazonaws.com",
    }
)
MNIST_GZ = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
CIFAR_ARCHIVES = {
    "cifar-10-binary.tar.gz": "cifar-bin",
    "cifar-10-python.tar.gz": "cifar-py",
}
SERVED_FILES = (*MNIST_GZ, "mnist.npz", *CIFAR_ARCHIVES)
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", ""})


class OfflineError(urllib.error.URLError):
    """Network access under ``--sample-data`` that the runner cannot serve offline."""

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(
            f"legacy_tf1.run --sample-data: network access to {url} refused (offline; only the "
            f"MNIST and CIFAR-10 downloads are served: {', '.join(SERVED_FILES)})"
        )

    def __reduce__(self):
        return (type(self), (self.url,))


# ---------------------------------------------------------------- payloads ---


@functools.cache
def sample_payload(name: str) -> bytes:
    """The embedded sample as the dataset file ``name`` (one of SERVED_FILES)."""
    from formats import sample

    if name in MNIST_GZ:
        return (sample.sample_dir("mnist") / name).read_bytes()
    if name == "mnist.npz":
        return _mnist_npz()
    if name in CIFAR_ARCHIVES:
        kind = CIFAR_ARCHIVES[name]
        return _tar_gz(sample.sample_dir(kind), sample.DIR_NAMES[kind])
    raise KeyError(name)


def _mnist_npz() -> bytes:
    import numpy as np

    from formats import sample

    split = sample.sample_split()
    buffer = io.BytesIO()
    np.savez(
        buffer,
        x_train=split.train_images,
        y_train=split.train_labels,
        x_test=split.test_images,
        y_test=split.test_labels,
    )
    return buffer.getvalue()


def _tar_gz(directory: os.PathLike, arcname: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(os.fspath(directory), arcname=arcname)
    return buffer.getvalue()


def served_name(url: str) -> str | None:
    """The dataset file a URL asks for, if it is one the runner serves."""
    parts = urllib.parse.urlsplit(url)
    name = parts.path.rsplit("/", 1)[-1]
    if parts.scheme in ("http", "https") and parts.hostname in DATASET_HOSTS:
        return name if name in SERVED_FILES else None
    return None


# ------------------------------------------------------------- the patches ---


class OfflineNetwork:
    """The patched urllib entry points and socket connect for one run."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.served_digests: set[str] = set()  # sha256 of every payload served
        self.keras_cache = tempfile.TemporaryDirectory(prefix="legacy_tf1_run-keras-")

    def install(self) -> None:
        """Patch urllib.request, six.moves and socket for the rest of this process."""
        urllib.request.urlopen = self.urlopen
        urllib.request.urlretrieve = self.urlretrieve
        _patch_six(self.urlopen, self.urlretrieve)
        real_connect = socket.socket.connect
        real_connect_ex = socket.socket.connect_ex
        refuse = self._refuse_address

        def connect(sock, address):
            refuse(sock, address)
            return real_connect(sock, address)

        def connect_ex(sock, address):
            refuse(sock, address)
            return real_connect_ex(sock, address)

        socket.socket.connect = connect
        socket.socket.connect_ex = connect_ex

    def patch_tf_keras(self) -> None:
        """get_file caches in a scratch dir and accepts served files (call after TF import)."""
        try:
            from tf_keras.src.utils import data_utils
        except ImportError:
            return
        function = data_utils.get_file
        names = function.__code__.co_varnames[: function.__code__.co_argcount]
        defaults = list(function.__defaults__ or ())
        offset = len(names) - len(defaults)
        if "cache_dir" in names[offset:]:
            defaults[names.index("cache_dir") - offset] = self.keras_cache.name
            function.__defaults__ = tuple(defaults)
        real_validate = data_utils.validate_file
        served = self.served_digests

        def validate_file(fpath, file_hash, algorithm="auto", chunk_size=65535):
            if _sha256(fpath) in served:
                return True  # the embedded sample, not the real archive the hash names
            return real_validate(fpath, file_hash, algorithm, chunk_size)

        data_utils.validate_file = validate_file

    def _refuse_address(self, sock: socket.socket, address) -> None:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return
        host = address[0] if isinstance(address, tuple) else str(address)
        if host in _LOOPBACK or host.startswith("127."):
            return
        target = f"{host}:{address[1]}" if isinstance(address, tuple) else host
        self._refuse(target)

    def _refuse(self, url: str):
        self.recorder.note_network(f"refused `{url}` (not a dataset download the runner serves)")
        raise OfflineError(url)

    def _payload(self, url: str) -> bytes:
        name = served_name(url)
        if name is None:
            self._refuse(url)
        payload = sample_payload(name)
        self.served_digests.add(hashlib.sha256(payload).hexdigest())
        self.recorder.note_network(
            f"served `{url}` from the embedded sample as `{name}` ({len(payload)} bytes)"
        )
        print(f"[legacy_tf1.run] {url}: served from the embedded sample", file=sys.stderr)
        return payload

    def urlopen(self, url, data=None, timeout=None, *args, **kwargs):
        """``urllib.request.urlopen``: a response holding the sample, or OfflineError."""
        full_url = getattr(url, "full_url", url)
        payload = self._payload(full_url)
        return urllib.response.addinfourl(io.BytesIO(payload), _headers(payload), full_url, 200)

    def urlretrieve(self, url, filename=None, reporthook: Callable | None = None, data=None):
        """``urllib.request.urlretrieve``: writes the sample to ``filename`` (atomically)."""
        payload = self._payload(url)
        if filename is None:
            handle, filename = tempfile.mkstemp(suffix="-" + served_name(url))
            os.close(handle)
        _write_atomic(os.fspath(filename), payload)
        if reporthook is not None:
            reporthook(0, len(payload), len(payload))
            reporthook(1, len(payload), len(payload))
        return filename, _headers(payload)


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _headers(payload: bytes) -> email.message.Message:
    headers = email.message.Message()
    headers["Content-Length"] = str(len(payload))
    headers["Content-Type"] = "application/octet-stream"
    return headers


def _write_atomic(path: str, payload: bytes) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    handle, temp = tempfile.mkstemp(prefix=".download-", dir=directory)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def _patch_six(urlopen: Callable, urlretrieve: Callable) -> None:
    # six.moves resolves names lazily and caches them on the instance; an
    # instance attribute wins over its lazy descriptor either way.
    try:
        import six.moves.urllib.request as six_request
    except ImportError:
        return
    six_request.urlopen = urlopen
    six_request.urlretrieve = urlretrieve
