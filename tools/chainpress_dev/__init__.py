"""chainpress_dev: the tooling around the Lambda layer, never shipped in it.

``chainpress build`` / ``chainpress dev`` (``cli``), the folder writer of the static export
(``folder``), the in-memory adapters of every port (``memory``: unit tests, the static build,
benchmarks) and the local stack on moto (``local``). Lambda runs ``chainpress`` (the layer) only.
"""
