"""The model at the bottom of loadtests: what a load measured, typed, with its own statistics and
serialisation. It imports nothing else of the project's, so everything above may use it."""
