"""`GraphBuilder`: the Keras models and compiled graph functions of one `Deconvnet`, each built
once, on first use, and cached.

The forward graph is the caller's own layers called on a new input (the same variables, never
copies), once with Keras's max-pooling and once with `ArgmaxPool` recording switches. Per
target layer it cuts out forward models, builds the functional deconv model, the windowed
reverse (`deconv.core.window`, for chains of layers) and their compiled callables
(`deconv.core.compiled`).
"""
import tensorflow as tf

from deconv.core import build
from deconv.core import compiled
from deconv.core import graph
from deconv.core import graph_window
from deconv.core import window as window_lib
from deconv.core.chain_rules import switches_key
from deconv.errors import DeconvError

# A window costs gathers besides its convolutions: it pays while it covers less than about this
# share of its maps, and hands over to the full reverse pass where it grows past it (VGG19 at
# 224x224, batch 8: conv5_4's reverse windowed down to pool3's output, 86 % of its maps, then
# full, was 0.72x the full reverse; windowed all the way, 1.07-1.12x).
WINDOW_AREA_LIMIT = 0.8
GRAPH_WINDOW_AREA_LIMIT = 0.8
WINDOWED = ("auto", True, False)


class GraphBuilder:
    """Builds and caches what a `Deconvnet` runs. Layer names given here are Keras names.

    Args:
      steps: the model's steps (`deconv.core.graph.read_model`).
      preprocessing: the `Preprocessing` applied first.
      rule: the ReLU reverse rule.
      input_shape: the model's input shape, without the batch.
    """

    def __init__(self, steps, preprocessing, rule, input_shape=(None, None, 3)):
        self.steps, self.preprocessing, self.rule = steps, preprocessing, rule
        self.input_shape = tuple(input_shape)
        self.chain = graph.is_chain(steps)  # the windowed reverse serves chains only
        # Grouped convolutions run as XLA functions compiled at each eager call (Keras on the
        # CPU): graphs with them are compiled from their first call (see `CompileOnReuse`).
        self.eager_first = not any(getattr(step.layer, "groups", 1) > 1 for step in steps)
        self._names = [step.name for step in steps]
        self._graphs = {}
        self._cache = {}

    def _cached(self, key, build):
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def cached(self, key, build):
        """`build()`'s value, built once per hashable `key` for this net: where the other rooms
        keep the compiled functions they make of it (so a second pass does not trace again)."""
        return self._cached(("caller", key), build)

    def _index(self, name):
        return self._names.index(name)

    def forward_graph(self, with_switches):
        """`(images, {key: KerasTensor})` of every step (see `build.forward_graph`)."""
        if with_switches not in self._graphs:
            self._graphs[with_switches] = build.forward_graph(
                self.steps, self.preprocessing.name, with_switches, self.input_shape)
        return self._graphs[with_switches]

    def _prepool_of(self, keys):
        """`{switches key: pre-pool tensor key}` for the switches among `keys`."""
        return {switches_key(step.name): step.input_key for step in self.steps
                if switches_key(step.name) in keys}

    # Keras models.

    def deconv_inputs(self, name):
        """The keys of the forward tensors that `name`'s deconv model reads."""
        return self._cached(("deconv_inputs", name), lambda: build.deconv_inputs(
            self.steps, name, self.rule, self.forward_graph(True)[1]))

    def forward_model(self, name):
        """The forward model, with switches, from RGB images to `name` and what its reverse
        needs."""
        outputs = [name] + [key for key in self.deconv_inputs(name) if key != name]
        return self._cached(("forward", name), lambda: build.forward_model(
            self.forward_graph(True), outputs, f"forward_switches_{name}"))

    def deconv_model(self, name):
        """The functional deconv model from a signal at `name` to RGB pixel space."""
        return self._cached(("deconv", name), lambda: build.build_deconv(
            self.steps, name, self.preprocessing.name, self.rule, self.forward_graph(True)[1]))

    def window_forward_model(self, name, full_from=-1):
        """The forward model, with switches, outputting what the windowed reverse of `name`
        reads (and, with `full_from` >= 0, what the deconv model of `steps[full_from]` reads)."""
        keys = build.window_inputs(self.steps, self._index(name), self.rule)
        if full_from >= 0:
            keys += [key for key in self.deconv_inputs(self.steps[full_from].name)
                     if key not in keys]
        outputs = [name] + [key for key in keys if key != name]
        return self._cached(("window_forward", name, full_from), lambda: build.forward_model(
            self.forward_graph(True), outputs, f"forward_window_{name}"))

    def activation_model(self, names):
        """A plain forward model (Keras's own max-pooling, no switches) outputting `names`."""
        names = tuple(names)
        return self._cached(("activations", names), lambda: build.forward_model(
            self.forward_graph(False), names, "forward"))

    # Where the windowed reverse hands over to the full one.

    def window_plan(self, name, image_size, limit=WINDOW_AREA_LIMIT):
        """Where projecting one activation of `name` in images of `image_size` leaves its
        receptive-field window for the full reverse pass. On a chain: the index of the first
        step reversed over whole maps; -1 for the window all the way down; the layer's own
        index for no window. On a graph: the `graph_window.Plan`, or None for no window."""
        if not self.chain:
            return self._cached(("graph_plan", name, tuple(image_size), limit), lambda: (
                graph_window.plan(self.steps, name, tuple(image_size), limit)))
        return window_lib.full_from(self.steps, self._index(name), tuple(image_size), limit)

    def full_from(self, name, windowed, image_size, mode="activation"):
        """`windowed` ("auto": windows where they pay, True: wherever the rules allow, False)
        as the reverse to run: None for the full reverse pass (always, for whole maps: they
        have no window); on a chain, a `windowed_graph` hand-over step; on a graph, a
        `graph_window.Choice` (or None where no window applies)."""
        if windowed not in WINDOWED:
            raise DeconvError(f"windowed must be 'auto', True or False; received {windowed!r}.")
        if mode != "activation":
            if windowed is True:
                raise DeconvError("windowed projection needs mode 'activation': whole maps have "
                                  "no window.")
            return None
        if windowed is False:
            return None
        if not self.chain:
            choice = graph_window.Choice(tuple(int(side) for side in image_size),
                                         GRAPH_WINDOW_AREA_LIMIT if windowed == "auto"
                                         else float("inf"))
            plan = self.window_plan(name, choice.image_size, choice.limit)
            pays = plan is not None and graph_window.pays(self.steps, plan, windowed)
            return choice if pays else None
        if windowed == "auto":
            full_from = self.window_plan(name, image_size)
            return None if full_from >= self._index(name) else full_from
        return -1

    # Graph functions, uncompiled (to compile or export).

    def activations_graph(self, name):
        """`images (float, [0, 255]) -> activations` of `name`."""
        return compiled.Activations(self.activation_model([name]), name)

    def projection_graph(self, name, mode="activation"):
        """`(images, *selection) -> (reconstructions, values, positions)` over whole maps.

        The selection is `(features (N,) int32, positions (N, 2) int32)`, `(-1, -1)` for a map's
        maximum, in mode "activation"; a channel mask `(C,)` float32 in mode "maps".
        """
        return compiled.Project(self.forward_model(name), self.deconv_model(name), name,
                                self.deconv_inputs(name), mode)

    def windowed_graph(self, name, groups=False, full_from=-1):
        """The windowed counterpart of `projection_graph(name)` (mode "activation") on a
        chain; with `groups`, the selections name their images (`WindowedProjection`). Steps
        `full_from` and below (if >= 0) are reversed over whole maps (see `window_plan`)."""
        index = self._index(name)
        if not -1 <= full_from < index:
            raise DeconvError(f"full_from must be -1 or a step below {name!r} (0 to "
                              f"{index - 1}); received {full_from}.")
        lower = None
        if full_from >= 0:
            keys = self.deconv_inputs(self.steps[full_from].name)
            lower = (full_from, self.deconv_model(self.steps[full_from].name), keys,
                     self._prepool_of(keys))
        return window_lib.WindowedProjection(
            self.steps[:index + 1], self.window_forward_model(name, full_from),
            self.preprocessing.name, self.rule, groups, lower)

    def graph_windowed_graph(self, name, choice):
        """`(images, sources, features, positions) -> (reconstructions, values, positions)` on
        a graph, reversed in windows as `window_plan(name, *choice)` says (see
        `graph_window.GraphWindowedProjection`)."""
        plan = self.window_plan(name, choice.image_size, choice.limit)
        if plan is None:
            raise DeconvError(f"Layer {name!r} has no window at {choice.image_size}.")
        full = None
        keys = graph_window.window_needs(self.steps, plan, self.rule)
        if plan.boundary:
            full_keys = self.deconv_inputs(plan.boundary)
            full = (self.deconv_model(plan.boundary), full_keys, self._prepool_of(full_keys))
            keys += [key for key in full_keys if key not in keys]
        outputs = [name] + [key for key in keys if key != name]
        forward = self._cached(("graph_window_forward", name, tuple(outputs)), lambda: (
            build.forward_model(self.forward_graph(True), outputs, f"forward_window_{name}")))
        return graph_window.GraphWindowedProjection(self.steps, plan, forward, full,
                                                    self.preprocessing.name, self.rule)

    # Compiled callables, what the `Deconvnet` methods run.

    def activations_fn(self, name):
        """`activations_graph(name)`, compiled."""
        return self._cached(("activations_fn", name), lambda: tf.function(
            self.activations_graph(name), input_signature=[compiled.IMAGES]))

    def project_fn(self, name, mode, full_from=None):
        """A projection of mode `mode` ("activation", "maps", "ranges"), one selection per
        image; windowed as `full_from` says (see `full_from`) unless None."""
        specs = [compiled.IMAGES, *compiled.SELECTIONS[mode][1]]
        if isinstance(full_from, graph_window.Choice):
            return self._cached(("project_fn", name, mode, full_from), lambda: (
                compiled.CompileOnReuse(compiled.PerImage(self.graph_windowed_graph(
                    name, full_from)), [compiled.images_spec(size=full_from.image_size),
                                        *specs[1:]], self.eager_first)))
        return self._cached(("project_fn", name, mode, full_from), lambda: (
            compiled.CompileOnReuse(self.windowed_graph(name, full_from=full_from)
                                    if full_from is not None
                                    else self.projection_graph(name, mode), specs,
                                    self.eager_first)))

    def project_groups_fn(self, name, full_from=None, mode="activation"):
        """Like `project_fn`, each selection naming its image: `(images, sources, *selection)`;
        the images are forwarded once, in one batch, however many selections each has."""
        specs = [compiled.IMAGES, compiled.SOURCES, *compiled.SELECTIONS[mode][1]]
        if isinstance(full_from, graph_window.Choice):
            return self._cached(("project_groups_fn", name, full_from), lambda: (
                compiled.CompileOnReuse(self.graph_windowed_graph(name, full_from), [
                    compiled.images_spec(size=full_from.image_size), *specs[1:]],
                    self.eager_first)))
        if full_from is not None:
            return self._cached(("project_groups_fn", name, full_from), lambda: (
                compiled.CompileOnReuse(self.windowed_graph(name, groups=True,
                                                            full_from=full_from), specs,
                                        self.eager_first)))
        keys = self.deconv_inputs(name)
        return self._cached(("project_groups_fn", name, None, mode), lambda: (
            compiled.CompileOnReuse(compiled.ProjectGroups(
                self.forward_model(name), self.deconv_model(name), name, keys,
                self._prepool_of(keys), compiled.SELECTIONS[mode][0]), specs,
                self.eager_first)))
