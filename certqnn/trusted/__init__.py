"""The trusted core: everything `verify` needs and nothing else.

Imports numpy, fractions and math only: no solver, no pricing heuristic, no branch and bound.
A certificate is accepted or refused by this package alone.
"""
