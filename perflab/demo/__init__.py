"""Small real targets the shipped profiles measure: sorting, a leaky cache, an HTTP app, a database.

Every demo function honours ``PERFLAB_DEMO_SLOWDOWN`` (see :mod:`perflab.demo.knob`), so anyone can watch a
regression gate catch a slowdown.
"""
