"""MUSHRA listening tests (ITU-R BS.1534-3) in webMUSHRA's formats: build tests from bench runs, serve them
(Flask/waitress), store results durably (SQLite), screen assessors and summarise scores.

Modules: config (YAML model), build (stimuli from a run), app (server), validate (submissions), storage
(SQLite), screening / stats / analysis (results), cli (``bench mushra ...``), testing (synthetic fixtures).
"""
