"""The live explorer (`python -m deconv.serve`): `live` (the computations, framework-free),
`occlusion_jobs`, `atlas_folder`, and the web server (`app`, `routes`; FastAPI, an optional
extra) with its page in `static/`."""
