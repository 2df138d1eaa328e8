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
from deconv.core.reverse_plan import WHOLE_MAPS
from deconv.core.reverse_plan import ReversePlan
from deconv.core.rules.base import switches_key
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
      relu_rule: the ReLU rule, `"deconvnet"` or `"guided"`.
      input_shape: the model's input shape, without the batch.
    """

    def __init__(self, steps, preprocessing, relu_rule, input_shape=(None, None, 3)):
        self.steps, self.preprocessing, self.relu_rule = steps, preprocessing, relu_rule
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
            self.steps, name, self.relu_rule))

    def forward_model(self, name):
        """The forward model, with switches, from RGB images to `name` and what its reverse
        needs."""
        outputs = [name] + [key for key in self.deconv_inputs(name) if key != name]
        return self._cached(("forward", name), lambda: build.forward_model(
            self.forward_graph(True), outputs, f"forward_switches_{name}"))

    def deconv_model(self, name):
        """The functional deconv model from a signal at `name` to RGB pixel space."""
        return self._cached(("deconv", name), lambda: build.build_deconv(
            self.steps, name, self.preprocessing.name, self.relu_rule,
            self.forward_graph(True)[1]))

    def window_forward_model(self, name, plan=ReversePlan.window_to_pixels()):
        """The forward model, with switches, outputting what the windowed reverse of `name` on
        a chain reads (and, where `plan` hands over to whole maps, what the deconv model of
        that step reads)."""
        keys = build.window_inputs(self.steps, self._index(name), self.relu_rule)
        lower = plan.whole_maps_from
        if lower is not None:
            keys += [key for key in self.deconv_inputs(self.steps[lower].name)
                     if key not in keys]
        outputs = [name] + [key for key in keys if key != name]
        return self._cached(("window_forward", name, lower), lambda: build.forward_model(
            self.forward_graph(True), outputs, f"forward_window_{name}"))

    def activation_model(self, names):
        """A plain forward model (Keras's own max-pooling, no switches) outputting `names`."""
        names = tuple(names)
        return self._cached(("activations", names), lambda: build.forward_model(
            self.forward_graph(False), names, "forward"))

    # How the reverse runs: in windows, over whole maps, or the one, then the other.

    def window_plan(self, name, image_size, limit=WINDOW_AREA_LIMIT):
        """Where projecting one activation of `name` in images of `image_size` leaves its
        receptive-field window for whole maps. On a chain: a `ReversePlan`
        (`window.chain_plan`). On a graph: the `graph_window.Plan`, or None for no window."""
        if not self.chain:
            return self._cached(("graph_plan", name, tuple(image_size), limit), lambda: (
                graph_window.plan(self.steps, name, tuple(image_size), limit)))
        return window_lib.chain_plan(self.steps, self._index(name), tuple(image_size), limit)

    def reverse_plan(self, name, windowed, image_size, mode="activation"):
        """`windowed` ("auto": windows where they pay, True: wherever the rules allow, False)
        as the `ReversePlan` to run: `WHOLE_MAPS` always for whole maps (mode "maps": they
        have no window), where windows do not apply or, with "auto", do not pay."""
        if windowed not in WINDOWED:
            raise DeconvError(f"windowed must be 'auto', True or False; received {windowed!r}.")
        if mode != "activation":
            if windowed is True:
                raise DeconvError("windowed projection needs mode 'activation': whole maps have "
                                  "no window.")
            return WHOLE_MAPS
        if windowed is False:
            return WHOLE_MAPS
        if not self.chain:
            choice = ReversePlan.graph_windows(image_size, GRAPH_WINDOW_AREA_LIMIT
                                               if windowed == "auto" else float("inf"))
            plan = self.window_plan(name, choice.image_size, choice.limit)
            pays = plan is not None and graph_window.pays(self.steps, plan, windowed)
            return choice if pays else WHOLE_MAPS
        if windowed == "auto":
            return self.window_plan(name, image_size)
        return ReversePlan.window_to_pixels()

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

    def windowed_graph(self, name, groups=False, plan=ReversePlan.window_to_pixels()):
        """The windowed counterpart of `projection_graph(name)` (mode "activation") on a
        chain; with `groups`, the selections name their images (`WindowedProjection`). Steps
        from `plan.whole_maps_from` down, if it is set, are reversed over whole maps (see
        `window_plan`)."""
        index = self._index(name)
        lower = plan.whole_maps_from
        if not plan.windowed or plan.on_graph or not (lower is None or 0 <= lower < index):
            raise DeconvError(f"A windowed reverse of {name!r} on a chain hands over to whole "
                              f"maps at a step below it (0 to {index - 1}) or none; received "
                              f"{plan}.")
        whole = None
        if lower is not None:
            keys = self.deconv_inputs(self.steps[lower].name)
            whole = (lower, self.deconv_model(self.steps[lower].name), keys,
                     self._prepool_of(keys))
        return window_lib.WindowedProjection(
            self.steps[:index + 1], self.window_forward_model(name, plan),
            self.preprocessing.name, self.relu_rule, groups, whole)

    def graph_windowed_graph(self, name, reverse_plan):
        """`(images, sources, features, positions) -> (reconstructions, values, positions)` on
        a graph, reversed in windows as `window_plan(name, image_size, limit)` says for the
        `reverse_plan`'s (see `graph_window.GraphWindowedProjection`)."""
        plan = self.window_plan(name, reverse_plan.image_size, reverse_plan.limit)
        if plan is None:
            raise DeconvError(f"Layer {name!r} has no window at {reverse_plan.image_size}.")
        full = None
        keys = graph_window.window_needs(self.steps, plan, self.relu_rule)
        if plan.boundary:
            full_keys = self.deconv_inputs(plan.boundary)
            full = (self.deconv_model(plan.boundary), full_keys, self._prepool_of(full_keys))
            keys += [key for key in full_keys if key not in keys]
        outputs = [name] + [key for key in keys if key != name]
        forward = self._cached(("graph_window_forward", name, tuple(outputs)), lambda: (
            build.forward_model(self.forward_graph(True), outputs, f"forward_window_{name}")))
        return graph_window.GraphWindowedProjection(self.steps, plan, forward, full,
                                                    self.preprocessing.name, self.relu_rule)

    # Compiled callables, what the `Deconvnet` methods run.

    def activations_fn(self, name):
        """`activations_graph(name)`, compiled."""
        return self._cached(("activations_fn", name), lambda: tf.function(
            self.activations_graph(name), input_signature=[compiled.IMAGES]))

    def project_fn(self, name, mode, plan=WHOLE_MAPS):
        """A projection of mode `mode` ("activation", "maps", "ranges"), one selection per
        image, its reverse run as the `ReversePlan` `plan` says (see `reverse_plan`)."""
        specs = [compiled.IMAGES, *compiled.SELECTIONS[mode][1]]
        if plan.on_graph:
            return self._cached(("project_fn", name, mode, plan), lambda: (
                compiled.CompileOnReuse(compiled.PerImage(self.graph_windowed_graph(
                    name, plan)), [compiled.images_spec(size=plan.image_size), *specs[1:]],
                    self.eager_first)))
        return self._cached(("project_fn", name, mode, plan), lambda: (
            compiled.CompileOnReuse(self.windowed_graph(name, plan=plan) if plan.windowed
                                    else self.projection_graph(name, mode), specs,
                                    self.eager_first)))

    def project_groups_fn(self, name, plan=WHOLE_MAPS, mode="activation"):
        """Like `project_fn`, each selection naming its image: `(images, sources, *selection)`;
        the images are forwarded once, in one batch, however many selections each has."""
        specs = [compiled.IMAGES, compiled.SOURCES, *compiled.SELECTIONS[mode][1]]
        if plan.on_graph:
            return self._cached(("project_groups_fn", name, plan), lambda: (
                compiled.CompileOnReuse(self.graph_windowed_graph(name, plan), [
                    compiled.images_spec(size=plan.image_size), *specs[1:]],
                    self.eager_first)))
        if plan.windowed:
            return self._cached(("project_groups_fn", name, plan), lambda: (
                compiled.CompileOnReuse(self.windowed_graph(name, groups=True, plan=plan),
                                        specs, self.eager_first)))
        keys = self.deconv_inputs(name)
        return self._cached(("project_groups_fn", name, plan, mode), lambda: (
            compiled.CompileOnReuse(compiled.ProjectGroups(
                self.forward_model(name), self.deconv_model(name), name, keys,
                self._prepool_of(keys), compiled.SELECTIONS[mode][0]), specs,
                self.eager_first)))
