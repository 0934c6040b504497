"""Portability: each state's scheme rules and the agreements between states, as pure data.

``formula`` evaluates the benefit-formula vocabulary in ``Decimal``; ``rules`` checks a
``pel-rules/v1`` table and resolves a parameter at a date; ``agreements`` checks that
every party signed an agreement and says when it is in force. The shipped tables of the
ten ASEAN states are in ``tables/``.
"""
