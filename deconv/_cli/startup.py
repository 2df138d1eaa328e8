"""Quiet start-up: TensorFlow loaded with standard error captured, every line passed on but the
known start-up noise. TensorFlow's C++ side prints start-up lines on every run (oneDNN notices,
CUDA probing on machines without a GPU) that its TF_CPP_MIN_LOG_LEVEL no longer silences. With
`-v`/`--verbosity` on the command line, nothing is filtered. `deconv._cli` calls
`load_tensorflow_quietly` before anything it imports loads TensorFlow."""
import os
import re
import sys
import tempfile

from deconv._cli.signals import STATE

_STARTUP_NOISE = re.compile(
    r"All log messages before absl::InitializeLog|oneDNN custom operations are on|"
    r"Could not find cuda drivers|failed call to cuInit|This TensorFlow binary is optimized|"
    r"To enable the following instructions|Unable to register cu(DNN|FFT|BLAS) factory|"
    r"TF-TRT Warning|computation placer already registered|cuda_platform|cudart_stub")


def load_tensorflow_quietly():
    """Imports TensorFlow (unless it is loaded already or `-v` is given) with fd 2 captured,
    then prints the captured lines that are not start-up noise. A signal meanwhile still
    reaches the terminal in one line (`STATE["stderr"]`)."""
    if "tensorflow" in sys.modules or any(
            arg == "-v" or arg.startswith(("--verbosity", "-v=")) for arg in sys.argv[1:]):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # older TensorFlow releases honour it
    sys.stderr.flush()
    saved = os.dup(2)
    STATE["stderr"] = saved
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf
            tf.config.list_physical_devices()  # device probing prints its lines now
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            STATE["stderr"] = 2
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                if line.strip() and not _STARTUP_NOISE.search(line):
                    print(line, file=sys.stderr)
