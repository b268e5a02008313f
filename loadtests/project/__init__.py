"""A Django project the lab did not write, measured unchanged: found (``discover``), given an
environment of its own (``environment``), served under the lab's settings shim (``shim``,
``servers``) on the routes it declares (``routes``), each checked once before any load
(``preflight``)."""
