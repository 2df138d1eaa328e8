"""Using a deconvnet outside Python scripts: SavedModel export (`saved_model`) and the live
explorer's web server (`live`, `app`, `routes`; FastAPI, an optional extra)."""
