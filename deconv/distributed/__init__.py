"""The distributed engine: a dataset sweep and the unit atlas's pass 1 as Apache Beam pipelines,
which run on the DirectRunner (several local processes) and unchanged on Flink, Spark or Dataflow.

Only `--engine beam` imports this room (Beam is the optional `beam` extra). `spec` says how each
worker rebuilds the network (never a pickled model) and how the image list is cut into shards;
`pipeline` holds the Beam transforms; `sweeps` and `atlas` drive them and write the same files as
the local engine, through the same functions.
"""
