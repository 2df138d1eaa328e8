"""deconv: what the features of a trained CNN respond to, projected back to pixel space.

A deconvnet (Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014,
arXiv 1311.2901) attached to any Keras CNN: every model of keras.applications (VGG, ResNet,
Inception, EfficientNet, ConvNeXt, ...) or a user's functional or Sequential Keras model.

    import deconv
    model = deconv.load_model("vgg19", weights="imagenet")
    net = deconv.Deconvnet(model)
    reconstruction = net.project(images, "conv4_4", feature=350)
    box = deconv.receptive_field(net, "conv4_4", position, image_size=(224, 224))

The analyses share one call shape, `(net, layer, inputs, *, options) -> result`:

    deconv.occlude(net, "conv5_4", image, occluder=deconv.Occluder(50, 8, "gray"))
    deconv.layer_ranges(net, ["conv3_3", "conv5_1"], image, maps=0.2, activations=9)
    deconv.maximize_maps(net, "conv4_4", [350], schedule=deconv.Schedule(rounds=6))
    deconv.maximize_maps(net, "predictions", [281], schedule=deconv.Optimization("fourier"))
    deconv.class_maps(net, "conv5_4", "data/train", per_image=25, per_class=25)
    deconv.top_maps(net, "conv5_4", image, top=16)
    deconv.feature_evolution(net, "conv5_3", "data/train", checkpoints="ckpt/", features=[3, 40])
    deconv.invariance_curves(net, ["conv1_2", "conv5_3"], images,
                             transform=deconv.Transform("rotate"))
    deconv.part_correspondence(net, ["conv5_3"], images, parts=[{"nose": (130, 90, 170, 140)}])
    deconv.sanity_check(net, "predictions", images, settings=deconv.SanitySettings(seed=0))
    deconv.measure_image_dependence(net, "block4c_add", images, feature=10)

The unit atlas (`python -m deconv.atlas`) of chosen layers over image files:

    layers = deconv.choose_layers(net, "all", deconv.AtlasSettings(top=9))
    deconv.build_atlas(net, paths, "photos/", layers, "atlas/", deconv.AtlasSettings(top=9))

Their names differ from the commands' modules (`python -m deconv.maximize` and the like), which
would shadow them once imported. The public names are imported on first use, so `python -m
deconv.<command>` can quiet TensorFlow's start-up logging before TensorFlow loads; importing
`deconv` has no side effects.
"""
import importlib

_EXPORTS = {
    # The engine.
    "Deconvnet": "deconv.core.deconvnet",
    "Projection": "deconv.core.projection",
    "receptive_field": "deconv.core.receptive_field",
    "DeconvError": "deconv.errors",
    # Models and pictures.
    "load_model": "deconv.models.loading",
    "load_classifier": "deconv.models.loading",
    "to_uint8": "deconv.io.render",
    "Reading": "deconv.io.streaming",
    # Analyses.
    "occlude": "deconv.analysis.occlusion",
    "Occluder": "deconv.analysis.occlusion",
    "Occlusion": "deconv.analysis.occlusion",
    "layer_ranges": "deconv.analysis.ranges",
    "layer_frames": "deconv.analysis.ranges",
    "LayerRange": "deconv.analysis.ranges",
    "maximize_maps": "deconv.analysis.maximization",
    "ActivationMaximizer": "deconv.analysis.maximization",
    "Schedule": "deconv.analysis.maximization",
    "Maximization": "deconv.analysis.maximization",
    "FeatureVisualizer": "deconv.analysis.maximization_steps",
    "Optimization": "deconv.analysis.maximization_steps",
    "Robustness": "deconv.analysis.maximization_transforms",
    "Crops": "deconv.analysis.maximization_transforms",
    "Judge": "deconv.analysis.maximization_quality",
    "natural_top": "deconv.analysis.maximization_quality",
    "class_maps": "deconv.analysis.class_maps",
    "ClassMaps": "deconv.analysis.class_maps",
    "class_scores": "deconv.analysis.class_maps",
    "ClassScores": "deconv.analysis.class_maps",
    "top_maps": "deconv.analysis.overlays",
    "TopMaps": "deconv.analysis.overlays",
    "map_sums": "deconv.analysis.overlays",
    "FolderMaps": "deconv.analysis.overlays",
    "feature_evolution": "deconv.analysis.evolution",
    "Evolution": "deconv.analysis.evolution",
    "EvolutionCallback": "deconv.analysis.evolution_callback",
    "invariance_curves": "deconv.analysis.invariance",
    "Invariance": "deconv.analysis.invariance",
    "Transform": "deconv.analysis.invariance",
    "part_correspondence": "deconv.analysis.correspondence",
    "Correspondence": "deconv.analysis.correspondence",
    "sanity_check": "deconv.analysis.sanity",
    "SanitySettings": "deconv.analysis.sanity",
    "SanityReport": "deconv.analysis.sanity",
    "measure_image_dependence": "deconv.analysis.measured_dependence",
    "MeasuredDependence": "deconv.analysis.measured_dependence",
    # The unit atlas.
    "build_atlas": "deconv.unit_atlas.build",
    "choose_layers": "deconv.unit_atlas.build",
    "AtlasSettings": "deconv.unit_atlas.build",
    "AtlasOutcome": "deconv.unit_atlas.build",
    # Export.
    "export_saved_model": "deconv.saved_models.saved_model",
}

__all__ = sorted(_EXPORTS)
__version__ = "0.1.0"


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'deconv' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *__all__])
