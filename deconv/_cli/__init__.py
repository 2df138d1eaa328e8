"""What every command-line module shares, one concern per module: `signals` (Ctrl-C and
SIGTERM in one line, from the first moment), `startup` (TensorFlow loaded quietly), `flags`
(parsed in our error style; the common flags with their ranges), `running` (`run(main)`,
`@one_line_errors`: errors and warnings in one line) and `progress` (the bars). Commands use the
names below, `_cli.run`, `_cli.integer_flag`, ...; the network and its weights are `deconv._net`'s,
`--engine beam` is `deconv._engine`'s.

Import this package before anything that imports TensorFlow (the command-line modules do so
first): it handles Ctrl-C before the slow imports start, then loads TensorFlow quietly.
"""
from deconv._cli import signals

signals.install()  # before the imports below: they take time too

from deconv._cli import startup  # noqa: E402

startup.load_tensorflow_quietly()

from deconv._cli.flags import EXAMPLE_IMAGES  # noqa: E402
from deconv._cli.flags import define_classifier_flags  # noqa: E402
from deconv._cli.flags import define_crop_flag  # noqa: E402
from deconv._cli.flags import define_engine_flags  # noqa: E402
from deconv._cli.flags import define_folder_flags  # noqa: E402
from deconv._cli.flags import define_model_flags  # noqa: E402
from deconv._cli.flags import define_progress_flag  # noqa: E402
from deconv._cli.flags import flag_problem  # noqa: E402
from deconv._cli.flags import float_flag  # noqa: E402
from deconv._cli.flags import integer_flag  # noqa: E402
from deconv._cli.flags import parse_flags  # noqa: E402
from deconv._cli.progress import bar_sequence  # noqa: E402
from deconv._cli.progress import new_bar  # noqa: E402
from deconv._cli.progress import progress_bar  # noqa: E402
from deconv._cli.running import no_arguments  # noqa: E402
from deconv._cli.running import one_image  # noqa: E402
from deconv._cli.running import one_line_errors  # noqa: E402
from deconv._cli.running import run  # noqa: E402

__all__ = ["EXAMPLE_IMAGES", "bar_sequence", "define_classifier_flags",
           "define_crop_flag", "define_engine_flags", "define_folder_flags",
           "define_model_flags", "define_progress_flag", "flag_problem", "float_flag",
           "integer_flag", "new_bar", "no_arguments", "one_image", "one_line_errors",
           "parse_flags", "progress_bar", "run"]
