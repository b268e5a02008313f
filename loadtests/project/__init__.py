"""A Django project the lab did not write, measured unchanged: found (``discover``), given an
environment of its own (``environment``), readied under the lab's settings (``shim``, with the
package ``django_async_lab`` that runs inside it) and served (``servers``) on the routes it
declares or Django names (``routes``), each checked once before any load (``preflight``)."""
