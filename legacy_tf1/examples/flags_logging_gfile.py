"""TF1 app skeleton: flags, tf.app.run, tf.logging and tf.gfile (run with legacy_tf1.run)."""

import os

import tensorflow as tf

flags = tf.app.flags
flags.DEFINE_string("out_dir", "flags_example_out", "Where to write the notes.")
tf.flags.DEFINE_integer("num_notes", 5, "How many notes to write.")
FLAGS = flags.FLAGS


def write_notes():
    if not tf.gfile.Exists(FLAGS.out_dir):
        tf.gfile.MakeDirs(FLAGS.out_dir)
    for i in range(FLAGS.num_notes):
        path = os.path.join(FLAGS.out_dir, f"note_{i}.txt")
        with tf.gfile.GFile(path, "w") as f:
            f.write(f"note {i}\n")
        tf.logging.info("wrote %s", path)
    return tf.gfile.Glob(os.path.join(FLAGS.out_dir, "note_*.txt"))


def main(argv):
    tf.logging.set_verbosity(tf.logging.INFO)
    notes = write_notes()
    # Under --cap-loops N the loop above writes min(N, num_notes) notes.
    assert 1 <= len(notes) <= FLAGS.num_notes, notes
    with tf.gfile.GFile(sorted(notes)[0]) as f:
        assert f.read() == "note 0\n"
    tf.logging.info("argv after flag parsing: %s", argv)
    print(f"notes written: {len(notes)}")


if __name__ == "__main__":
    tf.app.run()
