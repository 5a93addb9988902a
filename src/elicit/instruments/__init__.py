"""Instruments: questionnaire definitions, their items and their expression language."""
